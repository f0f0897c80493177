package seccomp

//go:generate go run gen_syscalls.go

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32SyscallBit is __X32_SYSCALL_BIT: an x32 program runs on the x86_64
// entry point, so the kernel reports AUDIT_ARCH_X86_64 for it and the only
// way to tell it apart is this bit in the syscall number
// (arch/x86/include/uapi/asm/unistd.h).
const x32SyscallBit = 0x40000000

// abi is one of the three system call conventions an x86_64 kernel accepts:
// a filter written for x86_64 alone can be walked around by a program that
// enters the kernel through the i386 (int 0x80) or x32 doors, where the same
// number means another syscall. That is why every seccomp filter starts by
// checking seccomp_data.arch.
type abi struct {
	arch      specs.Arch
	auditArch uint32            // seccomp_data.arch, AUDIT_ARCH_* from <linux/audit.h>
	nrBit     uint32            // added to every number of table (x32SyscallBit for x32)
	table     map[string]uint32 // syscall name → number, from syscalls_table.go
	// words32 means libseccomp treats the ABI as 32-bit (ARCH_SIZE_32 in its
	// arch-*.c): argument comparisons look only at the low 32 bits of each
	// argument and of the profile's value. i386 and x32 are both 32-bit.
	words32 bool
}

var (
	abiX86_64 = &abi{arch: specs.ArchX86_64, auditArch: unix.AUDIT_ARCH_X86_64, table: syscallsX86_64}
	abiI386   = &abi{arch: specs.ArchX86, auditArch: unix.AUDIT_ARCH_I386, table: syscallsI386, words32: true}
	abiX32    = &abi{arch: specs.ArchX32, auditArch: unix.AUDIT_ARCH_X86_64, nrBit: x32SyscallBit, table: syscallsX32, words32: true}
)

// abis lists the ABIs in the order their sections appear in the program:
// the native one first, because it is the one almost every call uses.
var abis = []*abi{abiX86_64, abiX32, abiI386}

// number returns the syscall number of name in this ABI as seccomp_data.nr
// carries it, and false when the ABI has no such syscall.
func (a *abi) number(name string) (uint32, bool) {
	nr, ok := a.table[name]
	return nr | a.nrBit, ok
}

// knownArches are the architectures of the runtime spec. Only the x86 family
// can appear in seccomp_data.arch on an x86_64 kernel; the others are
// accepted (a profile written for many machines lists them all, as Docker's
// archMap does) and produce no code, since no syscall can carry them here.
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true, specs.ArchMIPS: true,
	specs.ArchMIPS64: true, specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true,
	specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true,
	specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true,
	specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true, specs.ArchM68K: true,
	specs.ArchSH: true, specs.ArchSHEB: true,
}
