package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/minirun/minirun/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary run one of the children below instead of
// the tests: a filter cannot be removed, so each one is loaded in a
// process of its own.
const childEnv = "MINIRUN_SECCOMP_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(t *testing.T, mode string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	return string(out)
}

// TestLoadErrno: one syscall fails with a chosen errno, one only for an
// argument whose high word is set, everything else keeps working.
func TestLoadErrno(t *testing.T) {
	testutil.RequireRoot(t)
	out := runChild(t, "errno")
	if !strings.Contains(out, "Seccomp: 2") {
		t.Errorf("child output lacks Seccomp: 2:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// TestLoadDocker: Docker's default profile refuses unshare and keyctl to
// root, which the kernel alone would allow.
func TestLoadDocker(t *testing.T) {
	testutil.RequireRoot(t)
	t.Logf("\n%s", runChild(t, "docker"))
}

// TestLoadNeedsNoNewPrivs: without no_new_privs and without CAP_SYS_ADMIN
// the kernel refuses the filter, and the error says why.
func TestLoadNeedsNoNewPrivs(t *testing.T) {
	testutil.RequireRoot(t)
	t.Logf("\n%s", runChild(t, "nonnp"))
}

func TestLoadRefusesNotify(t *testing.T) {
	// Load returns before installing anything, so this runs in the test
	// process itself.
	for _, s := range []*specs.LinuxSeccomp{
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}},
		{DefaultAction: specs.ActNotify},
		{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"},
	} {
		if err := Load(s); !errors.Is(err, ErrNotifySupport) {
			t.Errorf("%+v: got %v", s, err)
		}
	}
	if err := Load(nil); err != nil {
		t.Errorf("Load(nil): %v", err)
	}
}

func child(mode string) error {
	// The filter goes on this thread and, with TSYNC, on all others.
	goruntime.LockOSThread()
	switch mode {
	case "errno":
		return childErrno()
	case "docker":
		return childDocker()
	case "nonnp":
		return childNoNNP()
	}
	return fmt.Errorf("unknown mode")
}

// expect runs a raw syscall and checks its errno (0: success).
func expect(name string, want unix.Errno, nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != want {
		return fmt.Errorf("%s: errno %d (%v), want %d (%v)", name, int(e), e, int(want), want)
	}
	if e == 0 {
		fmt.Printf("%-24s ok\n", name)
	} else {
		fmt.Printf("%-24s errno %d (%v)\n", name, int(e), e)
	}
	return nil
}

func status() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Seccomp") || strings.HasPrefix(l, "NoNewPrivs") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, "\n")
}

func childErrno() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"uname"}, Action: specs.ActErrno, ErrnoRet: errno(uint(unix.ENOSYS))},
			// getpgid(pid_t) truncates its argument to 32 bits, so
			// without the filter 1<<32 would mean pid 0 and succeed:
			// only the filter sees the high word.
			{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: errno(uint(unix.EPERM)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1 << 32, Op: specs.OpEqualTo}}},
		},
	}
	var uts unix.Utsname
	if err := expect("uname before", 0, unix.SYS_UNAME, uintptr(unsafe.Pointer(&uts))); err != nil {
		return err
	}
	if err := expect("getpgid(1<<32) before", 0, unix.SYS_GETPGID, 1<<32); err != nil {
		return err
	}
	if err := Load(p); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		want unix.Errno
		nr   uintptr
		args []uintptr
	}{
		{"uname", unix.ENOSYS, unix.SYS_UNAME, []uintptr{uintptr(unsafe.Pointer(&uts))}},
		{"getpgid(0)", 0, unix.SYS_GETPGID, []uintptr{0}},
		{"getpgid(1<<32)", unix.EPERM, unix.SYS_GETPGID, []uintptr{1 << 32}},
		{"getpgid(1<<33)", 0, unix.SYS_GETPGID, []uintptr{1 << 33}},
		{"getpid", 0, unix.SYS_GETPID, nil},
	} {
		if err := expect(c.name, c.want, c.nr, c.args...); err != nil {
			return err
		}
	}
	st := status()
	fmt.Println(st)
	if !strings.Contains(st, "Seccomp: 2") {
		return fmt.Errorf("status: %s", st)
	}
	return nil
}

func childDocker() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	p, err := DefaultProfile([]string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"})
	if err != nil {
		return err
	}
	if err := Load(p); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		want unix.Errno
		nr   uintptr
		args []uintptr
	}{
		{"unshare(CLONE_NEWNS)", unix.EPERM, unix.SYS_UNSHARE, []uintptr{unix.CLONE_NEWNS}},
		{"keyctl(GET_KEYRING_ID)", unix.EPERM, unix.SYS_KEYCTL, []uintptr{unix.KEYCTL_GET_KEYRING_ID, ^uintptr(2) /* KEY_SPEC_SESSION_KEYRING */, 0}},
		{"mount", unix.EPERM, unix.SYS_MOUNT, []uintptr{0, 0, 0, 0, 0}},
		{"clone3", unix.ENOSYS, unix.SYS_CLONE3, []uintptr{0, 0}},
		{"socket(AF_VSOCK)", unix.EPERM, unix.SYS_SOCKET, []uintptr{unix.AF_VSOCK, unix.SOCK_STREAM, 0}},
		{"getpid", 0, unix.SYS_GETPID, nil},
	} {
		if err := expect(c.name, c.want, c.nr, c.args...); err != nil {
			return err
		}
	}
	// ordinary work still goes through
	f, err := os.CreateTemp("", "minirun-seccomp-*")
	if err != nil {
		return fmt.Errorf("create temp file under the filter: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	st := status()
	fmt.Println(st)
	if !strings.Contains(st, "Seccomp: 2") {
		return fmt.Errorf("status: %s", st)
	}
	return nil
}

func childNoNNP() error {
	// Drop CAP_SYS_ADMIN from this thread's effective set; keep it
	// permitted so nothing else changes.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[unix.CAP_SYS_ADMIN/32].Effective &^= 1 << (unix.CAP_SYS_ADMIN % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return err
	}
	err := Load(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow})
	if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "no_new_privs=0") {
		return fmt.Errorf("got %v, want EACCES naming no_new_privs", err)
	}
	fmt.Println(err)
	if st := status(); !strings.Contains(st, "Seccomp: 0") {
		return fmt.Errorf("a filter was installed: %s", st)
	}
	return nil
}
