package seccomp

// Code generation: from a checked filter to classic BPF.
//
// The program has this shape (x32 and i386 parts only when the profile
// lists those architectures):
//
//	    ld  [arch]
//	    jeq AUDIT_ARCH_X86_64 → native
//	    jeq AUDIT_ARCH_I386   → i386
//	    ret KILL_THREAD              ; an ABI the profile does not list
//	native:
//	    ld  [nr]
//	    jge __X32_SYSCALL_BIT → x32  ; or → ret KILL_THREAD without x32
//	    <search tree over x86_64 numbers>
//	x32:
//	    <search tree over x32 numbers>
//	i386:
//	    ld  [nr]
//	    <search tree over i386 numbers>
//
// Each search tree is a binary search over ranges of syscall numbers: the
// numbers a profile does not name, and runs of consecutive numbers with the
// same unconditional action, collapse into one range each, so Docker's
// profile needs a few dozen comparisons per ABI instead of one per syscall,
// and any syscall is decided after about log2(ranges) jumps. A range that is
// one syscall with argument rules ends in those rules' comparisons.

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Compile turns an OCI seccomp profile into the classic BPF program that
// seccomp(2) installs. It is pure: the result depends only on s (and on the
// syscall tables built into minirun), so it can be inspected and tested
// without installing anything. The program is for an x86_64 kernel.
//
// Malformed profiles (an unknown action, operator, flag or architecture, an
// argument index above 5, an errnoRet where it does not belong) are errors;
// syscall names an ABI does not have are skipped (see doc.go).
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	f, err := check(s)
	if err != nil {
		return nil, err
	}
	prog, err := f.program()
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	return prog, nil
}

func (f *filter) section(a *abi) *section {
	for _, s := range f.sections {
		if s.abi == a {
			return s
		}
	}
	return nil
}

func (f *filter) program() ([]unix.SockFilter, error) {
	var a asm
	native, x32, i386 := f.section(abiX86_64), f.section(abiX32), f.section(abiI386)
	nativeL, x32L, i386L := a.newLabel(), a.newLabel(), a.newLabel()

	a.loadWord(offArch)
	a.jump(unix.BPF_JEQ, unix.AUDIT_ARCH_X86_64, nativeL, next)
	if i386 != nil {
		a.jump(unix.BPF_JEQ, unix.AUDIT_ARCH_I386, i386L, next)
	}
	a.ret(badArchAction)

	a.place(nativeL)
	a.loadWord(offNr)
	if x32 != nil {
		a.jump(unix.BPF_JGE, x32SyscallBit, x32L, next)
	} else {
		// Same AUDIT_ARCH as x86_64, so only the number gives x32 away:
		// without this check an x32 call would be judged by the x86_64
		// rules of whatever number it happens to carry.
		tree := a.newLabel()
		a.jump(unix.BPF_JGE, x32SyscallBit, next, tree)
		a.ret(badArchAction)
		a.place(tree)
	}
	f.tree(&a, native, f.spans(native, 0, x32SyscallBit-1))
	if x32 != nil {
		a.place(x32L)
		f.tree(&a, x32, f.spans(x32, x32SyscallBit, 0xffffffff))
	}
	if i386 != nil {
		a.place(i386L)
		a.loadWord(offNr)
		f.tree(&a, i386, f.spans(i386, 0, 0xffffffff))
	}
	return a.assemble()
}

// span is a range of syscall numbers [lo, hi] decided the same way: by an
// action, or (call != nil, lo == hi) by the argument rules of one syscall.
type span struct {
	lo, hi uint32
	action uint32
	call   *call
}

// spans covers [lo, hi] with the section's syscalls and the gaps between
// them, merging neighbours that end in the same action.
func (f *filter) spans(sec *section, lo, hi uint32) []span {
	var out []span
	add := func(s span) {
		if n := len(out); n > 0 && s.call == nil && out[n-1].call == nil && out[n-1].action == s.action {
			out[n-1].hi = s.hi
			return
		}
		out = append(out, s)
	}
	cur := uint64(lo)
	for _, c := range sec.calls {
		if uint64(c.nr) > cur {
			add(span{lo: uint32(cur), hi: c.nr - 1, action: f.defaultAction})
		}
		if c.unconditional() {
			add(span{lo: c.nr, hi: c.nr, action: c.rules[0].action})
		} else {
			add(span{lo: c.nr, hi: c.nr, call: c})
		}
		cur = uint64(c.nr) + 1
	}
	if cur <= uint64(hi) {
		add(span{lo: uint32(cur), hi: hi, action: f.defaultAction})
	}
	return out
}

// tree emits a binary search over spans; A holds the syscall number.
func (f *filter) tree(a *asm, sec *section, spans []span) {
	if len(spans) == 1 {
		s := spans[0]
		if s.call == nil {
			a.ret(s.action)
			return
		}
		f.rules(a, sec.abi, s.call)
		return
	}
	mid := len(spans) / 2
	right := a.newLabel()
	a.jump(unix.BPF_JGE, spans[mid].lo, right, next)
	f.tree(a, sec, spans[:mid])
	a.place(right)
	f.tree(a, sec, spans[mid:])
}

// rules emits the argument rules of one syscall: each rule's comparisons,
// any failing one skipping to the next rule, then the default action. The
// comparisons load arguments into A, so nothing after them may need the
// syscall number again: every path ends in a ret.
func (f *filter) rules(a *asm, ab *abi, c *call) {
	for _, r := range c.rules {
		fail := a.newLabel()
		for _, arg := range r.args {
			compare(a, arg, ab.words32, fail)
		}
		a.ret(r.action)
		a.place(fail)
	}
	a.ret(f.defaultAction)
}

// compare emits code that falls through when the comparison holds and jumps
// to fail when it does not.
//
// seccomp_data holds each argument as 64 bits, but classic BPF works on 32
// at a time, so a 64-bit comparison is two: the high words decide unless
// they are equal, then the low words decide. Comparing only the low word
// would let 0x1_0000_0000 pass for 0 — and the kernel uses all 64 bits of
// a long or pointer argument. All comparisons are unsigned, as in
// libseccomp. On the 32-bit ABIs (words32) only the low words are compared,
// as libseccomp does (it "implicitly strips off the upper 32 bit").
func compare(a *asm, arg specs.LinuxSeccompArg, words32 bool, fail label) {
	lo, hi := argLo(arg.Index), argHi(arg.Index)
	if arg.Op == specs.OpMaskedEqual {
		// (arg & mask) == datum, with datum masked first as libseccomp
		// does (_db_node_mask_fixup): bits outside the mask never count.
		mask, datum := arg.Value, arg.ValueTwo&arg.Value
		if !words32 {
			maskedWord(a, hi, uint32(mask>>32), uint32(datum>>32), fail)
		}
		maskedWord(a, lo, uint32(mask), uint32(datum), fail)
		return
	}
	ok := a.newLabel()
	vhi, vlo := uint32(arg.Value>>32), uint32(arg.Value)
	if !words32 {
		a.loadWord(hi)
		switch arg.Op {
		case specs.OpEqualTo:
			a.jump(unix.BPF_JEQ, vhi, next, fail)
		case specs.OpNotEqual:
			a.jump(unix.BPF_JEQ, vhi, next, ok)
		case specs.OpGreaterThan, specs.OpGreaterEqual:
			a.jump(unix.BPF_JGT, vhi, ok, next)
			a.jump(unix.BPF_JEQ, vhi, next, fail)
		case specs.OpLessThan, specs.OpLessEqual:
			a.jump(unix.BPF_JGT, vhi, fail, next)
			a.jump(unix.BPF_JEQ, vhi, next, ok)
		}
	}
	// High words equal (or ignored): the low words decide.
	a.loadWord(lo)
	switch arg.Op {
	case specs.OpEqualTo:
		a.jump(unix.BPF_JEQ, vlo, ok, fail)
	case specs.OpNotEqual:
		a.jump(unix.BPF_JEQ, vlo, fail, ok)
	case specs.OpGreaterThan:
		a.jump(unix.BPF_JGT, vlo, ok, fail)
	case specs.OpGreaterEqual:
		a.jump(unix.BPF_JGE, vlo, ok, fail)
	case specs.OpLessThan:
		a.jump(unix.BPF_JGE, vlo, fail, ok)
	case specs.OpLessEqual:
		a.jump(unix.BPF_JGT, vlo, fail, ok)
	}
	a.place(ok)
}

// maskedWord compares one 32-bit word of a masked comparison. A zero mask
// makes the word irrelevant (datum is masked too), so it emits nothing; an
// all-ones mask needs no "and".
func maskedWord(a *asm, off, mask, datum uint32, fail label) {
	if mask == 0 {
		return
	}
	a.loadWord(off)
	if mask != 0xffffffff {
		a.and(mask)
	}
	a.jump(unix.BPF_JEQ, datum, next, fail)
}
