package cgroups

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// deviceProgram translates a device policy into a BPF_PROG_TYPE_CGROUP_DEVICE
// program: cgroup v2's replacement for devices.allow/deny. The kernel runs
// it on every open(2) or mknod(2) of a device file by a process of the
// cgroup (and of its descendants); returning 0 makes that call fail with
// EPERM, 1 lets it through.
//
// The program sees a struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h)
// in R1:
//
//	offset 0  u32 access_type   low 16 bits: BPF_DEVCG_DEV_CHAR/BLOCK,
//	                            high 16 bits: BPF_DEVCG_ACC_READ|WRITE|MKNOD
//	offset 4  u32 major
//	offset 8  u32 minor
//
// and is devicePolicy.allowed written in eBPF, one block per rule from the
// last rule to the first, so that later rules win:
//
//	R2 = type  R3 = requested access bits still undecided  R4 = major  R5 = minor
//	rule-N:  if R2 != type  goto rule-N-1
//	         if R4 != major goto rule-N-1      (omitted for a wildcard)
//	         if R5 != minor goto rule-N-1      (omitted for a wildcard)
//	         if R3 & access == 0 goto rule-N-1  (the rule decides none of them)
//	deny:    return 0
//	allow:   R3 &^= access; if R3 != 0 goto rule-N-1; return 1
//	default: return 0 or 1
//
// runc's devicefilter package has the same shape (one block per rule, last
// first); the per-bit bookkeeping in R3 is minirun's, to keep v1's meaning
// for partial-access rules.
func deviceProgram(p devicePolicy) asm.Instructions {
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	label := func(i int) string {
		if i < 0 {
			return "default"
		}
		return fmt.Sprintf("rule-%d", i)
	}
	for i := len(p.rules) - 1; i >= 0; i-- {
		r := p.rules[i]
		next := label(i - 1)
		acc := int32(r.accessBits())
		block := asm.Instructions{asm.JNE.Imm(asm.R2, int32(r.devType()), next)}
		if r.major >= 0 {
			block = append(block, asm.JNE.Imm(asm.R4, int32(r.major), next))
		}
		if r.minor >= 0 {
			block = append(block, asm.JNE.Imm(asm.R5, int32(r.minor), next))
		}
		block = append(block,
			asm.Mov.Reg32(asm.R1, asm.R3),
			asm.And.Imm32(asm.R1, acc),
			asm.JEq.Imm(asm.R1, 0, next))
		if r.allow {
			block = append(block,
				asm.And.Imm32(asm.R3, ^acc&0x7),
				asm.JNE.Imm(asm.R3, 0, next),
				asm.Mov.Imm32(asm.R0, 1),
				asm.Return())
		} else {
			block = append(block,
				asm.Mov.Imm32(asm.R0, 0),
				asm.Return())
		}
		block[0] = block[0].WithSymbol(label(i))
		insts = append(insts, block...)
	}
	var def int32
	if p.defaultAllow {
		def = 1
	}
	insts = append(insts,
		asm.Mov.Imm32(asm.R0, def).WithSymbol("default"),
		asm.Return())
	return insts
}

// attachDeviceProgram loads the policy's program and attaches it to the
// cgroup directory dir, replacing the programs attached there before.
// It returns the new program's id, for `bpftool prog show id N`.
//
// NOTE: the attachment is made with BPF_PROG_ATTACH (link.RawAttachProgram),
// not with a bpf_link (link.AttachCgroup's first choice). A bpf_link lives
// as long as its file descriptor, so it would vanish when `minirun create`
// exits and leave the container with every device open; a program attached
// with BPF_PROG_ATTACH stays until it is detached or the cgroup is removed.
//
// ORDER: the new program is attached first, with BPF_F_ALLOW_MULTI, and
// only then are the old ones detached. While both are attached the kernel
// requires every program to allow an access, so the container never has
// more access than either the old or the new rules give it.
func attachDeviceProgram(dir string, p devicePolicy) (id ebpf.ProgramID, retErr error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "minirun_dev",
		Type:         ebpf.CGroupDevice,
		License:      "Dual MIT/GPL",
		Instructions: deviceProgram(p),
	})
	if err != nil {
		return 0, fmt.Errorf("load device program: %w", err)
	}
	// Closing our descriptor is fine: the attachment holds a reference.
	defer prog.Close()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	old, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return 0, fmt.Errorf("query device programs of %s: %w", dir, err)
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  fd,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return 0, fmt.Errorf("attach device program to %s: %w", dir, err)
	}
	info, err := prog.Info()
	if err == nil {
		id, _ = info.ID()
	}
	var errs []error
	for _, ap := range old.Programs {
		errs = append(errs, detachProgram(fd, ap.ID, dir))
	}
	return id, errors.Join(errs...)
}

// detachProgram detaches the device program with the given id from the
// cgroup open at fd.
func detachProgram(fd int, id ebpf.ProgramID, dir string) error {
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return fmt.Errorf("open old device program %d of %s: %w", id, dir, err)
	}
	defer prog.Close()
	if err := link.RawDetachProgram(link.RawDetachProgramOptions{
		Target:  fd,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
	}); err != nil {
		return fmt.Errorf("detach old device program %d from %s: %w", id, dir, err)
	}
	return nil
}

// deviceProgramIDs lists the device programs attached to the cgroup dir.
func deviceProgramIDs(dir string) ([]ebpf.ProgramID, error) {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	res, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return nil, fmt.Errorf("query device programs of %s: %w", dir, err)
	}
	ids := make([]ebpf.ProgramID, len(res.Programs))
	for i, p := range res.Programs {
		ids[i] = p.ID
	}
	return ids, nil
}
