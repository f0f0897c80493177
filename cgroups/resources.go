package cgroups

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Write is one value to write to one control file of a container's cgroup.
//
// File is relative to the container's cgroup directory. On cgroup v2 it is
// the file name ("memory.max"); on cgroup v1 it starts with the controller
// whose hierarchy holds it ("memory/memory.limit_in_bytes"), because each
// controller is a separate tree: the file lives at
// /sys/fs/cgroup/memory/<cgroup path>/memory.limit_in_bytes.
type Write struct {
	File  string
	Value string
	// Optional marks a write that is skipped when the kernel does not have
	// the file: memory.memsw.* exists only with swap accounting
	// (CONFIG_MEMCG_SWAP, swapaccount=1), hugetlb.*.rsvd.* only on 5.7+.
	// runc skips them the same way.
	Optional bool
}

// String shows the write the way a student would type it.
func (w Write) String() string {
	return fmt.Sprintf("echo '%s' > %s", w.Value, w.File)
}

// Plan turns the OCI config's linux.resources into the ordered list of
// control-file writes that enforce it under mode, without touching the host.
// It returns an error naming the field for any value the kernel would
// refuse or that the mode cannot express, so a bad config fails before any
// cgroup exists.
//
// Conventions, the ones runc follows: a nil pointer leaves the setting
// alone; for the limits where runc reads 0 as "not set" (cpu shares, quota
// and period, memory limit, reservation and swap, realtime values, blkio
// weight) 0 does the same; -1 means "no limit" (written "-1" on v1, "max" on
// v2). pids.limit follows runtime-spec 1.3: 0 is a real limit.
//
// The order is: devices, cpuset, cpu, memory, pids, block I/O, hugetlb,
// network, rdma, and last linux.resources.unified (v2), so that its raw
// values win over the typed fields, as in runc. Within a controller, the
// order the kernel needs (cfs period before quota, memory limit before
// memory+swap) is kept; see each planner.
//
// On cgroup v2 the device rules produce no write (there is no devices.allow
// file): they are checked here and become an eBPF program in Set.
func Plan(res *specs.LinuxResources, mode Mode) ([]Write, error) {
	if res == nil {
		return nil, nil
	}
	var out []Write
	for _, plan := range planners {
		ws, err := plan(res, mode.V2())
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// planners are the per-controller halves of Plan, in the order Plan
// applies them. Each reads its part of the resources and returns the writes
// for v1 (false) or v2 (true).
var planners = []func(res *specs.LinuxResources, v2 bool) ([]Write, error){
	planDevices,
	planCPUSet,
	planCPU,
	planMemory,
	planPids,
	planBlockIO,
	planHugetlb,
	planNetwork,
	planRdma,
	planUnified,
}

// file names a control file for the mode: on v1 it is prefixed with the
// controller that owns it.
func file(v2 bool, controller, name string) string {
	if v2 {
		return name
	}
	return controller + "/" + name
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// limit renders a byte or count limit: -1 is "no limit", written "-1" on
// v1 and "max" on v2.
func limit(v2 bool, v int64) string {
	if v == -1 && v2 {
		return "max"
	}
	return itoa(v)
}

// set reports whether an optional int64 carries a value (runc's reading:
// nil and 0 both mean "leave it alone").
func set(p *int64) bool { return p != nil && *p != 0 }

// setU is set for unsigned fields.
func setU(p *uint64) bool { return p != nil && *p != 0 }
