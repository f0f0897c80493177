package seccomp

import (
	"math/rand/v2"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func errno(n uint) *uint { return &n }

var allOps = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// interesting are 64-bit values around the places where a compiler that
// splits words gets it wrong: word boundaries, sign bits, all ones.
var interesting = []uint64{
	0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	0x1_0000_0000, 0x1_0000_0001, 0x1_ffff_ffff, 0x2_0000_0000,
	0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_0000_0000,
	0xffff_ffff_ffff_fffe, 0xffff_ffff_ffff_ffff, 0x0000_0001_8000_0000,
}

// value draws a 64-bit value: an interesting one, one glued from the words
// of two interesting ones, a neighbour of one, or a random one.
func value(r *rand.Rand) uint64 {
	pick := func() uint64 { return interesting[r.IntN(len(interesting))] }
	switch r.IntN(4) {
	case 0:
		return pick()
	case 1:
		return pick()&0xffff_ffff_0000_0000 | pick()&0xffff_ffff
	case 2:
		return pick() + uint64(r.IntN(3)) - 1
	default:
		return r.Uint64()
	}
}

// argNear draws an argument close to v (same high word, same low word, ±1,
// ±2^32) or anywhere.
func argNear(r *rand.Rand, v uint64) uint64 {
	switch r.IntN(7) {
	case 0:
		return v
	case 1:
		return v + 1
	case 2:
		return v - 1
	case 3:
		return v + 1<<32
	case 4:
		return v - 1<<32
	case 5:
		return v&0xffff_ffff_0000_0000 | value(r)&0xffff_ffff
	default:
		return value(r)
	}
}

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) []unix.SockFilter {
	t.Helper()
	prog, err := Compile(s)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if err := verify(prog); err != nil {
		t.Fatalf("kernel would refuse the program: %v\n%s", err, Disasm(prog))
	}
	return prog
}

func mustRun(t testing.TB, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	v, _, err := run(prog, d)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return v
}

// TestCompareOps checks every operator on 64-bit values, one comparison at
// a time, against Go's own comparison, on x86_64 (all 64 bits count) and
// on i386 (low 32 bits only).
func TestCompareOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	deny := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	for _, op := range allOps {
		for range 300 {
			idx := uint(r.IntN(6))
			arg := specs.LinuxSeccompArg{Index: idx, Value: value(r), ValueTwo: value(r), Op: op}
			s := &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{arg}}},
			}
			prog := mustCompile(t, s)
			for range 40 {
				var d seccompData
				for i := range d.args {
					d.args[i] = value(r)
				}
				if op == specs.OpMaskedEqual && r.IntN(2) == 0 {
					// make matches likely: copy the masked datum in
					d.args[idx] = d.args[idx]&^arg.Value | arg.ValueTwo&arg.Value
				} else {
					d.args[idx] = argNear(r, arg.Value)
				}
				for _, ab := range []struct {
					arch  uint32
					nr    uint32
					low32 bool
				}{{unix.AUDIT_ARCH_X86_64, syscallsX86_64["personality"], false}, {unix.AUDIT_ARCH_I386, syscallsI386["personality"], true}} {
					d.arch, d.nr = ab.arch, ab.nr
					want := deny
					if holds(arg, d.args[idx], ab.low32) {
						want = unix.SECCOMP_RET_ALLOW
					}
					if got := mustRun(t, prog, d); got != want {
						t.Fatalf("%s arg%d=%#x value=%#x valueTwo=%#x low32=%v: got %s, want %s\n%s",
							op, idx, d.args[idx], arg.Value, arg.ValueTwo, ab.low32, actionName(got), actionName(want), Disasm(prog))
					}
				}
			}
		}
	}
}

// The names the random profiles draw from: ones that differ between ABIs
// (socket is 41 on x86_64 and 359 on i386; rt_sigaction has its own x32
// number; arch_prctl and set_thread_area exist on some ABIs only), plus one
// no ABI has.
var randomNames = []string{"read", "write", "socket", "clone", "personality", "rt_sigaction",
	"arch_prctl", "set_thread_area", "mmap", "ioctl", "no_such_syscall"}

var randomActions = []struct {
	act   specs.LinuxSeccompAction
	errno *uint
}{
	{specs.ActAllow, nil}, {specs.ActErrno, nil}, {specs.ActErrno, errno(38)}, {specs.ActErrno, errno(1)},
	{specs.ActKillProcess, nil}, {specs.ActKillThread, nil}, {specs.ActKill, nil}, {specs.ActTrap, nil},
	{specs.ActLog, nil}, {specs.ActTrace, errno(7)}, {specs.ActNotify, nil},
}

func randomProfile(r *rand.Rand) *specs.LinuxSeccomp {
	da := randomActions[r.IntN(4)]
	s := &specs.LinuxSeccomp{DefaultAction: da.act, DefaultErrnoRet: da.errno}
	for _, a := range []specs.Arch{specs.ArchX86, specs.ArchX32, specs.ArchAARCH64} {
		if r.IntN(2) == 0 {
			s.Architectures = append(s.Architectures, a)
		}
	}
	for range r.IntN(12) {
		ra := randomActions[r.IntN(len(randomActions))]
		sc := specs.LinuxSyscall{Action: ra.act, ErrnoRet: ra.errno}
		for range 1 + r.IntN(3) {
			sc.Names = append(sc.Names, randomNames[r.IntN(len(randomNames))])
		}
		if r.IntN(3) > 0 {
			for range r.IntN(4) {
				sc.Args = append(sc.Args, specs.LinuxSeccompArg{
					Index: uint(r.IntN(3)), Op: allOps[r.IntN(len(allOps))], Value: value(r), ValueTwo: value(r)})
			}
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

// randomCall draws a call to one of the profile's syscalls (with
// arguments near the profile's values) on any ABI, or a random one.
func randomCall(r *rand.Rand, s *specs.LinuxSeccomp) seccompData {
	var d seccompData
	d.arch = []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64}[r.IntN(4)]
	name := randomNames[r.IntN(len(randomNames))]
	switch r.IntN(5) {
	case 0:
		d.nr = syscallsX86_64[name]
	case 1:
		d.nr = syscallsX32[name] | x32SyscallBit
	case 2:
		d.nr = syscallsI386[name]
	case 3:
		d.nr = r.Uint32()
	default:
		d.nr = uint32(r.IntN(600))
	}
	var vals []uint64
	for _, sc := range s.Syscalls {
		for _, a := range sc.Args {
			vals = append(vals, a.Value, a.ValueTwo&a.Value)
		}
	}
	for i := range d.args {
		if len(vals) > 0 && r.IntN(4) > 0 {
			d.args[i] = argNear(r, vals[r.IntN(len(vals))])
		} else {
			d.args[i] = value(r)
		}
	}
	return d
}

// TestRandomProfiles compiles random profiles (several rules per syscall,
// mixed actions, repeated argument indexes, ABIs listed or not) and checks
// the program against the reference on many calls.
func TestRandomProfiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		s := randomProfile(r)
		prog := mustCompile(t, s)
		for range 200 {
			d := randomCall(r, s)
			got, want := mustRun(t, prog, d), reference(s, d)
			if got != want {
				t.Fatalf("profile %d %+v\ncall %+v: got %s, want %s\n%s", i, s, d, actionName(got), actionName(want), Disasm(prog))
			}
		}
	}
}

// TestLongJumps builds programs where conditional jumps must cross more
// than 255 instructions (many argument rules for one syscall; many
// syscalls with rules in one subtree) and checks them.
func TestLongJumps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	// 150 rules on personality: the first rule's failure and the tree's
	// jumps around this block are far.
	for i := range 150 {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: errno(uint(i + 2)),
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(i) << 31, Op: specs.OpEqualTo}},
		})
	}
	// rules on low-numbered syscalls, so the left half of the tree is long
	for _, n := range []string{"read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap"} {
		for j := range 20 {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
				Names: []string{n}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: uint(j % 6), Value: value(r), Op: allOps[j%len(allOps)]}},
			})
		}
	}
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"exit_group", "getpid"}, Action: specs.ActAllow})
	prog := mustCompile(t, s)
	trampolines := 0
	for _, ins := range prog {
		if ins.Code == unix.BPF_JMP|unix.BPF_JA {
			trampolines++
		}
	}
	if trampolines == 0 {
		t.Fatalf("expected long jumps in a %d-instruction program", len(prog))
	}
	t.Logf("%d instructions, %d trampolines", len(prog), trampolines)
	for range 20000 {
		d := randomCall(r, s)
		d.arch = unix.AUDIT_ARCH_X86_64
		switch r.IntN(3) {
		case 0:
			d.nr = syscallsX86_64["personality"]
			d.args[0] = uint64(r.IntN(160)) << 31
		case 1:
			d.nr = uint32(r.IntN(12))
		}
		if got, want := mustRun(t, prog, d), reference(s, d); got != want {
			t.Fatalf("call %+v: got %s, want %s", d, actionName(got), actionName(want))
		}
	}
}

// TestABIs checks the architecture part on its own.
func TestABIs(t *testing.T) {
	allowRead := []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	kill := uint32(unix.SECCOMP_RET_KILL_THREAD)
	for _, tc := range []struct {
		name   string
		arches []specs.Arch
		d      seccompData
		want   uint32
	}{
		{"x86_64 read", nil, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0}, unix.SECCOMP_RET_ALLOW},
		{"x86_64 write", nil, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 1}, eperm},
		{"x32 not listed", nil, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: x32SyscallBit}, kill},
		{"nr -1 without x32", nil, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0xffffffff}, kill},
		{"i386 not listed", nil, seccompData{arch: unix.AUDIT_ARCH_I386, nr: 3}, kill},
		{"aarch64", []specs.Arch{specs.ArchAARCH64}, seccompData{arch: unix.AUDIT_ARCH_AARCH64, nr: 63}, kill},
		{"x32 read", []specs.Arch{specs.ArchX32}, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: x32SyscallBit}, unix.SECCOMP_RET_ALLOW},
		{"x32 nr -1", []specs.Arch{specs.ArchX32}, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0xffffffff}, eperm},
		{"i386 read is 3", []specs.Arch{specs.ArchX86}, seccompData{arch: unix.AUDIT_ARCH_I386, nr: 3}, unix.SECCOMP_RET_ALLOW},
		{"i386 0 is restart_syscall", []specs.Arch{specs.ArchX86}, seccompData{arch: unix.AUDIT_ARCH_I386, nr: 0}, eperm},
	} {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: tc.arches, Syscalls: allowRead}
		prog := mustCompile(t, s)
		if got := mustRun(t, prog, tc.d); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, actionName(got), actionName(tc.want))
		}
		if got := reference(s, tc.d); got != tc.want {
			t.Errorf("%s: reference says %s, want %s", tc.name, actionName(got), actionName(tc.want))
		}
	}
}

func TestActionValues(t *testing.T) {
	for _, tc := range []struct {
		act   specs.LinuxSeccompAction
		errno *uint
		want  uint32
	}{
		{specs.ActKill, nil, 0},
		{specs.ActKillThread, nil, 0},
		{specs.ActKillProcess, nil, 0x80000000},
		{specs.ActTrap, nil, 0x00030000},
		{specs.ActErrno, nil, 0x00050001},
		{specs.ActErrno, errno(38), 0x00050026},
		{specs.ActErrno, errno(0), 0x00050000},
		{specs.ActTrace, nil, 0x7ff00001},
		{specs.ActTrace, errno(9), 0x7ff00009},
		{specs.ActLog, nil, 0x7ffc0000},
		{specs.ActAllow, nil, 0x7fff0000},
		{specs.ActNotify, nil, 0x7fc00000},
	} {
		got, err := actionValue(tc.act, tc.errno)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %#x, %v; want %#x", tc.act, got, err, tc.want)
		}
	}
}

func TestMalformed(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, tc := range []struct {
		name, want string
		s          *specs.LinuxSeccomp
	}{
		{"nil", "no seccomp profile", nil},
		{"no default", "empty action", &specs.LinuxSeccomp{}},
		{"bad default", "SCMP_ACT_NOPE", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}},
		{"bad action", "SCMP_ACT_MAYBE", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{ok, {Names: []string{"write"}, Action: "SCMP_ACT_MAYBE"}}}},
		{"bad op", "SCMP_CMP_ABOUT", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"write"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ABOUT"}}}}}},
		{"index 6", "argument index 6", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"write"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}},
		{"no names", "no syscall names", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}}},
		{"errno on allow", "errnoRet", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: errno(1)}}}},
		{"errno too big", "16 bits", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(70000)}},
		{"bad arch", "SCMP_ARCH_Z80", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}},
		{"bad flag", "SECCOMP_FILTER_FLAG_FAST", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"}}},
	} {
		_, err := Compile(tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestUnknownNamesSkipped: a name no ABI has changes nothing; a name only
// some ABIs have applies on those.
func TestUnknownNamesSkipped(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_syscall", "arch_prctl", "set_thread_area"}, Action: specs.ActAllow}}}
	prog := mustCompile(t, s)
	base := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"arch_prctl", "set_thread_area"}, Action: specs.ActAllow}}})
	if Disasm(prog) != Disasm(base) {
		t.Errorf("an unknown name changed the program")
	}
	for _, tc := range []struct {
		d    seccompData
		want uint32
	}{
		{seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: syscallsX86_64["arch_prctl"]}, unix.SECCOMP_RET_ALLOW},
		{seccompData{arch: unix.AUDIT_ARCH_I386, nr: syscallsI386["arch_prctl"]}, unix.SECCOMP_RET_ALLOW},
		{seccompData{arch: unix.AUDIT_ARCH_I386, nr: syscallsI386["set_thread_area"]}, unix.SECCOMP_RET_ALLOW},
		// set_thread_area is 205 on x86_64 and is "64" only there: allowed
		{seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 205}, unix.SECCOMP_RET_ALLOW},
	} {
		if got := mustRun(t, prog, tc.d); got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.d, actionName(got), actionName(tc.want))
		}
	}
}

// TestRuleOrder pins the documented choices where rules overlap.
func TestRuleOrder(t *testing.T) {
	arg := func(v uint64) []specs.LinuxSeccompArg {
		return []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}}
	}
	nr := syscallsX86_64["personality"]
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxSyscall
		arg0  uint64
		want  uint32
	}{
		{"unconditional after argument rule wins", []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: errno(5), Args: arg(8)},
			{Names: []string{"personality"}, Action: specs.ActAllow}}, 8, unix.SECCOMP_RET_ALLOW},
		{"first unconditional wins", []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActLog},
			{Names: []string{"personality"}, Action: specs.ActAllow}}, 8, unix.SECCOMP_RET_LOG},
		{"first matching argument rule wins", []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: errno(5), Args: arg(8)},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpGreaterEqual}}}},
			8, unix.SECCOMP_RET_ERRNO | 5},
		{"rule with the default action is dropped", []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, Args: arg(8)},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpGreaterEqual}}}},
			8, unix.SECCOMP_RET_ALLOW},
		{"same index twice is OR", []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: append(arg(8), arg(9)...)}},
			9, unix.SECCOMP_RET_ALLOW},
		{"different indexes are AND", []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: append(arg(8),
				specs.LinuxSeccompArg{Index: 1, Value: 9, Op: specs.OpEqualTo})}},
			8, unix.SECCOMP_RET_ERRNO | 1},
	} {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: tc.rules}
		d := seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: nr, args: [6]uint64{tc.arg0}}
		if got := mustRun(t, mustCompile(t, s), d); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, actionName(got), actionName(tc.want))
		}
		if got := reference(s, d); got != tc.want {
			t.Errorf("%s: reference says %s, want %s", tc.name, actionName(got), actionName(tc.want))
		}
	}
}
