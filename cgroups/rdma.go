package cgroups

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planRdma plans the rdma controller: how many RDMA (InfiniBand/RoCE)
// handles and objects the group may open on each adapter. Same file on v1
// and v2: rdma.max, one line per device: "mlx4_0 hca_handle=2 hca_object=2000".
// Devices are written in name order so the plan does not depend on map
// iteration.
func planRdma(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	names := make([]string, 0, len(res.Rdma))
	for name := range res.Rdma {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []Write
	for _, name := range names {
		r := res.Rdma[name]
		if name == "" || strings.ContainsAny(name, " /\n") {
			return nil, fmt.Errorf("linux.resources.rdma[%q]: not a device name", name)
		}
		var kv []string
		if r.HcaHandles != nil {
			kv = append(kv, fmt.Sprintf("hca_handle=%d", *r.HcaHandles))
		}
		if r.HcaObjects != nil {
			kv = append(kv, fmt.Sprintf("hca_object=%d", *r.HcaObjects))
		}
		if len(kv) == 0 {
			continue
		}
		out = append(out, Write{File: file(v2, "rdma", "rdma.max"), Value: name + " " + strings.Join(kv, " ")})
	}
	return out, nil
}
