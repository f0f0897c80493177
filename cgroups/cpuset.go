package cgroups

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planCPUSet plans the cpuset controller: which CPUs the container's
// threads may run on and which NUMA memory nodes its pages may come from.
// Same files on v1 and v2: cpuset.cpus, cpuset.mems.
//
// NOTE (v1): a new v1 cpuset cgroup starts with both files empty, and the
// kernel refuses to move a task into a cpuset with no CPU or no memory node
// (ENOSPC on cgroup.procs). The v1 Manager therefore copies the parent's
// values into every directory it creates (see v1Manager.Create); Plan only
// narrows them when the config asks. v2 has no such trap: an empty
// cpuset.cpus there means "inherit the parent's".
func planCPUSet(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	c := res.CPU
	if c == nil {
		return nil, nil
	}
	var out []Write
	if c.Cpus != "" {
		if err := checkList(c.Cpus); err != nil {
			return nil, fmt.Errorf("linux.resources.cpu.cpus %q: %w", c.Cpus, err)
		}
		out = append(out, Write{File: file(v2, "cpuset", "cpuset.cpus"), Value: c.Cpus})
	}
	if c.Mems != "" {
		if err := checkList(c.Mems); err != nil {
			return nil, fmt.Errorf("linux.resources.cpu.mems %q: %w", c.Mems, err)
		}
		out = append(out, Write{File: file(v2, "cpuset", "cpuset.mems"), Value: c.Mems})
	}
	return out, nil
}

// checkList checks the kernel's list format (cpuset(7), "List format"):
// comma-separated numbers and ranges, like "0-3,8,10-11".
func checkList(s string) error {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a number or range", part)
		}
		if !isRange {
			continue
		}
		b, err := strconv.ParseUint(hi, 10, 32)
		if err != nil || b < a {
			return fmt.Errorf("%q is not a valid range", part)
		}
	}
	return nil
}
