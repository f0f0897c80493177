//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
