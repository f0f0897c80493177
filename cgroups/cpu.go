package cgroups

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Kernel bounds for the cpu controller (kernel/sched/core.c).
const (
	minShares   = 2       // MIN_SHARES
	maxShares   = 262144  // MAX_SHARES
	minCFSUs    = 1000    // 1 ms: the smallest quota or period
	maxPeriodUs = 1000000 // 1 s: the largest period
	// defaultPeriodUs is the period cgroup v2 uses when none is given
	// (Documentation/admin-guide/cgroup-v2.rst, "cpu.max").
	defaultPeriodUs = 100000
)

// planCPU plans the cpu controller: a weight (shares) for sharing the CPU
// when it is contended, a hard cap (quota per period, the CFS bandwidth
// controller) and, on v1 only, a realtime budget.
//
// v1 files: cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us,
// cpu.cfs_burst_us, cpu.rt_period_us, cpu.rt_runtime_us, cpu.idle.
// v2 files: cpu.weight, cpu.max ("QUOTA PERIOD"), cpu.max.burst, cpu.idle.
func planCPU(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	c := res.CPU
	if c == nil {
		return nil, nil
	}
	var out []Write
	if setU(c.Shares) {
		s := *c.Shares
		if s < minShares || s > maxShares {
			return nil, fmt.Errorf("linux.resources.cpu.shares %d: must be between %d and %d", s, minShares, maxShares)
		}
		if v2 {
			out = append(out, Write{File: "cpu.weight", Value: utoa(sharesToWeight(s))})
		} else {
			out = append(out, Write{File: "cpu/cpu.shares", Value: utoa(s)})
		}
	}
	if setU(c.Period) && (*c.Period < minCFSUs || *c.Period > maxPeriodUs) {
		return nil, fmt.Errorf("linux.resources.cpu.period %d: must be between %d and %d microseconds", *c.Period, minCFSUs, maxPeriodUs)
	}
	if set(c.Quota) && *c.Quota != -1 && *c.Quota < minCFSUs {
		return nil, fmt.Errorf("linux.resources.cpu.quota %d: must be -1 (no limit) or at least %d microseconds", *c.Quota, minCFSUs)
	}
	if v2 {
		// cpu.max takes both numbers in one write. Like runc, a period
		// without a quota writes "max PERIOD", and a quota without a
		// period uses the kernel's default period of 100ms.
		if set(c.Quota) || setU(c.Period) {
			q := "max"
			if set(c.Quota) && *c.Quota > 0 {
				q = itoa(*c.Quota)
			}
			period := uint64(defaultPeriodUs)
			if setU(c.Period) {
				period = *c.Period
			}
			out = append(out, Write{File: "cpu.max", Value: q + " " + utoa(period)})
		}
	} else {
		// Period first: the kernel checks quota against the period in
		// force, so a new quota is judged against the new period.
		if setU(c.Period) {
			out = append(out, Write{File: "cpu/cpu.cfs_period_us", Value: utoa(*c.Period)})
		}
		if set(c.Quota) {
			out = append(out, Write{File: "cpu/cpu.cfs_quota_us", Value: itoa(*c.Quota)})
		}
	}
	if c.Burst != nil {
		// After the quota: the burst may not exceed it.
		name := "cpu/cpu.cfs_burst_us"
		if v2 {
			name = "cpu.max.burst"
		}
		out = append(out, Write{File: name, Value: utoa(*c.Burst)})
	}
	if set(c.RealtimeRuntime) || setU(c.RealtimePeriod) {
		if v2 {
			return nil, fmt.Errorf("linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime CPU budget")
		}
		// Period before runtime, as runc does: the runtime must fit in
		// the period. NOTE: a new cgroup starts with rt_runtime_us 0, and
		// the kernel refuses a budget larger than what its parent has left,
		// so a realtime budget also needs one on /minirun (see
		// Documentation/scheduler/sched-rt-group.rst).
		if setU(c.RealtimePeriod) {
			out = append(out, Write{File: "cpu/cpu.rt_period_us", Value: utoa(*c.RealtimePeriod)})
		}
		if set(c.RealtimeRuntime) {
			if *c.RealtimeRuntime < -1 {
				return nil, fmt.Errorf("linux.resources.cpu.realtimeRuntime %d: must be -1 or positive", *c.RealtimeRuntime)
			}
			out = append(out, Write{File: "cpu/cpu.rt_runtime_us", Value: itoa(*c.RealtimeRuntime)})
		}
	}
	if c.Idle != nil {
		if *c.Idle != 0 && *c.Idle != 1 {
			return nil, fmt.Errorf("linux.resources.cpu.idle %d: must be 0 or 1", *c.Idle)
		}
		out = append(out, Write{File: file(v2, "cpu", "cpu.idle"), Value: itoa(*c.Idle)})
	}
	return out, nil
}

// sharesToWeight converts v1 cpu.shares (2..262144, default 1024) to v2
// cpu.weight (1..10000, default 100) with runc's linear formula, so the
// same config gives the same weight under both runtimes. The two defaults
// do not map onto each other (1024 becomes 39, not 100): a known quirk of
// this formula, kept for compatibility with runc and crun.
func sharesToWeight(shares uint64) uint64 {
	return 1 + ((shares-2)*9999)/262142
}
