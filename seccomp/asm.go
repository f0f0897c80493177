package seccomp

// A tiny assembler for classic BPF (the language of seccomp filters, see
// Documentation/networking/filter.rst in the kernel): code is written
// forward with symbolic labels and assembled back to front.
//
// Two properties of classic BPF shape it:
//   - jumps only go forward, so a program is a DAG and every jump target is
//     already placed when we assemble from the end towards the start;
//   - a conditional jump stores its two offsets (jt, jf) in 8 bits, so it can
//     skip at most 255 instructions. A farther target needs a trampoline: an
//     unconditional "ja" (32-bit offset) placed right after the jump, which
//     the jump then targets with offset 0. Forgetting this silently truncates
//     the offset to the wrong instruction — a classic hand-written-filter bug.

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// maxInsns is BPF_MAXINSNS: the kernel refuses longer programs.
const maxInsns = 4096

// label names a place in the program. The zero label, next, means "the
// instruction that follows" (offset 0).
type label int

const next label = 0

type item struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps only
	mark   label // non-zero: this item only marks where a label is
}

type asm struct {
	items  []item
	labels int
}

func (a *asm) newLabel() label {
	a.labels++
	return label(a.labels)
}

// place puts l on the next instruction emitted.
func (a *asm) place(l label) { a.items = append(a.items, item{mark: l}) }

// loadWord loads the 32-bit word at offset off of seccomp_data into A.
func (a *asm) loadWord(off uint32) {
	a.items = append(a.items, item{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off})
}

// and computes A &= k.
func (a *asm) and(k uint32) {
	a.items = append(a.items, item{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: k})
}

// jump compares A with k (op is BPF_JEQ, BPF_JGT, BPF_JGE or BPF_JSET) and
// continues at jt when the comparison holds, at jf when it does not.
func (a *asm) jump(op uint16, k uint32, jt, jf label) {
	a.items = append(a.items, item{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

// ret ends the program with the seccomp action v.
func (a *asm) ret(v uint32) {
	a.items = append(a.items, item{code: unix.BPF_RET | unix.BPF_K, k: v})
}

// assemble resolves labels and inserts trampolines, walking the items from
// the last to the first. rev[e] is the instruction e places before the end
// (rev[0] is the last one); a jump at e to a target at t skips e-t-1
// instructions.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	pos := make([]int, a.labels+1) // label → index from the end, -1 if not placed yet
	for i := range pos {
		pos[i] = -1
	}
	var rev []unix.SockFilter
	// resolve returns the index from the end of target, as seen from an
	// instruction about to be appended.
	resolve := func(l label) (int, error) {
		if len(rev) == 0 {
			return 0, fmt.Errorf("bpf: jump past the end of the program")
		}
		if l == next {
			return len(rev) - 1, nil
		}
		if pos[l] < 0 {
			return 0, fmt.Errorf("bpf: label %d is not placed after its jump", l)
		}
		return pos[l], nil
	}
	for i := len(a.items) - 1; i >= 0; i-- {
		it := a.items[i]
		switch {
		case it.mark != 0:
			if len(rev) == 0 {
				return nil, fmt.Errorf("bpf: label %d marks the end of the program", it.mark)
			}
			pos[it.mark] = len(rev) - 1
		case it.code&0x07 == unix.BPF_JMP:
			tt, err := resolve(it.jt)
			if err != nil {
				return nil, err
			}
			tf, err := resolve(it.jf)
			if err != nil {
				return nil, err
			}
			// Too far for 8 bits: bounce through a "ja" placed just after
			// this jump. The jt trampoline is appended first, so in program
			// order it comes last; both stay within reach (offsets 0 and 1).
			if len(rev)-tt-1 > 255 {
				rev = append(rev, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(len(rev) - tt - 1)})
				tt = len(rev) - 1
			}
			if len(rev)-tf-1 > 255 {
				rev = append(rev, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(len(rev) - tf - 1)})
				tf = len(rev) - 1
			}
			e := len(rev)
			rev = append(rev, unix.SockFilter{Code: it.code, K: it.k, Jt: uint8(e - tt - 1), Jf: uint8(e - tf - 1)})
		default:
			rev = append(rev, unix.SockFilter{Code: it.code, K: it.k})
		}
	}
	if len(rev) > maxInsns {
		return nil, fmt.Errorf("bpf: program has %d instructions, the kernel accepts at most %d", len(rev), maxInsns)
	}
	prog := make([]unix.SockFilter, len(rev))
	for i, ins := range rev {
		prog[len(rev)-1-i] = ins
	}
	return prog, nil
}

// Disasm returns a program in the notation of the kernel's bpf_dbg and
// libseccomp's scmp_bpf_disasm: one instruction per line, jump targets as
// absolute line numbers, seccomp_data offsets and return values named. It
// is what `minirun explain` shows of a compiled profile.
func Disasm(prog []unix.SockFilter) string {
	var b strings.Builder
	for i, ins := range prog {
		fmt.Fprintf(&b, "%04d: ", i)
		switch {
		case ins.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_ABS:
			fmt.Fprintf(&b, "ld  [%d]%s", ins.K, fieldName(ins.K))
		case ins.Code == unix.BPF_ALU|unix.BPF_AND|unix.BPF_K:
			fmt.Fprintf(&b, "and #%#x", ins.K)
		case ins.Code == unix.BPF_JMP|unix.BPF_JA:
			fmt.Fprintf(&b, "ja  %04d", i+1+int(ins.K))
		case ins.Code&0x07 == unix.BPF_JMP:
			op := map[uint16]string{unix.BPF_JEQ: "jeq", unix.BPF_JGT: "jgt", unix.BPF_JGE: "jge", unix.BPF_JSET: "jset"}[ins.Code&0xf0]
			fmt.Fprintf(&b, "%-3s #%#x, %04d, %04d", op, ins.K, i+1+int(ins.Jt), i+1+int(ins.Jf))
		case ins.Code == unix.BPF_RET|unix.BPF_K:
			fmt.Fprintf(&b, "ret %s", actionName(ins.K))
		default:
			fmt.Fprintf(&b, "code=%#x jt=%d jf=%d k=%#x", ins.Code, ins.Jt, ins.Jf, ins.K)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Offsets in struct seccomp_data (<linux/seccomp.h>):
//
//	struct seccomp_data {
//		int   nr;                   // offset 0
//		__u32 arch;                 // offset 4
//		__u64 instruction_pointer;  // offset 8
//		__u64 args[6];              // offset 16 + 8*i
//	};
//
// x86 is little-endian: the low half of args[i] comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

func argLo(i uint) uint32 { return offArgs + 8*uint32(i) }
func argHi(i uint) uint32 { return offArgs + 8*uint32(i) + 4 }

func fieldName(off uint32) string {
	switch {
	case off == offNr:
		return "  ; nr"
	case off == offArch:
		return "  ; arch"
	case off >= offArgs && off < offArgs+6*8:
		half := "lo"
		if (off-offArgs)%8 == 4 {
			half = "hi"
		}
		return fmt.Sprintf("  ; args[%d] %s", (off-offArgs)/8, half)
	}
	return ""
}

func actionName(v uint32) string {
	data := v & unix.SECCOMP_RET_DATA
	switch v & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return "TRAP"
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("ERRNO(%d)", data)
	case unix.SECCOMP_RET_USER_NOTIF:
		return "USER_NOTIF"
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", data)
	case unix.SECCOMP_RET_LOG:
		return "LOG"
	case unix.SECCOMP_RET_ALLOW:
		return "ALLOW"
	}
	return fmt.Sprintf("%#x", v)
}
