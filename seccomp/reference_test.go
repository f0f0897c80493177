package seccomp

// The reference: the semantics of doc.go evaluated directly on the profile,
// with no BPF in between. Tests compare it with the compiled program run on
// the interpreter.

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func mustAction(act specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	v, err := actionValue(act, errnoRet)
	if err != nil {
		panic(err)
	}
	return v
}

func reference(s *specs.LinuxSeccomp, d seccompData) uint32 {
	def := mustAction(s.DefaultAction, s.DefaultErrnoRet)
	listed := func(a specs.Arch) bool { return a == specs.ArchX86_64 || slices.Contains(s.Architectures, a) }

	var table map[string]uint32
	var bit uint32
	var low32 bool
	switch {
	case d.arch == unix.AUDIT_ARCH_X86_64 && d.nr < 0x40000000:
		table = syscallsX86_64
	case d.arch == unix.AUDIT_ARCH_X86_64 && listed(specs.ArchX32):
		table, bit, low32 = syscallsX32, 0x40000000, true
	case d.arch == unix.AUDIT_ARCH_I386 && listed(specs.ArchX86):
		table, low32 = syscallsI386, true
	default:
		return unix.SECCOMP_RET_KILL_THREAD
	}

	type cond struct {
		act  uint32
		args []specs.LinuxSeccompArg
	}
	var conds []cond
	for _, sc := range s.Syscalls {
		act := mustAction(sc.Action, sc.ErrnoRet)
		if act == def {
			continue
		}
		named := false
		for _, n := range sc.Names {
			if nr, ok := table[n]; ok && nr|bit == d.nr {
				named = true
			}
		}
		if !named {
			continue
		}
		if len(sc.Args) == 0 {
			return act // the first unconditional rule decides, wherever it is
		}
		seen := map[uint]bool{}
		split := false
		for _, a := range sc.Args {
			split = split || seen[a.Index]
			seen[a.Index] = true
		}
		if split {
			for _, a := range sc.Args {
				conds = append(conds, cond{act, []specs.LinuxSeccompArg{a}})
			}
		} else {
			conds = append(conds, cond{act, sc.Args})
		}
	}
	for _, c := range conds {
		ok := true
		for _, a := range c.args {
			ok = ok && holds(a, d.args[a.Index], low32)
		}
		if ok {
			return c.act
		}
	}
	return def
}

// holds evaluates one comparison the plain Go way.
func holds(a specs.LinuxSeccompArg, arg uint64, low32 bool) bool {
	v, v2 := a.Value, a.ValueTwo
	if low32 {
		arg, v, v2 = uint64(uint32(arg)), uint64(uint32(v)), uint64(uint32(v2))
	}
	switch a.Op {
	case specs.OpNotEqual:
		return arg != v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpEqualTo:
		return arg == v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpMaskedEqual:
		return arg&v == v2&v
	}
	panic("unknown op " + a.Op)
}
