// Package testutil holds the helpers minirun's tests share: opting in to
// tests that need root, checking the machine's cgroup layout, and a
// store's lock.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RootEnv is the variable that opts in to tests that change the host. An
// environment variable rather than a test flag, because a flag breaks the
// packages that do not register it (containerd's -test.root lesson).
const RootEnv = "MINIRUN_TEST_ROOT"

// RequireRoot skips the test unless MINIRUN_TEST_ROOT=1, and fails it when
// opted in without being root: a silent skip would hide a broken CI.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getenv(RootEnv) != "1" {
		t.Skipf("needs root: set %s=1 and run as root", RootEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1 but euid is %d, not 0", RootEnv, os.Geteuid())
	}
}

// CgroupV2 reports whether /sys/fs/cgroup is a pure cgroup v2 hierarchy.
func CgroupV2() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
}

// RequireCgroupV2 skips the test unless the machine runs cgroup v2 only.
func RequireCgroupV2(t testing.TB) {
	t.Helper()
	if !CgroupV2() {
		t.Skip("needs the cgroup v2 layout (runs in the test VM)")
	}
}

// RequireCgroupV1 skips the test unless controllers sit on v1 hierarchies.
func RequireCgroupV1(t testing.TB) {
	t.Helper()
	if CgroupV2() {
		t.Skip("needs the cgroup v1 (or hybrid) layout")
	}
}

// RequireLockFree stops the test (Fatalf, naming what) when an exclusive
// flock(2) on path is held by another open file description: LOCK_NB
// answers EWOULDBLOCK at once where a blocking lock would wait, so a
// command that kept its store's lock fails the test instead of hanging
// the next command. The probe's own lock goes with its descriptor.
func RequireLockFree(t testing.TB, path, what string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("%s still holds the lock %s: %v", what, path, err)
	}
}

// BusyboxRootfs makes dir/rootfs from Debian's static busybox, a link per
// applet, an /etc/passwd with root and nobody, and a /host-file-marker
// (a file no host root has, so a test can tell whose root it sees). It
// skips the test when busybox-static is not installed.
func BusyboxRootfs(t testing.TB, dir string) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox-static is not installed")
	}
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(out)) {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "host-file-marker"), nil, 0o644)
	return rootfs
}
