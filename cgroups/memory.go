package cgroups

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planMemory plans the memory controller: a hard limit (past it the
// kernel reclaims the group's pages and, failing that, OOM-kills one of its
// processes), a limit on memory plus swap, a soft reservation, and v1's
// OOM-killer switch.
//
// v1 files: memory.limit_in_bytes, memory.memsw.limit_in_bytes,
// memory.soft_limit_in_bytes, memory.swappiness, memory.oom_control,
// memory.use_hierarchy, memory.kmem.tcp.limit_in_bytes.
// v2 files: memory.max, memory.swap.max, memory.low.
func planMemory(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	m := res.Memory
	if m == nil {
		return nil, nil
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"limit", m.Limit}, {"swap", m.Swap}, {"reservation", m.Reservation}} {
		if f.v != nil && *f.v < -1 {
			return nil, fmt.Errorf("linux.resources.memory.%s %d: must be -1 (no limit) or positive", f.name, *f.v)
		}
	}
	if set(m.Limit) && set(m.Swap) && *m.Swap != -1 && (*m.Limit == -1 || *m.Swap < *m.Limit) {
		// The spec's swap is memory+swap, so it can never be below the
		// memory limit (the kernel refuses it on v1, runc refuses it on v2).
		return nil, fmt.Errorf("linux.resources.memory.swap %d: memory+swap must be -1 or at least memory.limit %d", *m.Swap, *m.Limit)
	}
	if m.Kernel != nil && *m.Kernel != 0 {
		return nil, errors.New("linux.resources.memory.kernel: kernel memory limits are deprecated by the runtime spec and refused by Linux 5.16+ (the kernel's memory is counted in memory.limit)")
	}
	if v2 {
		return planMemoryV2(m)
	}
	return planMemoryV1(m)
}

func planMemoryV1(m *specs.LinuxMemory) ([]Write, error) {
	var out []Write
	// ORDER: the kernel keeps memsw.limit >= limit at every write
	// (mem_cgroup_resize_max returns EINVAL otherwise). From a new cgroup,
	// where both are unlimited, and when lowering, the limit must go first;
	// when raising the limit above the current memsw, memsw must go first.
	// Plan cannot read the current value, so it returns the order for a new
	// cgroup and v1Manager.Set swaps the two when raising (orderMemoryV1).
	if set(m.Limit) {
		out = append(out, Write{File: "memory/memory.limit_in_bytes", Value: itoa(*m.Limit)})
	}
	switch {
	case set(m.Swap):
		out = append(out, Write{File: "memory/memory.memsw.limit_in_bytes", Value: itoa(*m.Swap), Optional: true})
	case set(m.Limit) && *m.Limit == -1:
		// runc's rule: "memory unlimited" with swap unset lifts the
		// memory+swap limit too, or the old memsw would still cap it.
		out = append(out, Write{File: "memory/memory.memsw.limit_in_bytes", Value: "-1", Optional: true})
	}
	if set(m.Reservation) {
		out = append(out, Write{File: "memory/memory.soft_limit_in_bytes", Value: itoa(*m.Reservation)})
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			return nil, fmt.Errorf("linux.resources.memory.swappiness %d: must be between 0 and 100", *m.Swappiness)
		}
		out = append(out, Write{File: "memory/memory.swappiness", Value: utoa(*m.Swappiness)})
	}
	if m.DisableOOMKiller != nil {
		out = append(out, Write{File: "memory/memory.oom_control", Value: boolValue(*m.DisableOOMKiller)})
	}
	if m.UseHierarchy != nil {
		out = append(out, Write{File: "memory/memory.use_hierarchy", Value: boolValue(*m.UseHierarchy)})
	}
	if set(m.KernelTCP) {
		out = append(out, Write{File: "memory/memory.kmem.tcp.limit_in_bytes", Value: itoa(*m.KernelTCP)})
	}
	return out, nil
}

func planMemoryV2(m *specs.LinuxMemory) ([]Write, error) {
	var out []Write
	// v2 has no ordering trap: memory.max and memory.swap.max are
	// independent limits.
	if set(m.Limit) {
		out = append(out, Write{File: "memory.max", Value: limit(true, *m.Limit)})
	}
	var lim int64
	if m.Limit != nil {
		lim = *m.Limit
	}
	var swap int64
	if m.Swap != nil {
		swap = *m.Swap
	}
	sw, ok, err := swapToV2(swap, lim)
	if err != nil {
		return nil, fmt.Errorf("linux.resources.memory.swap: %w", err)
	}
	if ok {
		out = append(out, Write{File: "memory.swap.max", Value: limit(true, sw)})
	}
	if set(m.Reservation) {
		out = append(out, Write{File: "memory.low", Value: limit(true, *m.Reservation)})
	}
	if m.Swappiness != nil {
		return nil, errors.New("linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness")
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		return nil, errors.New("linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer")
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		return nil, errors.New("linux.resources.memory.useHierarchy false: cgroup v2 is always hierarchical")
	}
	if set(m.KernelTCP) {
		return nil, errors.New("linux.resources.memory.kernelTCP: cgroup v2 has no separate TCP memory limit")
	}
	return out, nil
}

// swapToV2 converts the runtime spec's memory+swap limit into cgroup v2's
// swap-only memory.swap.max, the way runc does
// (ConvertMemorySwapToCgroupV2Value): swap.max = memsw - limit. It reports
// ok=false when nothing is to be written.
func swapToV2(memsw, mem int64) (v int64, ok bool, err error) {
	switch {
	case mem == -1 && memsw == 0:
		// "Memory unlimited" with swap unset: unlimited swap too, as v1
		// would behave.
		return -1, true, nil
	case memsw == 0:
		return 0, false, nil
	case memsw == -1:
		return -1, true, nil
	case mem == 0 || mem == -1:
		return 0, false, errors.New("a memory+swap limit needs a memory limit to subtract")
	case memsw < mem:
		return 0, false, fmt.Errorf("memory+swap %d is lower than the memory limit %d", memsw, mem)
	}
	return memsw - mem, true, nil
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
