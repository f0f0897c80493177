package cgroups

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	chr = unix.BPF_DEVCG_DEV_CHAR
	blk = unix.BPF_DEVCG_DEV_BLOCK
	r   = unix.BPF_DEVCG_ACC_READ
	wr  = unix.BPF_DEVCG_ACC_WRITE
	mk  = unix.BPF_DEVCG_ACC_MKNOD
)

func mustPolicy(t *testing.T, list []specs.LinuxDeviceCgroup) devicePolicy {
	t.Helper()
	rules, err := deviceRules(list)
	if err != nil {
		t.Fatal(err)
	}
	return newDevicePolicy(rules)
}

func rule(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major != -1 {
		d.Major = &major
	}
	if minor != -1 {
		d.Minor = &minor
	}
	return d
}

type query struct {
	typ, major, minor, access uint32
	want                      bool
}

// TestDevicePolicy pins down what a list of rules means; the eBPF program
// is then checked against this meaning (TestDeviceProgramMatchesPolicy).
func TestDevicePolicy(t *testing.T) {
	tests := []struct {
		name    string
		rules   []specs.LinuxDeviceCgroup
		queries []query
	}{
		{"no rule: deny, like v1's leading deny a", nil, []query{
			{chr, 1, 3, r, false}, {blk, 8, 0, r, false}}},
		{"allow all", []specs.LinuxDeviceCgroup{{Allow: true}}, []query{
			{chr, 1, 3, r | wr, true}, {blk, 8, 0, mk, true}}},
		{"allowlist", []specs.LinuxDeviceCgroup{{Allow: false}, rule(true, "c", 1, 3, "rwm")}, []query{
			{chr, 1, 3, r | wr, true}, {chr, 1, 5, r, false}, {blk, 1, 3, r, false}}},
		{"wildcard minor", []specs.LinuxDeviceCgroup{rule(true, "c", 136, -1, "rw")}, []query{
			{chr, 136, 0, r | wr, true}, {chr, 136, 7, r, true}, {chr, 136, 7, mk, false}, {chr, 5, 0, r, false}}},
		{"later partial deny wins for its bits", []specs.LinuxDeviceCgroup{rule(true, "c", 1, 3, "rw"), rule(false, "c", 1, 3, "w")}, []query{
			{chr, 1, 3, r, true}, {chr, 1, 3, wr, false}, {chr, 1, 3, r | wr, false}}},
		{"allows for different bits add up", []specs.LinuxDeviceCgroup{rule(true, "c", 1, 3, "r"), rule(true, "c", 1, 3, "w")}, []query{
			{chr, 1, 3, r | wr, true}, {chr, 1, 3, mk, false}}},
		{"mknod anywhere plus one device", []specs.LinuxDeviceCgroup{rule(true, "c", -1, -1, "m"), rule(true, "b", -1, -1, "m"), rule(true, "c", 1, 3, "rw")}, []query{
			{chr, 9, 9, mk, true}, {blk, 8, 0, mk, true}, {blk, 8, 0, r, false}, {chr, 1, 3, r | wr, true}}},
		{"denylist", []specs.LinuxDeviceCgroup{{Allow: true}, rule(false, "b", 8, -1, "w")}, []query{
			{blk, 8, 1, wr, false}, {blk, 8, 1, r, true}, {blk, 9, 1, wr, true}, {chr, 8, 1, wr, true}}},
		{"earlier deny overridden by later allow", []specs.LinuxDeviceCgroup{rule(false, "c", 1, 3, "rwm"), rule(true, "c", 1, 3, "r")}, []query{
			{chr, 1, 3, r, true}, {chr, 1, 3, r | wr, false}}},
		{"a reset forgets everything before it", []specs.LinuxDeviceCgroup{rule(true, "c", 1, 3, "rwm"), {Allow: false}}, []query{
			{chr, 1, 3, r, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.rules)
			for _, q := range tt.queries {
				if got := p.allowed(q.typ, q.major, q.minor, q.access); got != q.want {
					t.Errorf("allowed(type %d, %d:%d, access %03b) = %v, want %v", q.typ, q.major, q.minor, q.access, got, q.want)
				}
				if got := runDeviceProgram(t, deviceProgram(p), q.typ, q.major, q.minor, q.access); got != q.want {
					t.Errorf("program(type %d, %d:%d, access %03b) = %v, want %v", q.typ, q.major, q.minor, q.access, got, q.want)
				}
			}
		})
	}
}

// TestDeviceProgramMatchesPolicy runs the generated eBPF program, on a
// small interpreter of the instructions it uses, for random rule lists and
// every query over a small device space, and compares it with
// devicePolicy.allowed. The real kernel runs the same program in the root
// tests.
func TestDeviceProgramMatchesPolicy(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	types := []string{"c", "b"}
	nums := []int64{-1, 1, 8}
	accesses := []string{"r", "w", "m", "rw", "rm", "wm", "rwm"}
	for iter := 0; iter < 500; iter++ {
		var list []specs.LinuxDeviceCgroup
		for n := rng.Intn(6); n >= 0; n-- {
			if rng.Intn(8) == 0 {
				list = append(list, specs.LinuxDeviceCgroup{Allow: rng.Intn(2) == 0})
				continue
			}
			list = append(list, rule(rng.Intn(2) == 0, types[rng.Intn(2)], nums[rng.Intn(3)], nums[rng.Intn(3)], accesses[rng.Intn(len(accesses))]))
		}
		p := mustPolicy(t, list)
		prog := deviceProgram(p)
		for _, typ := range []uint32{chr, blk} {
			for _, major := range []uint32{1, 8, 9} {
				for _, minor := range []uint32{1, 8, 9} {
					for access := uint32(1); access <= 7; access++ {
						want := p.allowed(typ, major, minor, access)
						if got := runDeviceProgram(t, prog, typ, major, minor, access); got != want {
							t.Fatalf("rules %s: type %d %d:%d access %03b: program says %v, policy %v\n%v",
								fmt.Sprint(list), typ, major, minor, access, got, want, prog)
						}
					}
				}
			}
		}
	}
}

// runDeviceProgram interprets the few eBPF instructions deviceProgram
// emits (32-bit loads from the context, 32-bit ALU, conditional jumps to
// symbols, exit) for one bpf_cgroup_dev_ctx.
func runDeviceProgram(t *testing.T, insts asm.Instructions, typ, major, minor, access uint32) bool {
	t.Helper()
	syms := map[string]int{}
	for i, ins := range insts {
		if s := ins.Symbol(); s != "" {
			syms[s] = i
		}
	}
	ctx := [3]uint32{access<<16 | typ, major, minor}
	var reg [11]uint64
	for pc, steps := 0, 0; steps < 10000; steps++ {
		if pc >= len(insts) {
			t.Fatalf("ran off the end of the program")
		}
		ins := insts[pc]
		op := ins.OpCode
		switch op.Class() {
		case asm.LdXClass:
			if ins.Src != asm.R1 || op.Size() != asm.Word || ins.Offset%4 != 0 || ins.Offset > 8 {
				t.Fatalf("unexpected load %v", ins)
			}
			reg[ins.Dst] = uint64(ctx[ins.Offset/4])
			pc++
		case asm.ALUClass:
			src := uint32(ins.Constant)
			if op.Source() == asm.RegSource {
				src = uint32(reg[ins.Src])
			}
			v := uint32(reg[ins.Dst])
			switch op.ALUOp() {
			case asm.And:
				v &= src
			case asm.RSh:
				v >>= src
			case asm.Mov:
				v = src
			default:
				t.Fatalf("unexpected ALU op %v", ins)
			}
			reg[ins.Dst] = uint64(v)
			pc++
		case asm.JumpClass:
			if op.JumpOp() == asm.Exit {
				return reg[0] == 1
			}
			cmp := uint64(ins.Constant)
			if op.Source() == asm.RegSource {
				cmp = reg[ins.Src]
			}
			target, ok := syms[ins.Reference()]
			if !ok || target <= pc {
				t.Fatalf("jump %v to unknown or backward symbol", ins)
			}
			var take bool
			switch op.JumpOp() {
			case asm.JNE:
				take = reg[ins.Dst] != cmp
			case asm.JEq:
				take = reg[ins.Dst] == cmp
			default:
				t.Fatalf("unexpected jump %v", ins)
			}
			if take {
				pc = target
			} else {
				pc++
			}
		default:
			t.Fatalf("unexpected instruction %v", ins)
		}
	}
	t.Fatal("program did not exit")
	return false
}
