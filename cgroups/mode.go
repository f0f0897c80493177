package cgroups

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Mode is the cgroup layout of the machine: which kernel interface the
// controllers are reached through.
type Mode int

const (
	// Legacy is cgroup v1 only: one hierarchy per controller under a tmpfs
	// at /sys/fs/cgroup.
	Legacy Mode = iota
	// Hybrid is cgroup v1 for the controllers plus a cgroup2 mount at
	// /sys/fs/cgroup/unified that holds no controller (systemd's layout
	// before it went all-v2). minirun manages it exactly like Legacy.
	Hybrid
	// Unified is cgroup v2 only: one tree at /sys/fs/cgroup holding every
	// controller (Debian 12, Fedora 31+, Ubuntu 21.10+).
	Unified
)

// String names the mode the way `minirun info` and the docs do.
func (m Mode) String() string {
	switch m {
	case Legacy:
		return "legacy (v1)"
	case Hybrid:
		return "hybrid (v1 + unified)"
	case Unified:
		return "unified (v2)"
	}
	return "unknown"
}

// V2 reports whether the controllers are reached through cgroup v2.
func (m Mode) V2() bool { return m == Unified }

// mountRoot is where every distribution mounts the cgroup filesystems.
const mountRoot = "/sys/fs/cgroup"

var (
	modeOnce sync.Once
	mode     Mode
)

// DetectMode tells the machine's cgroup layout from the filesystem type of
// /sys/fs/cgroup, as runc and containerd do: cgroup2 there means Unified; a
// tmpfs there means v1 hierarchies below it, and Hybrid when
// /sys/fs/cgroup/unified is a cgroup2 mount. It looks once per process (the
// layout is fixed at boot by systemd.unified_cgroup_hierarchy=).
func DetectMode() Mode {
	modeOnce.Do(func() { mode = detectMode(mountRoot) })
	return mode
}

// detectMode is DetectMode without the cache, for a given mount root.
func detectMode(root string) Mode {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		// Nothing mounted where it should be: report v1, and let New fail
		// with "no cgroup v1 hierarchy mounted", which names the problem.
		return Legacy
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Unified
	}
	if err := unix.Statfs(root+"/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Hybrid
	}
	return Legacy
}

// describing is the layout dry runs describe instead of the machine's, set
// by DescribeAs; nil when they describe the machine.
var describing struct {
	sync.Mutex
	mode *Mode
}

// DescribeAs makes dry runs (Managers built with a dry-run tracer) describe
// the steps of a machine with layout m until restore is called: `explain
// --shell` writes a script for both v1 and v2, whichever this machine has.
// What the machine cannot show is assumed as a freshly booted one has it:
// v1 hierarchies at /sys/fs/cgroup/<controller>, v2 controllers all
// offered by the root (cgroupV2RootControllers). Real runs are unaffected.
func DescribeAs(m Mode) (restore func()) {
	describing.Lock()
	describing.mode = &m
	describing.Unlock()
	return func() {
		describing.Lock()
		describing.mode = nil
		describing.Unlock()
	}
}

// describedMode is the layout a dry run describes, and whether it is
// DescribeAs's rather than the machine's.
func describedMode() (Mode, bool) {
	describing.Lock()
	defer describing.Unlock()
	if describing.mode == nil {
		return DetectMode(), false
	}
	return *describing.mode, true
}

// cgroupV2RootControllers is what a v2 root's cgroup.controllers lists on
// every kernel minirun supports (hugetlb, rdma and misc depend on its
// configuration), for describing v2 on a machine that does not have it.
const cgroupV2RootControllers = "cpuset cpu io memory pids"
