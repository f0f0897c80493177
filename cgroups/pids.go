package cgroups

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planPids plans the pids controller: the most tasks (processes and
// threads) the group may hold. Past it fork(2) and clone(2) fail with
// EAGAIN: the defence against a fork bomb in one container starving the
// host. Same file on v1 and v2: pids.max, "max" for no limit.
//
// runtime-spec 1.3 made the limit a pointer: nil leaves it alone, -1 means
// "max", and 0 is a real limit (no new task at all).
func planPids(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	if res.Pids == nil || res.Pids.Limit == nil {
		return nil, nil
	}
	n := *res.Pids.Limit
	if n < -1 {
		return nil, fmt.Errorf("linux.resources.pids.limit %d: must be -1 (no limit) or at least 0", n)
	}
	v := itoa(n)
	if n == -1 {
		v = "max"
	}
	return []Write{{File: file(v2, "pids", "pids.max"), Value: v}}, nil
}
