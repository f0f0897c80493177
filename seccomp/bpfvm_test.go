package seccomp

// A classic BPF interpreter for seccomp programs, written from the kernel's
// rules (Documentation/networking/filter.rst, kernel/seccomp.c
// seccomp_check_filter): the tests run compiled profiles on it instead of
// trusting the compiler's own idea of what it emitted.

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// seccompData mirrors struct seccomp_data.
type seccompData struct {
	nr   uint32 // an int in the kernel; -1 is 0xffffffff
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// verify applies the checks the kernel makes before accepting a program.
func verify(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("length %d out of 1..%d", len(prog), maxInsns)
	}
	for pc, ins := range prog {
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if ins.K >= 64 || ins.K%4 != 0 {
				return fmt.Errorf("%d: load at bad offset %d", pc, ins.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_RET | unix.BPF_K:
		case unix.BPF_JMP | unix.BPF_JA:
			if uint64(pc)+1+uint64(ins.K) >= uint64(len(prog)) {
				return fmt.Errorf("%d: ja out of the program", pc)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if pc+1+int(ins.Jt) >= len(prog) || pc+1+int(ins.Jf) >= len(prog) {
				return fmt.Errorf("%d: jump out of the program", pc)
			}
		default:
			return fmt.Errorf("%d: opcode %#x not expected in a seccomp filter here", pc, ins.Code)
		}
	}
	if prog[len(prog)-1].Code&0x07 != unix.BPF_RET {
		return fmt.Errorf("last instruction is not a ret")
	}
	return nil
}

// run executes prog on d and returns the action and the number of
// instructions executed.
func run(prog []unix.SockFilter, d seccompData) (uint32, int, error) {
	if err := verify(prog); err != nil {
		return 0, 0, err
	}
	data := d.bytes()
	var acc uint32
	steps := 0
	for pc := 0; pc < len(prog); pc++ {
		steps++
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= ins.K
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, steps, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		default:
			var cond bool
			switch ins.Code &^ (0x07 | unix.BPF_K) {
			case unix.BPF_JEQ:
				cond = acc == ins.K
			case unix.BPF_JGT:
				cond = acc > ins.K
			case unix.BPF_JGE:
				cond = acc >= ins.K
			case unix.BPF_JSET:
				cond = acc&ins.K != 0
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		}
	}
	return 0, steps, fmt.Errorf("fell off the end")
}
