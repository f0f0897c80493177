package runtime

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rlimitByName maps the spec's names to setrlimit(2) resources.
var rlimitByName = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE,
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setRlimits applies the limits to this process in two steps; they survive
// execve. Here, while the init still has its privileges, it raises each hard
// limit the config asks to raise: that needs CAP_SYS_RESOURCE, which the
// user switch and the capability sets may take away (setrlimit(2)).
// Lowering needs no privilege, so every lowering waits for
// lowerSoftRlimits, right before execve: a low RLIMIT_AS or RLIMIT_NOFILE
// must never constrain minirun's own last steps. A Go program maps far more
// address space than it uses (the heap arenas and the page allocator's
// summaries are reserved up front), so even a 1 GiB hard RLIMIT_AS set
// here made the init die with "runtime: out of memory" now and then (runc,
// which sets them early, fails with ENOMEM there too).
func setRlimits(rl []specs.POSIXRlimit) error {
	for _, r := range rl {
		res := rlimitByName[r.Type]
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return fmt.Errorf("getrlimit %s: %w", r.Type, err)
		}
		if r.Hard <= cur.Max {
			continue
		}
		if err := unix.Prlimit(0, res, &unix.Rlimit{Cur: r.Hard, Max: r.Hard}, nil); err != nil {
			return fmt.Errorf("setrlimit %s hard=%d: %w", r.Type, r.Hard, err)
		}
	}
	return nil
}

// lowerSoftRlimits sets the limits exactly as the config asks, lowering
// hard and soft; see setRlimits.
func lowerSoftRlimits(rl []specs.POSIXRlimit) error {
	for _, r := range rl {
		res := rlimitByName[r.Type]
		if err := unix.Prlimit(0, res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}, nil); err != nil {
			return fmt.Errorf("setrlimit %s soft=%d hard=%d: %w", r.Type, r.Soft, r.Hard, err)
		}
	}
	return nil
}

// prlimitShell is the shell equivalent of setting rlimits on the running
// shell: prlimit(1) names each resource as an option (RLIMIT_NOFILE is
// --nofile=SOFT:HARD); a bare "RLIMIT_NOFILE=…" would be read as a command,
// which prlimit refuses beside --pid.
func prlimitShell(rl []specs.POSIXRlimit) string {
	out := "prlimit --pid $$"
	for _, r := range rl {
		opt := strings.ToLower(strings.TrimPrefix(r.Type, "RLIMIT_"))
		out += fmt.Sprintf(" --%s=%d:%d", opt, r.Soft, r.Hard)
	}
	return out
}
