package seccomp

// Checking a profile: every string of the OCI seccomp section becomes a
// number here, and anything malformed is an error before a single
// instruction is generated.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxArgs is the number of syscall arguments seccomp_data carries (args[6]).
const maxArgs = 6

// badArchAction is what a call from an ABI the profile does not list gets:
// libseccomp's default for SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL (which is
// KILL_THREAD). runc keeps that default.
const badArchAction = unix.SECCOMP_RET_KILL_THREAD

// actionValue turns an OCI action and its optional errnoRet into the 32-bit
// value a seccomp filter returns: the action in the high 16 bits, data in
// the low 16 (<linux/seccomp.h>, SECCOMP_RET_ACTION_FULL / SECCOMP_RET_DATA).
//
// As in runc, SCMP_ACT_ERRNO without errnoRet returns EPERM, and errnoRet
// may only accompany SCMP_ACT_ERRNO and SCMP_ACT_TRACE (for TRACE it is the
// value the tracer reads with PTRACE_GETEVENTMSG; runc also defaults it to
// EPERM).
func actionValue(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if act != specs.ActErrno && act != specs.ActTrace {
			return 0, fmt.Errorf("errnoRet %d given with %s: only %s and %s take one", *errnoRet, act, specs.ActErrno, specs.ActTrace)
		}
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errnoRet %d does not fit the 16 bits of SECCOMP_RET_DATA", *errnoRet)
		}
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return unix.SECCOMP_RET_USER_NOTIF, nil
	case "":
		return 0, fmt.Errorf("empty action")
	}
	return 0, fmt.Errorf("unknown action %q", act)
}

var knownOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
	specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
	specs.OpMaskedEqual: true,
}

// filterFlags maps the profile's flags to seccomp(2)'s SECCOMP_FILTER_FLAG_*.
var filterFlags = map[specs.LinuxSeccompFlag]uintptr{
	"SECCOMP_FILTER_FLAG_TSYNC":            unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// filter is a checked profile arranged for code generation: per ABI, the
// syscalls it names, sorted by number, each with the rules to try in order.
type filter struct {
	defaultAction uint32
	sections      []*section
	flags         uintptr
}

type section struct {
	abi   *abi
	calls []*call // sorted by nr
}

type call struct {
	nr    uint32
	rules []rule // tried in order; exactly one without args if unconditional
}

// rule matches when every comparison in args holds.
type rule struct {
	action uint32
	args   []specs.LinuxSeccompArg
}

func (c *call) unconditional() bool { return len(c.rules) == 1 && len(c.rules[0].args) == 0 }

// check validates s and arranges it. The semantics it fixes are those of
// runc on top of libseccomp (documented in doc.go):
//
//  1. A rule whose action is the default action is dropped: libseccomp
//     refuses it and runc skips it.
//  2. Comparisons in one rule are ANDed, except when the rule compares the
//     same argument twice: runc then adds one rule per comparison (ORed),
//     see opencontainers/runc#2735.
//  3. A rule without comparisons decides its syscall on its own: libseccomp
//     drops argument rules for a syscall that has an unconditional one,
//     whatever the order (the first unconditional rule wins).
//  4. Otherwise rules are tried in profile order and the first whose
//     comparisons all hold decides; if none does, the default action.
//  5. A name the ABI has no number for is skipped for that ABI, as runc
//     does ("unknown syscall" is not an error: profiles name syscalls of
//     every architecture and of newer kernels).
func check(s *specs.LinuxSeccomp) (*filter, error) {
	if s == nil {
		return nil, fmt.Errorf("no seccomp profile")
	}
	f := &filter{}
	var err error
	if f.defaultAction, err = actionValue(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return nil, fmt.Errorf("seccomp defaultAction: %w", err)
	}
	for _, fl := range s.Flags {
		v, ok := filterFlags[fl]
		if !ok {
			return nil, fmt.Errorf("seccomp flag %q: unknown", fl)
		}
		f.flags |= v
	}
	// The native ABI is always in the filter, as in libseccomp; the others
	// only when listed.
	listed := map[specs.Arch]bool{specs.ArchX86_64: true}
	for _, a := range s.Architectures {
		if !knownArches[a] {
			return nil, fmt.Errorf("seccomp architecture %q: unknown", a)
		}
		listed[a] = true
	}
	bySection := map[*abi]map[uint32]*call{}
	for _, a := range abis {
		if listed[a.arch] {
			f.sections = append(f.sections, &section{abi: a})
			bySection[a] = map[uint32]*call{}
		}
	}

	for i, sc := range s.Syscalls {
		rules, err := checkRule(sc)
		if err != nil {
			return nil, fmt.Errorf("seccomp syscalls[%d] (%s): %w", i, strings.Join(sc.Names, ","), err)
		}
		if rules[0].action == f.defaultAction {
			continue // rule 1
		}
		for _, sec := range f.sections {
			for _, name := range sc.Names {
				nr, ok := sec.abi.number(name)
				if !ok {
					continue // rule 5
				}
				c := bySection[sec.abi][nr]
				if c == nil {
					c = &call{nr: nr}
					bySection[sec.abi][nr] = c
					sec.calls = append(sec.calls, c)
				}
				switch {
				case c.unconditional():
					// rule 3: already decided
				case len(rules[0].args) == 0:
					c.rules = rules[:1] // rule 3: replaces argument rules
				default:
					c.rules = append(c.rules, rules...)
				}
			}
		}
	}
	for _, sec := range f.sections {
		sortCalls(sec.calls)
	}
	return f, nil
}

// checkRule validates one syscall entry and returns it as rules (more than
// one when rule 2 splits it).
func checkRule(sc specs.LinuxSyscall) ([]rule, error) {
	if len(sc.Names) == 0 {
		return nil, fmt.Errorf("no syscall names")
	}
	for _, n := range sc.Names {
		if n == "" {
			return nil, fmt.Errorf("empty syscall name")
		}
	}
	act, err := actionValue(sc.Action, sc.ErrnoRet)
	if err != nil {
		return nil, err
	}
	var seen [maxArgs]int
	repeated := false
	for _, a := range sc.Args {
		if a.Index >= maxArgs {
			return nil, fmt.Errorf("argument index %d: a syscall has only %d arguments (0-%d)", a.Index, maxArgs, maxArgs-1)
		}
		if !knownOps[a.Op] {
			return nil, fmt.Errorf("argument %d: unknown operator %q", a.Index, a.Op)
		}
		seen[a.Index]++
		repeated = repeated || seen[a.Index] > 1
	}
	if !repeated {
		return []rule{{action: act, args: sc.Args}}, nil
	}
	rules := make([]rule, len(sc.Args))
	for i, a := range sc.Args {
		rules[i] = rule{action: act, args: []specs.LinuxSeccompArg{a}}
	}
	return rules, nil
}

func sortCalls(cs []*call) {
	slices.SortFunc(cs, func(a, b *call) int { return cmp.Compare(a.nr, b.nr) })
}
