package cgroups

import (
	"fmt"
	"regexp"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pageSizeRE is the page size as the hugetlb files spell it: 64KB, 2MB, 1GB.
var pageSizeRE = regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`)

// planHugetlb plans the hugetlb controller: how many bytes of huge pages of
// each size the group may use. v1 files: hugetlb.<size>.limit_in_bytes;
// v2: hugetlb.<size>.max. The spec asks for reservation limits where the
// kernel has them (5.7+: hugetlb.<size>.rsvd.*), which stop an mmap at
// reserve time instead of SIGBUS at first touch, so both are written and
// the rsvd one is skipped on older kernels.
func planHugetlb(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	var out []Write
	for i, h := range res.HugepageLimits {
		if !pageSizeRE.MatchString(h.Pagesize) {
			return nil, fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize %q: want a size like 2MB or 1GB", i, h.Pagesize)
		}
		if v2 {
			out = append(out,
				Write{File: "hugetlb." + h.Pagesize + ".max", Value: utoa(h.Limit)},
				Write{File: "hugetlb." + h.Pagesize + ".rsvd.max", Value: utoa(h.Limit), Optional: true})
		} else {
			out = append(out,
				Write{File: "hugetlb/hugetlb." + h.Pagesize + ".limit_in_bytes", Value: utoa(h.Limit)},
				Write{File: "hugetlb/hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes", Value: utoa(h.Limit), Optional: true})
		}
	}
	return out, nil
}
