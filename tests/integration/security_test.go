//go:build integration

package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// From inside a default container each of these fails, even as root:
// mount, unshare, loading a kernel module, writing /proc/sys, reading a
// host disk, changing the clock, using ptrace on a process outside.
func TestDefaultConfinement(t *testing.T) {
	script := strings.Join([]string{
		"mkdir -p /mnt; mount -t tmpfs none /mnt 2>/dev/null && echo FAIL-mount",
		"unshare -n true 2>/dev/null && echo FAIL-unshare",
		"echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo FAIL-procsys",
		// busybox date prints the date and exits 0 even when it cannot set it.
		"date -s 2000-01-01 2>&1 | grep -q 'Operation not permitted' || echo FAIL-clock",
		"echo x > /tmp/m.ko; insmod /tmp/m.ko 2>&1 | grep -q 'Operation not permitted' || echo FAIL-insmod",
		"mknod /tmp/sda b 8 0 && head -c1 /tmp/sda >/dev/null 2>&1 && echo FAIL-disk",
		"echo done",
	}, "; ")
	r := mr(t, "run", "--rm", "busybox", "sh", "-c", script)
	if strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stdout, "done") {
		t.Fatalf("a confined operation worked: %q %q", r.stdout, r.stderr)
	}
	// With --privileged, what Docker allows works: mount and unshare.
	r = mr(t, "run", "--rm", "--privileged", "busybox", "sh", "-c", "mkdir -p /mnt && mount -t tmpfs none /mnt && unshare -n true && grep -E 'Seccomp:' /proc/self/status")
	if r.code != 0 || !strings.Contains(r.stdout, "Seccomp:\t0") {
		t.Fatalf("--privileged: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// --cap-drop ALL --cap-add NET_BIND_SERVICE leaves exactly that capability.
func TestCapDropAllAddOne(t *testing.T) {
	out := ok(t, "run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "busybox", "sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(l, "0000000000000400") {
			t.Fatalf("want only CAP_NET_BIND_SERVICE (bit 10): %q", out)
		}
	}
	fails(t, "unknown capability", "run", "--rm", "--cap-add", "CAP_BANANA", "busybox", "true")
}

// A custom seccomp profile that blocks one syscall makes exactly that call
// fail, with the chosen errno; everything else works.
func TestCustomSeccompProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "perfil.json")
	os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdirat","mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}`), 0o644)
	r := mr(t, "run", "--rm", "--security-opt", "seccomp="+prof, "busybox", "sh", "-c", "mkdir /tmp/x; echo ok > /tmp/y && cat /tmp/y")
	if !strings.Contains(r.stderr, "Function not implemented") || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("want mkdir to fail with ENOSYS (38) and the rest to work: %q %q", r.stdout, r.stderr)
	}
	out := ok(t, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status")
	if !strings.Contains(out, "Seccomp:\t0") {
		t.Fatalf("seccomp=unconfined: %q", out)
	}
	out = ok(t, "run", "--rm", "--security-opt", "no-new-privileges:false", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
	if !strings.Contains(out, "NoNewPrivs:\t0") {
		t.Fatalf("no-new-privileges:false: %q", out)
	}
}

func TestReadOnlyAndGroupAdd(t *testing.T) {
	r := mr(t, "run", "--rm", "--read-only", "--group-add", "123", "busybox", "sh", "-c", "touch /x 2>&1; id -G")
	if !strings.Contains(r.stdout, "Read-only file system") || !strings.Contains(r.stdout, "123") {
		t.Fatalf("--read-only --group-add: %q", r.stdout)
	}
}

func TestInfo(t *testing.T) {
	out := ok(t, "info")
	for _, want := range []string{"Kernel:", "Cgroups:", "Seccomp:", "AppArmor:", "SELinux:", "Storage driver:"} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %s", want)
		}
	}
}

// --userns-remap: root in the container is an unprivileged uid on the host
// (checked from the host), and files it creates in a volume belong to it.
func TestUsernsRemap(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "subid")
	os.WriteFile(sub, []byte("aluno:300000:65536\n"), 0o644)
	t.Setenv("MINIRUN_SUBUID", sub)
	t.Setenv("MINIRUN_SUBGID", sub)
	t.Cleanup(func() { mr(t, "volume", "rm", "remapeado") })
	runD(t, "remap", "--userns-remap", "aluno", "-v", "remapeado:/dados", "busybox", "sh", "-c", "id -u > /dados/id; echo x > /dados/criado; sleep 60")
	pid := int(inspect(t, "remap")["State"].(map[string]interface{})["Pid"].(float64))
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if !strings.Contains(string(status), "Uid:\t300000\t300000") {
		t.Fatalf("the container's root is not host uid 300000:\n%s", status)
	}
	var mp string
	for _, m := range inspect(t, "remap")["Mounts"].([]interface{}) {
		mp = m.(map[string]interface{})["Source"].(string)
	}
	eventually(t, "the file in the volume", 5*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(mp, "criado"))
		return err == nil
	})
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(mp, "criado"), &st); err != nil || st.Uid != 300000 {
		t.Fatalf("file created by the container's root belongs to uid %d on the host, want 300000 (%v)", st.Uid, err)
	}
	if b, _ := os.ReadFile(filepath.Join(mp, "id")); strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("inside, the process should still be root: %q", b)
	}
	// exec joins the user namespace too (runtime/forkuserns.go): the same
	// namespaces as the init, root inside, the remapped uid on the host,
	// no signal left blocked by the fork, and the exit code comes back.
	const nss = "for n in user pid net mnt uts ipc cgroup; do readlink /proc/$1/ns/$n; done"
	init := ok(t, "exec", "remap", "sh", "-c", nss, "sh", "1")
	mine := ok(t, "exec", "remap", "sh", "-c", nss+"; id -u; grep SigBlk /proc/self/status; echo y > /dados/pelo-exec", "sh", "self")
	if !strings.HasPrefix(mine, init) || !strings.Contains(init, "user:[") {
		t.Fatalf("exec's namespaces differ from the init's:\n%s\nvs\n%s", mine, init)
	}
	if rest := strings.Fields(strings.TrimPrefix(mine, init)); len(rest) != 3 || rest[0] != "0" || rest[2] != "0000000000000000" {
		t.Fatalf("exec in the user namespace: uid and blocked signals %q, want 0 and none", rest)
	}
	if err := syscall.Stat(filepath.Join(mp, "pelo-exec"), &st); err != nil || st.Uid != 300000 {
		t.Fatalf("file created by exec belongs to uid %d on the host, want 300000 (%v)", st.Uid, err)
	}
	if r := mr(t, "exec", "remap", "sh", "-c", "exit 42"); r.code != 42 {
		t.Fatalf("exec exit %d, want 42", r.code)
	}
	fails(t, "no range for ninguem", "run", "--rm", "--userns-remap", "ninguem", "busybox", "true")
}

// The init of a container with a user namespace executes minirun-init as
// an unprivileged uid of the host. A state root that uid cannot search
// (0700, as an older minirun made /run/minirun) must
// not stop it: the extracted minirun-init is out of its reach there, so it
// runs from a sealed memfd. In the cgroup v2 VM, where a shim had made the
// state root 0700, run and exec failed with "fork/exec
// ROOT/.init/minirun-init-…: permission denied".
func TestUsernsInitWithClosedStateRoot(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "subid")
	os.WriteFile(sub, []byte("aluno:300000:65536\n"), 0o644)
	t.Setenv("MINIRUN_SUBUID", sub)
	t.Setenv("MINIRUN_SUBGID", sub)
	closed := filepath.Join(t.TempDir(), "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	at := func(args ...string) result { return mr(t, append([]string{"--root", closed}, args...)...) }
	if r := at("run", "--rm", "--userns-remap", "aluno", "busybox", "id", "-u"); r.code != 0 || strings.TrimSpace(r.stdout) != "0" {
		t.Fatalf("run --rm --userns-remap with a 0700 state root: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r := at("run", "-d", "--name", "closedroot", "--userns-remap", "aluno", "busybox", "sleep", "60")
	t.Cleanup(func() { at("rm", "-f", "closedroot") })
	if r.code != 0 {
		t.Fatalf("run -d: exit %d %s", r.code, r.stderr)
	}
	if r := at("exec", "closedroot", "id", "-u"); r.code != 0 || strings.TrimSpace(r.stdout) != "0" {
		t.Fatalf("exec: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// A state root minirun makes itself is 0711, whichever path makes it
	// first (here the shim's sockets, which made it 0700).
	base := t.TempDir()
	os.Chmod(base, 0o711)
	fresh := filepath.Join(base, "run")
	if r := mr(t, "--root", fresh, "run", "--rm", "busybox", "true"); r.code != 0 {
		t.Fatalf("run with a new state root: exit %d %s", r.code, r.stderr)
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o711 {
		t.Fatalf("the new state root %s: %v %v, want 0711", fresh, st.Mode(), err)
	}
}

// 4294967295 is (uid_t)-1: setresuid(2) reads it as "keep the current
// uid", so a container asked to run as it ran as root (issue #13). Every
// way in is refused with Docker's words, before anything is left behind.
func TestUidOutOfRange(t *testing.T) {
	before := listDir(t, filepath.Join(dataRoot, "containers"))
	for _, args := range [][]string{
		{"-u", "4294967295"},
		{"-u", ":4294967295"},
		{"-u", "0:4294967295"},
		{"-u", "2147483648"},
		{"-u", "-1"},
		{"-u", "99999999999999999999"},
		{"--group-add", "4294967295"},
	} {
		run := append(append([]string{"run", "--rm"}, args...), "busybox", "id")
		fails(t, "uids and gids must be in range 0-2147483647", run...)
	}
	if after := listDir(t, filepath.Join(dataRoot, "containers")); len(after) != len(before) {
		t.Fatalf("a refused run left %v (before %v)", after, before)
	}
	// The OCI path: process.user in config.json.
	for name, edit := range map[string]func(*specs.Spec){
		"uid":            func(s *specs.Spec) { s.Process.User.UID = 4294967295 },
		"gid":            func(s *specs.Spec) { s.Process.User.GID = 4294967295 },
		"additionalGids": func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{4294967295} },
	} {
		dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"id"}; edit(s) })
		fails(t, "process.user."+name+" 4294967295: uids and gids must be in range 0-2147483647", "run", "--bundle", dir, "uidrange1")
	}
	if ents := listDir(t, stateRoot); len(ents) != 0 {
		t.Fatalf("a refused create left state: %v", ents)
	}
}

// CVE-2021-41091: a container makes a setuid-root program in its upper
// dir; a host user who reads the path in /proc/self/mountinfo must not be
// able to reach it, through diff/ or merged/. A data root left open by an
// older minirun (0711) is closed by the next command.
func TestLayersClosedToHostUsers(t *testing.T) {
	shared := []string{dataRoot, filepath.Join(dataRoot, "containers")}
	ok(t, "ps", "-a") // makes containers/ on a fresh data root
	for _, d := range shared {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	runD(t, "suid41091", "busybox", "sh", "-c", "cp /bin/busybox /suid && chmod 4755 /suid && touch /pronto && sleep 60")
	for _, d := range shared {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s: %v %v; want no access for others", d, fi.Mode(), err)
		}
	}
	gd := inspect(t, "suid41091")["GraphDriver"].(map[string]interface{})["Data"].(map[string]interface{})
	upper, merged := gd["UpperDir"].(string), gd["MergedDir"].(string)
	eventually(t, "the container's setuid file", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(upper, "pronto"))
		return err == nil
	})
	for _, p := range []string{filepath.Join(upper, "suid"), filepath.Join(merged, "suid")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&os.ModeSetuid == 0 {
			t.Fatalf("%s: %v %v; want a setuid file (seen as root)", p, fi, err)
		}
		// Credentials set by the forked child before execve, with no
		// capability left (setpriv(1) would exec still holding root's
		// capabilities, and reach the file).
		for _, args := range [][]string{{"stat", p}, {p, "id", "-u"}} {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
			out, err := cmd.CombinedOutput()
			if !errors.Is(err, syscall.EACCES) && !strings.Contains(string(out), "Permission denied") {
				t.Errorf("as uid 65534, %v: %v %q; want EACCES", args, err, out)
			}
		}
	}
}
