package cgroups

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// managedFiles are the cgroup v2 core files minirun itself drives; a config
// may not write them through linux.resources.unified, or it could move
// processes or freeze the container behind minirun's back.
var managedFiles = []string{
	"cgroup.procs", "cgroup.threads", "cgroup.subtree_control",
	"cgroup.freeze", "cgroup.kill", "cgroup.type",
}

// planUnified plans linux.resources.unified: raw cgroup v2 "file: value"
// pairs (e.g. "memory.high": "50M") for settings the typed fields do not
// cover. They are written last, in file-name order, so they win over the
// typed fields as in runc. Cgroup v1 has no such escape hatch.
func planUnified(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	if len(res.Unified) == 0 {
		return nil, nil
	}
	if !v2 {
		return nil, errors.New("linux.resources.unified: only for cgroup v2, and this machine uses v1 controllers")
	}
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Write, 0, len(keys))
	for _, k := range keys {
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") || !strings.Contains(k, ".") {
			return nil, fmt.Errorf("linux.resources.unified[%q]: not a cgroup file name", k)
		}
		if slices.Contains(managedFiles, k) {
			return nil, fmt.Errorf("linux.resources.unified[%q]: minirun manages this file itself", k)
		}
		out = append(out, Write{File: k, Value: res.Unified[k]})
	}
	return out, nil
}
