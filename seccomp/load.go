package seccomp

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNotifySupport is returned by Load for profiles that use SCMP_ACT_NOTIFY
// (or the flag that only makes sense with it): handing the listener fd to a
// supervisor at the spec's listenerPath is not implemented in minirun. A
// filter returning SECCOMP_RET_USER_NOTIF with nobody listening would make
// those syscalls fail with ENOSYS, so Load refuses instead.
var ErrNotifySupport = errors.New("seccomp user notification (SCMP_ACT_NOTIFY) is not supported by minirun")

// Load compiles s and installs it on the calling process with seccomp(2)
// SECCOMP_SET_MODE_FILTER. A nil profile installs nothing. The filter can
// never be removed: it stays for the life of the process and is inherited
// across fork and execve.
//
// The kernel accepts a filter only from a thread that has no_new_privs set
// or CAP_SYS_ADMIN in its user namespace (seccomp(2), EACCES); otherwise a
// setuid program could be run under a filter that fools it. Load does not
// set no_new_privs itself: that is process.noNewPrivileges' decision.
//
// Load always adds SECCOMP_FILTER_FLAG_TSYNC (as libseccomp-golang does for
// runc): a Go program has several threads and the filter must be on all of
// them, not only on the one that happens to run this call.
//
// Call it as late as possible, right before execve (see doc.go): from the
// moment it returns, every syscall of this process, minirun's own
// included, goes through the filter.
func Load(s *specs.LinuxSeccomp) error {
	f, err := Prepare(s)
	if err != nil {
		return err
	}
	return f.Load()
}

// Filter is a profile checked and compiled to BPF, ready to be loaded.
type Filter struct {
	prog  []unix.SockFilter
	flags uintptr
}

// Prepare checks and compiles s; a nil profile gives a nil *Filter, whose
// Load installs nothing.
//
// ORDER: the init prepares its filter before it waits for `start` and
// loads it after: compiling the default profile allocates some 340 KB
// and took a few milliseconds in a fresh process, which would otherwise
// sit between `start` and the user's program.
func Prepare(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, nil
	}
	if goruntime.GOARCH != "amd64" {
		return nil, fmt.Errorf("load seccomp filter: the syscall tables are for amd64, not %s", goruntime.GOARCH)
	}
	if err := checkNotify(s); err != nil {
		return nil, err
	}
	f, err := check(s)
	if err != nil {
		return nil, err
	}
	prog, err := f.program()
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	return &Filter{prog: prog, flags: f.flags | unix.SECCOMP_FILTER_FLAG_TSYNC}, nil
}

// Len is the number of BPF instructions of the filter.
func (f *Filter) Len() int {
	if f == nil {
		return 0
	}
	return len(f.prog)
}

// Load installs the filter on the calling process (see the package's
// Load); a nil *Filter installs nothing.
func (f *Filter) Load() error {
	if f == nil {
		return nil
	}
	prog, flags := f.prog, f.flags
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	goruntime.KeepAlive(prog)
	switch {
	case errno == unix.EACCES:
		nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
		return fmt.Errorf("load seccomp filter (no_new_privs=%d, needs it set or CAP_SYS_ADMIN): %w", nnp, errno)
	case errno == unix.EINVAL:
		return fmt.Errorf("load seccomp filter (%d instructions, flags %#x; an action or flag this kernel lacks? see /proc/sys/kernel/seccomp/actions_avail): %w", len(prog), flags, errno)
	case errno != 0:
		return fmt.Errorf("load seccomp filter: %w", errno)
	case r != 0:
		// With TSYNC a positive return is a thread that could not be
		// synchronized (it has a filter of its own this one does not
		// extend). Nothing was installed.
		return fmt.Errorf("load seccomp filter: thread %d cannot take the filter (TSYNC)", r)
	}
	return nil
}

func checkNotify(s *specs.LinuxSeccomp) error {
	if s.DefaultAction == specs.ActNotify || s.ListenerPath != "" {
		return ErrNotifySupport
	}
	for _, fl := range s.Flags {
		if fl == specs.LinuxSeccompFlagWaitKillableRecv {
			return ErrNotifySupport
		}
	}
	for _, sc := range s.Syscalls {
		if sc.Action == specs.ActNotify {
			return ErrNotifySupport
		}
	}
	return nil
}
