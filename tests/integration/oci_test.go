//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bundle makes an OCI bundle (config.json from `minirun spec` plus a busybox
// rootfs) and lets edit change the config.
func bundle(t *testing.T, edit func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "rootfs"), "-xf", busyboxTar).CombinedOutput(); err != nil {
		t.Fatalf("untar: %v %s", err, out)
	}
	ok(t, "spec", "--bundle", dir)
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	if edit != nil {
		edit(&s)
	}
	b, _ = json.Marshal(&s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func state(t *testing.T, id string) specs.State {
	t.Helper()
	var s specs.State
	out := ok(t, "state", id)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("state is not JSON: %q", out)
	}
	var raw map[string]interface{}
	json.Unmarshal([]byte(out), &raw)
	for k := range raw {
		switch k {
		case "ociVersion", "id", "status", "pid", "bundle", "annotations":
		default:
			t.Errorf("state has an extra key %q", k)
		}
	}
	return s
}

func TestOCILifecycle(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "30"} })
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Cleanup(func() { mr(t, "delete", "--force", "oci1") })
	ok(t, "create", "--bundle", dir, "--pid-file", pidFile, "oci1")
	s := state(t, "oci1")
	if s.Status != "created" || s.Pid <= 0 || s.ID != "oci1" || s.Bundle != dir {
		t.Fatalf("state after create: %+v", s)
	}
	if b, _ := os.ReadFile(pidFile); string(b) != strconv.Itoa(s.Pid) {
		t.Fatalf("pid file %q, want %d", b, s.Pid)
	}
	fails(t, "already exists", "create", "--bundle", dir, "oci1")
	fails(t, "cannot delete: container is created", "delete", "oci1")
	ok(t, "start", "oci1")
	if s := state(t, "oci1"); s.Status != "running" {
		t.Fatalf("state after start: %+v", s)
	}
	fails(t, "cannot start: container is running", "start", "oci1")
	fails(t, "cannot delete: container is running", "delete", "oci1")
	if out := ok(t, "list"); !strings.Contains(out, "oci1") || !strings.Contains(out, "running") {
		t.Fatalf("list: %s", out)
	}
	ok(t, "kill", "oci1", "KILL")
	waitStatus(t, "oci1", "stopped")
	if s := state(t, "oci1"); s.Pid != 0 {
		t.Fatalf("stopped container reports pid %d", s.Pid)
	}
	fails(t, "cannot kill: container is stopped", "kill", "oci1", "9")
	ok(t, "delete", "oci1")
	fails(t, "does not exist", "state", "oci1")
}

func TestOCIKillSignalForms(t *testing.T) {
	for i, sig := range []string{"KILL", "SIGKILL", "9"} {
		id := "sig" + strconv.Itoa(i)
		dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "30"} })
		t.Cleanup(func() { mr(t, "delete", "--force", id) })
		ok(t, "create", "--bundle", dir, id)
		ok(t, "start", id)
		ok(t, "kill", id, sig)
		waitStatus(t, id, "stopped")
		ok(t, "delete", id)
	}
	fails(t, "invalid signal", "kill", "whatever", "NOPE")
}

func TestOCIDeleteForce(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "30"} })
	ok(t, "create", "--bundle", dir, "force1")
	pid := state(t, "force1").Pid
	ok(t, "delete", "--force", "force1")
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(b), ") Z") {
			t.Fatalf("init %d still alive after delete --force", pid)
		}
	}
}

// A pid reused by another process must not make a dead container look
// alive: the start time recorded at create tells them apart.
func TestStateSurvivesPidReuse(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"true"} })
	ok(t, "create", "--bundle", dir, "reuse")
	t.Cleanup(func() { mr(t, "delete", "--force", "reuse") })
	// Forge the state: point it at this test process, alive but not ours.
	path := filepath.Join(stateRoot, "reuse", "state.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := append([]byte(nil), b...)
	var raw map[string]interface{}
	json.Unmarshal(b, &raw)
	raw["pid"] = os.Getpid()
	forged, _ := json.Marshal(raw)
	os.WriteFile(path, forged, 0o600)
	if s := state(t, "reuse"); s.Status != "stopped" {
		t.Fatalf("a live process with another start time is reported %s", s.Status)
	}
	// Put the truth back so the cleanup finds (and kills) the real init.
	os.WriteFile(path, orig, 0o600)
	if s := state(t, "reuse"); s.Status != "created" {
		t.Fatalf("restored state: %s", s.Status)
	}
}

// A container killed from outside reports 128+signal, as a shell does.
func TestOCIRunKilledExitCode(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "30"} })
	done := make(chan result)
	go func() { done <- mr(t, "run", "--bundle", dir, "killed1") }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r := mr(t, "state", "killed1"); r.code == 0 && strings.Contains(r.stdout, `"running"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("container never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok(t, "kill", "killed1", "KILL")
	if r := <-done; r.code != 137 {
		t.Fatalf("exit %d, want 137 (stderr %q)", r.code, r.stderr)
	}
}

func TestOCIRunBundleExitCode(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", "echo ola; exit 7"} })
	r := mr(t, "run", "--bundle", dir, "run1")
	if r.code != 7 || r.stdout != "ola\n" {
		t.Fatalf("run --bundle: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	fails(t, "does not exist", "state", "run1")
}

func TestHooks(t *testing.T) {
	out := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(out, name)}}
	}
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Hooks = &specs.Hooks{
			Prestart:      []specs.Hook{hook("prestart")},
			CreateRuntime: []specs.Hook{hook("createRuntime")},
			Poststart:     []specs.Hook{hook("poststart")},
			Poststop:      []specs.Hook{hook("poststop")},
		}
	})
	ok(t, "create", "--bundle", dir, "hooks1")
	for _, n := range []string{"prestart", "createRuntime"} {
		var st specs.State
		b, err := os.ReadFile(filepath.Join(out, n))
		if err != nil || json.Unmarshal(b, &st) != nil || st.ID != "hooks1" || st.Pid <= 0 {
			t.Fatalf("%s hook got %q (%v)", n, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "poststart")); err == nil {
		t.Fatal("poststart ran before start")
	}
	ok(t, "start", "hooks1")
	if _, err := os.Stat(filepath.Join(out, "poststart")); err != nil {
		t.Fatal("poststart did not run at start")
	}
	waitStatus(t, "hooks1", "stopped")
	ok(t, "delete", "hooks1")
	if b, err := os.ReadFile(filepath.Join(out, "poststop")); err != nil || !strings.Contains(string(b), `"stopped"`) {
		t.Fatalf("poststop hook: %q %v", b, err)
	}
}

func TestUserNamespaceMapping(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "cat /proc/self/uid_map; id -u"}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	})
	// The mapped root (host uid 100000) must reach and own the rootfs:
	// t.TempDir makes 0700 directories.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	if out, err := exec.Command("chown", "-R", "100000:100000", filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	r := mr(t, "run", "--bundle", dir, "userns1")
	f := strings.Fields(r.stdout)
	if r.code != 0 || len(f) != 4 || f[0] != "0" || f[1] != "100000" || f[3] != "0" {
		t.Fatalf("userns: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestJoinNamespaceByPath(t *testing.T) {
	holder := exec.Command("unshare", "--net", "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	time.Sleep(100 * time.Millisecond)
	nsPath := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/net"
	want, _ := os.Readlink(nsPath)
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"readlink", "/proc/self/ns/net"}
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = nsPath
			}
		}
	})
	r := mr(t, "run", "--bundle", dir, "join1")
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("joined netns %q, want %q (stderr %q)", r.stdout, want, r.stderr)
	}
}

func TestReadonlyRoot(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Process.Args = []string{"sh", "-c", "touch /x 2>&1; echo done"}
	})
	r := mr(t, "run", "--bundle", dir, "ro1")
	if !strings.Contains(r.stdout, "Read-only file system") {
		t.Fatalf("write to a read-only root: %q", r.stdout)
	}
}

func waitStatus(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := state(t, id)
		if string(s.Status) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s, want %s", id, s.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CVE-2019-5736: a process inside the container, while the init is still
// minirun (a startContainer hook runs exactly then, as root with every
// capability), tries to write to the binary behind /proc/1/exe. The init runs
// minirun-init through a read-only mount, so the write fails and the host's
// minirun is unchanged.
func TestRuncEscapeBlocked(t *testing.T) {
	before, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "escape")
	os.WriteFile(out, nil, 0o666)
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"bind"}})
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c",
			"readlink /proc/1/exe > /out; (echo pwned >> /proc/1/exe) 2>>/out && echo WROTE >> /out || echo DENIED >> /out"}}}}
	})
	r := mr(t, "run", "--explain=json", "--bundle", dir, "escape1")
	if r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	// The kernel's view of the init, read at create: the binary it runs is
	// behind a read-only mount in its mount namespace, or a sealed memfd.
	var ev struct {
		Evidence string `json:"evidence"`
		Err      string `json:"error"`
	}
	found := false
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, `"id":"security-sealed-binary"`) {
			json.Unmarshal([]byte(l), &ev)
			found = true
		}
	}
	if !found || ev.Err != "" || !(strings.Contains(ev.Evidence, "(ro)") || strings.Contains(ev.Evidence, "(memfd)")) {
		t.Fatalf("the init's binary is not protected: %+v", ev)
	}
	// scripts/build.sh embeds minirun-init; the init runs that program,
	// extracted into the state root, not minirun (a build without it would
	// show minirun's own path).
	if !strings.Contains(ev.Evidence, "/.init/minirun-init-") {
		t.Fatalf("the init does not run the embedded minirun-init: %s", ev.Evidence)
	}
	got, _ := os.ReadFile(out)
	if !strings.Contains(string(got), "DENIED") {
		t.Fatalf("a process in the container wrote to /proc/1/exe: %q", got)
	}
	after, _ := os.ReadFile(binary)
	if string(after) != string(before) {
		t.Fatal("the host's minirun binary changed")
	}
}
