//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Issue #14.3: the failures the OCI runtime-tools validation suite traced
// to minirun, each as a test of its own (the suite is a bench,
// bench/oci-validation.sh).

// mountsBelow lists the host's mount points below dir.
func mountsBelow(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// rootfsPropagation: the container's / gets the propagation asked for,
// and pivot_root still works with "shared" (it fails with EINVAL when the
// new root's parent mount is shared) and with "unbindable" (an unbindable
// / cannot be bound onto itself).
func TestRootfsPropagation(t *testing.T) {
	for _, tc := range []struct{ prop, want, not string }{
		{"shared", "shared:", ""},
		{"rshared", "shared:", ""},
		// A slave of a private mount stays private (mount_namespaces(7)):
		// "master:" shows only where the host's / is shared.
		{"slave", "", "shared:"},
		{"private", "", "shared:"},
		{"unbindable", "unbindable", "shared:"},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			dir := bundle(t, func(s *specs.Spec) {
				s.Linux.RootfsPropagation = tc.prop
				// The line of the root mount: mount point "/" (field 5).
				s.Process.Args = []string{"sh", "-c", `grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo | tail -1`}
			})
			r := mr(t, "run", "--bundle", dir, "prop-"+tc.prop)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			line := strings.TrimSpace(r.stdout)
			if tc.want != "" && !strings.Contains(line, tc.want) {
				t.Errorf("root mount %q: want %q", line, tc.want)
			}
			if tc.not != "" && strings.Contains(line, tc.not) {
				t.Errorf("root mount %q: want no %q", line, tc.not)
			}
			if left := mountsBelow(t, dir); len(left) > 0 {
				t.Errorf("the container's mounts reached the host: %v", left)
			}
		})
	}
}

// A FIFO in linux.devices is created in /dev; the device cgroup gets no
// rule for it (the controller knows only a, b and c).
func TestDeviceFIFO(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) {
		mode := os.FileMode(0o640)
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/myfifo", Type: "p", FileMode: &mode})
		s.Process.Args = []string{"sh", "-c", "test -p /dev/myfifo && stat -c %a /dev/myfifo"}
	})
	r := mr(t, "run", "--bundle", dir, "fifo1")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "640" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// With no mount namespace in the config the container inherits the
// host's (config-linux.md "Namespaces"), as runc runs it; its mounts are
// made under the rootfs in the host's namespace and are gone after delete.
func TestNoMountNamespace(t *testing.T) {
	host, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	dir := bundle(t, func(s *specs.Spec) {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.MountNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Process.Args = []string{"sh", "-c", "readlink /proc/self/ns/mnt; test -c /dev/null && ls /bin/busybox"}
	})
	r := mr(t, "run", "--bundle", dir, "nomnt1")
	out := strings.Fields(r.stdout)
	if r.code != 0 || len(out) != 2 || out[0] != host || out[1] != "/bin/busybox" {
		t.Fatalf("exit %d stdout %q (host mnt %s) stderr %q", r.code, r.stdout, host, r.stderr)
	}
	if left := mountsBelow(t, dir); len(left) > 0 {
		t.Fatalf("mounts left on the host after delete: %v", left)
	}
	// Paths that would be masked on the host itself are refused.
	dir = bundle(t, func(s *specs.Spec) {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.MountNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
		s.Linux.MaskedPaths = []string{"/proc/kcore"}
	})
	fails(t, "maskedPaths and readonlyPaths need a new mount namespace", "run", "--bundle", dir, "nomnt2")
}

// A mount namespace given by path is joined: the init lands in that very
// namespace, not in a copy of it.
func TestJoinMountNamespaceByPath(t *testing.T) {
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	nsPath := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/mnt"
	host, _ := os.Readlink("/proc/self/ns/mnt")
	var want string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if want, _ = os.Readlink(nsPath); want != "" && want != host {
			break
		}
	}
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"readlink", "/proc/self/ns/mnt"}
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.MountNamespace {
				s.Linux.Namespaces[i].Path = nsPath
			}
		}
	})
	r := mr(t, "run", "--bundle", dir, "joinmnt1")
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("joined mnt %q, want %q (exit %d, stderr %q)", r.stdout, want, r.code, r.stderr)
	}
}

// Poststart hooks run after the user's program is executed (config.md
// "Poststart"), and a failing poststart or poststop hook is a warning: the
// next hooks and the lifecycle go on (runtime.md "Lifecycle").
func TestPoststartAndFailingHooks(t *testing.T) {
	out := t.TempDir()
	// What the container's process is when the hook runs: its comm.
	comm := `s=$(/bin/cat); p=${s#*\"pid\":}; p=${p%%,*}; /bin/cat /proc/$p/comm > ` + filepath.Join(out, "comm")
	record := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "/bin/cat > " + filepath.Join(out, name)}}
	}
	fail := specs.Hook{Path: "/bin/false", Args: []string{"false"}}
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "2"}
		s.Hooks = &specs.Hooks{
			// Holds the init for a moment between start and execve:
			// a poststart hook run before the execve would see it.
			StartContainer: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "0.3"}}},
			Poststart:      []specs.Hook{fail, {Path: "/bin/sh", Args: []string{"sh", "-c", comm}}, record("poststart")},
			Poststop:       []specs.Hook{fail, record("poststop")},
		}
	})
	ok(t, "create", "--bundle", dir, "hookwarn1")
	defer mr(t, "delete", "--force", "hookwarn1") // if a check below stops the test
	r := mr(t, "start", "hookwarn1")
	if r.code != 0 || !strings.Contains(r.stderr, "warning") {
		t.Fatalf("start with a failing poststart hook: exit %d, stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "comm")); err != nil || strings.TrimSpace(string(b)) != "sleep" {
		t.Errorf("poststart hook saw the container's process as %q (%v), want sleep: it ran before the execve", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "poststart")); err != nil {
		t.Errorf("the poststart hook after the failing one did not run")
	}
	waitStatus(t, "hookwarn1", "stopped")
	r = mr(t, "delete", "hookwarn1")
	if r.code != 0 || !strings.Contains(r.stderr, "warning") {
		t.Fatalf("delete with a failing poststop hook: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "poststop")); err != nil {
		t.Errorf("the poststop hook after the failing one did not run")
	}
}

// runc's own default bundle (`runc spec` of runc 1.1) asks for ambient
// capabilities and no inheritable set. The kernel cannot raise them
// (an ambient capability must be permitted and inheritable); runc warns
// and runs the container, and so must minirun.
func TestRuncDefaultCapabilities(t *testing.T) {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Ambient: caps}
		s.Process.Args = []string{"sh", "-c", "grep -E '^Cap(Eff|Amb)' /proc/self/status"}
	})
	r := mr(t, "run", "--bundle", dir, "runccaps1")
	// CAP_KILL 5, CAP_NET_BIND_SERVICE 10, CAP_AUDIT_WRITE 29.
	if r.code != 0 || !strings.Contains(r.stdout, "CapEff:\t0000000020000420") || !strings.Contains(r.stdout, "CapAmb:\t0000000000000000") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "ambient") {
		t.Errorf("no warning about the ambient capabilities: %q", r.stderr)
	}
	// With the inheritable set too, the ambient set is raised.
	dir = bundle(t, func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
		s.Process.Args = []string{"sh", "-c", "grep -E '^CapAmb' /proc/self/status"}
	})
	r = mr(t, "run", "--bundle", dir, "runccaps2")
	if r.code != 0 || !strings.Contains(r.stdout, "CapAmb:\t0000000020000420") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// A capability the machine cannot grant (missing from its bounding set) is
// left out with a warning and the container runs without it (config.md
// "capabilities": runtimes SHOULD NOT fail for it); an AppArmor profile
// where AppArmor is off fails `create`, instead of a container that is
// reported created and dies after start with the error on its own stderr.
func TestUngrantableProcess(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var bnd uint64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:\t"); ok {
			bnd, _ = strconv.ParseUint(v, 16, 64)
		}
	}
	last, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(last)))
	names := map[int]string{0: "CAP_CHOWN", 21: "CAP_SYS_ADMIN", 24: "CAP_SYS_RESOURCE", 25: "CAP_SYS_TIME", 16: "CAP_SYS_MODULE", 22: "CAP_SYS_BOOT", 17: "CAP_SYS_RAWIO"}
	missing, bit := "", 0
	for c := 0; c <= n; c++ {
		if bnd&(1<<c) == 0 && names[c] != "" {
			missing, bit = names[c], c
			break
		}
	}
	if missing != "" {
		dir := bundle(t, func(s *specs.Spec) {
			s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, missing, "CAP_CHOWN")
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, missing, "CAP_CHOWN")
			s.Process.Args = []string{"sh", "-c", "grep -E '^CapEff' /proc/self/status"}
		})
		r := mr(t, "run", "--bundle", dir, "nocap1")
		if r.code != 0 || !strings.Contains(r.stderr, missing+" cannot be granted") {
			t.Fatalf("run with %s: exit %d stdout %q stderr %q: want it to run, with a warning", missing, r.code, r.stdout, r.stderr)
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(r.stdout, "CapEff:")), 16, 64)
		if err != nil || eff&(1<<bit) != 0 || eff&1 == 0 {
			t.Fatalf("CapEff %q: want %s left out and CAP_CHOWN kept", r.stdout, missing)
		}
	} else {
		t.Log("every capability is in this machine's bounding set: that case is not checked here")
	}
	if _, err := os.Stat("/proc/self/attr/apparmor"); err == nil {
		t.Log("AppArmor is enabled: the profile case is not checked here")
		return
	}
	dir := bundle(t, func(s *specs.Spec) { s.Process.ApparmorProfile = "acme_secure_profile" })
	createFails(t, "AppArmor is not enabled", dir, "noaa1")
}

// createFails wants `create` to fail with want and leave no container; a
// container it did create is removed before the test fails.
func createFails(t *testing.T, want, dir, id string) {
	t.Helper()
	r := mr(t, "create", "--bundle", dir, id)
	if r.code == 0 {
		mr(t, "delete", "--force", id)
		t.Fatalf("create %s succeeded; want an error containing %q", id, want)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("create %s: stderr %q, want %q", id, r.stderr, want)
	}
	fails(t, id, "state", id)
}

// A low soft RLIMIT_AS (4 MiB: busybox fits, a Go program does not)
// applies to the user's program, not to minirun's own
// last steps: the Go init must still allocate (the seccomp filter) after
// the hard limits are set (process_rlimits of the suite, runc's ENOMEM).
func TestLowAddressSpaceLimit(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: 4 << 20, Hard: 64 << 20})
		s.Process.Args = []string{"sh", "-c", "ulimit -v; ulimit -H -v"}
	})
	r := mr(t, "run", "--bundle", dir, "lowas1")
	if r.code != 0 || strings.Join(strings.Fields(r.stdout), " ") != "4096 65536" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}
