//go:build integration

package integration

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Each namespace the container gets is new: its inode differs from the
// host's (namespaces(7): two processes share a namespace exactly when the
// inodes of /proc/PID/ns/X match).
func TestNamespacesAreNew(t *testing.T) {
	out := ok(t, "run", "--rm", "busybox", "sh", "-c", "for n in pid net mnt uts ipc cgroup; do echo $n $(readlink /proc/self/ns/$n); done")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %q", out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		host, err := os.Readlink("/proc/self/ns/" + f[0])
		if err != nil {
			t.Fatal(err)
		}
		if f[1] == host {
			t.Errorf("namespace %s is the host's (%s)", f[0], host)
		}
	}
}

func TestPID1AndHostname(t *testing.T) {
	out := ok(t, "run", "--rm", "-h", "aula", "busybox", "sh", "-c", "echo $$ $(hostname); cat /proc/1/cmdline | tr '\\0' ' '")
	if !strings.HasPrefix(out, "1 aula\n") {
		t.Fatalf("want pid 1 and hostname aula, got %q", out)
	}
	hn, _ := os.Hostname()
	if hn == "aula" {
		t.Fatal("the host's hostname changed")
	}
	// Without -h the hostname is the short id, as in Docker.
	out = ok(t, "run", "--name", "hn", "busybox", "hostname")
	rmAtEnd(t, "hn")
	id := inspect(t, "hn")["Id"].(string)
	if strings.TrimSpace(out) != id[:12] {
		t.Fatalf("hostname %q, want %q", out, id[:12])
	}
}

func TestOnlyLoopback(t *testing.T) {
	out := ok(t, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok")
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "lo" || f[2] != "ping-ok" {
		t.Fatalf("want only lo, up and answering: %q", out)
	}
	if f[1] != "0x9" { // IFF_UP|IFF_LOOPBACK
		t.Fatalf("lo flags %s, want 0x9 (up)", f[1])
	}
}

func TestHostFilesInvisible(t *testing.T) {
	marker := filepath.Join("/", "minirun-host-marker-"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.WriteFile(marker, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(marker)
	r := mr(t, "run", "--rm", "busybox", "sh", "-c", "ls "+marker+"; ls /; cat /proc/self/mountinfo | wc -l")
	if r.code != 0 {
		// ls fails: exit code of the last command is what counts.
	}
	if strings.Contains(r.stdout, "minirun-host-marker") {
		t.Fatalf("the host's file is visible in the container: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "No such file") && !strings.Contains(r.stdout+r.stderr, "can't access") {
		t.Fatalf("want ls of the host file to fail: %q %q", r.stdout, r.stderr)
	}
}

func TestWriteGoesToUpperDirAndWhiteout(t *testing.T) {
	ok(t, "run", "--name", "cow", "busybox", "sh", "-c", "echo novo > /arquivo; rm /bin/vi")
	rmAtEnd(t, "cow")
	gd := inspect(t, "cow")["GraphDriver"].(map[string]interface{})["Data"].(map[string]interface{})
	upper, lower := gd["UpperDir"].(string), strings.Split(gd["LowerDir"].(string), ":")
	if b, err := os.ReadFile(filepath.Join(upper, "arquivo")); err != nil || string(b) != "novo\n" {
		t.Fatalf("the write is not in the upper dir %s: %v %q", upper, err, b)
	}
	for _, l := range lower {
		if _, err := os.Stat(filepath.Join(l, "arquivo")); err == nil {
			t.Fatalf("the write reached the lower layer %s", l)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "bin/vi"), &st); err != nil {
		t.Fatalf("no whiteout for /bin/vi: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("bin/vi in upper dir is not a 0/0 character device (mode %o rdev %d)", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(lower[len(lower)-1], "bin/vi")); err != nil {
		t.Fatalf("the lower layer lost bin/vi: %v", err)
	}
	// After exit the overlay is unmounted but the upper dir is kept.
	if mounted(gd["MergedDir"].(string)) {
		t.Fatal("merged dir still mounted after the container exited")
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"sh", "-c", "exit 42"}, 42, ""},
		{[]string{"nao-existe"}, 127, "executable file not found"},
		{[]string{"/etc/passwd"}, 126, "permission denied"},
	}
	for _, c := range cases {
		r := mr(t, append([]string{"run", "--rm", "busybox"}, c.args...)...)
		if r.code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, r.code, c.code, r.stderr)
		}
		if c.msg != "" && !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: stderr %q, want %q", c.args, r.stderr, c.msg)
		}
	}
}

func TestRunRmLeavesNothing(t *testing.T) {
	beforeDirs := listDir(t, filepath.Join(dataRoot, "containers"))
	ok(t, "run", "--rm", "--name", "efemero", "busybox", "true")
	if after := listDir(t, filepath.Join(dataRoot, "containers")); len(after) != len(beforeDirs) {
		t.Fatalf("containers dir: %v, want %v", after, beforeDirs)
	}
	if ents := listDir(t, stateRoot); len(ents) != 0 {
		t.Fatalf("runtime state left: %v", ents)
	}
	if out := ok(t, "ps", "-a"); strings.Contains(out, "efemero") {
		t.Fatalf("ps -a still lists it: %s", out)
	}
}

func TestPsInspectAndRm(t *testing.T) {
	if r := mr(t, "run", "--name", "lista", "-e", "COR=azul", "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("exit %d, want 3: %s", r.code, r.stderr)
	}
	rmAtEnd(t, "lista")
	out := ok(t, "ps", "-a")
	if !strings.Contains(out, "lista") || !strings.Contains(out, "Exited (3)") {
		t.Fatalf("ps -a: %s", out)
	}
	if strings.Contains(ok(t, "ps"), "lista") {
		t.Fatal("ps without -a lists an exited container")
	}
	in := inspect(t, "lista")
	st := in["State"].(map[string]interface{})
	if st["Status"] != "exited" || st["ExitCode"].(float64) != 3 {
		t.Fatalf("State = %v", st)
	}
	if env := in["Config"].(map[string]interface{})["Env"].([]interface{}); !containsAny(env, "COR=azul") {
		t.Fatalf("Env = %v", env)
	}
	fails(t, "already in use", "run", "--name", "lista", "busybox", "true")
	ok(t, "rm", "lista")
	fails(t, "no such", "rm", "lista")
}

func TestUserAndWorkdir(t *testing.T) {
	out := ok(t, "run", "--rm", "-u", "nobody", "-w", "/tmp/trabalho", "busybox", "sh", "-c", "id -u; pwd; grep CapEff /proc/self/status")
	f := strings.Fields(out)
	if len(f) < 4 || f[0] != "65534" || f[1] != "/tmp/trabalho" || f[3] != "0000000000000000" {
		t.Fatalf("want uid 65534, cwd /tmp/trabalho, no effective caps: %q", out)
	}
	out = ok(t, "run", "--rm", "busybox", "sh", "-c", "grep -E 'CapEff|NoNewPrivs' /proc/self/status")
	if !strings.Contains(out, "00000000a80425fb") || !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Fatalf("want Docker's default capability mask and no_new_privs: %q", out)
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	host, err := os.ReadFile("/proc/timer_list")
	if err != nil || len(host) == 0 {
		t.Skip("this kernel has no readable /proc/timer_list")
	}
	r := mr(t, "run", "--rm", "busybox", "sh", "-c", "wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname && echo wrote")
	if strings.Contains(r.stdout, "wrote") {
		t.Fatalf("/proc/sys is writable: %q", r.stdout)
	}
	if strings.TrimSpace(strings.Split(r.stdout, "\n")[0]) != "0" {
		t.Fatalf("/proc/timer_list is not masked: %q %q", r.stdout, r.stderr)
	}
}

func TestStdinWithI(t *testing.T) {
	r := mrIn(t, "", []byte("linha da entrada\n"), "run", "--rm", "-i", "busybox", "cat")
	if r.code != 0 || r.stdout != "linha da entrada\n" {
		t.Fatalf("run -i cat: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func mounted(path string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+path+" ")
}

func listDir(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		// The shims' sockets (container.ShimsDir) and the extracted
		// minirun-init (runtime.InitDir) live here too.
		if e.Name() == ".shims" || e.Name() == ".init" {
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

func containsAny(l []interface{}, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// Docker's device allowlist: a container may create a node for a disk
// (mknod is allowed) but may not open it; /dev/null still works.
func TestDeviceCgroupDeniesDisks(t *testing.T) {
	r := mr(t, "run", "--rm", "busybox", "sh", "-c", "mknod /tmp/disco b 7 0 && echo made; head -c1 /tmp/disco; echo x > /dev/null && echo null-ok")
	if !strings.Contains(r.stdout, "made") || !strings.Contains(r.stdout, "null-ok") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("opening a block device was not refused: %q", r.stderr)
	}
}

// Docker's default seccomp profile is on: Seccomp 2 in the status, and
// unshare, mount and keyctl fail even for root.
func TestDefaultSeccomp(t *testing.T) {
	r := mr(t, "run", "--rm", "busybox", "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -m true && echo unshare-ok; mount -t tmpfs none /mnt && echo mount-ok; true")
	if !strings.Contains(r.stdout, "Seccomp:\t2") {
		t.Fatalf("no seccomp filter: %q", r.stdout)
	}
	if strings.Contains(r.stdout, "unshare-ok") || strings.Contains(r.stdout, "mount-ok") {
		t.Fatalf("a blocked syscall worked: %q %q", r.stdout, r.stderr)
	}
}
