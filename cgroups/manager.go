package cgroups

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/minirun/minirun/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager is one container's cgroup, on whichever interface the machine
// uses (v1Manager or v2Manager). The runtime calls, in this order:
// Create, Apply(pid of the container's init) and Set(resources) during
// `create`; Freeze/Thaw for pause/resume; Stats, OOMKilled and Procs for
// state and events; Set again for `update`; Destroy during `delete`.
type Manager interface {
	// Path is the cgroup path, the same in every hierarchy: "/minirun/<id>".
	Path() string
	// Create makes the cgroup's directories (and, on v2, enables the
	// controllers in its ancestors). It is idempotent.
	Create() error
	// Apply moves the process pid, with its threads, into the cgroup.
	Apply(pid int) error
	// Set writes the limits of res (see Plan); it also serves `update` on a
	// live container.
	Set(res *specs.LinuxResources) error
	// Freeze stops every process of the cgroup, returning once they are
	// all stopped.
	Freeze() error
	// Thaw lets the processes of a frozen cgroup run again.
	Thaw() error
	// Stats reads the cgroup's usage counters.
	Stats() (*Stats, error)
	// OOMKilled reports whether the kernel's OOM killer has killed a
	// process of the cgroup because it hit its memory limit.
	OOMKilled() (bool, error)
	// Procs lists the pids in the cgroup.
	Procs() ([]int, error)
	// Destroy removes the cgroup once its processes are gone (it kills
	// none), and minirun's own empty ancestors. A cgroup that does not
	// exist is already destroyed: Destroy is idempotent.
	Destroy() error
}

// Stats are a cgroup's counters, as `minirun stats` shows them.
type Stats struct {
	// MemoryUsage is the memory charged to the group now, in bytes (RAM
	// including page cache; v1 memory.usage_in_bytes, v2 memory.current).
	MemoryUsage uint64 `json:"memoryUsage"`
	// MemoryPeak is the highest MemoryUsage seen, or 0 when the kernel
	// does not track it (v2 memory.peak appeared in Linux 5.19).
	MemoryPeak uint64 `json:"memoryPeak"`
	// MemoryLimit is the memory limit in bytes, -1 when there is none.
	MemoryLimit int64 `json:"memoryLimit"`
	// CPUUsage is the CPU time used by the group's tasks, user plus
	// system, in nanoseconds.
	CPUUsage uint64 `json:"cpuUsageNs"`
	// PidsCurrent is the number of tasks (processes and threads).
	PidsCurrent uint64 `json:"pidsCurrent"`
	// PidsLimit is the most tasks allowed, -1 when there is no limit.
	PidsLimit int64 `json:"pidsLimit"`
	// OOMKills counts the processes the OOM killer killed in the group.
	OOMKills uint64 `json:"oomKills"`

	// The counters below are what Docker's stats API shows besides
	// (stats.go reads them; a file the kernel lacks leaves them zero).

	// CPUUser and CPUSystem split CPUUsage into user and kernel mode, in
	// nanoseconds (v1 cpuacct.stat in USER_HZ ticks, v2 cpu.stat's
	// user_usec and system_usec).
	CPUUser   uint64 `json:"cpuUserNs,omitempty"`
	CPUSystem uint64 `json:"cpuSystemNs,omitempty"`
	// CPUPeriods, CPUThrottled and CPUThrottledTime are CFS bandwidth's
	// counters (cpu.stat: nr_periods, nr_throttled, throttled time in ns).
	CPUPeriods       uint64 `json:"cpuPeriods,omitempty"`
	CPUThrottled     uint64 `json:"cpuThrottledPeriods,omitempty"`
	CPUThrottledTime uint64 `json:"cpuThrottledNs,omitempty"`
	// MemoryStat is memory.stat, key by key (v1's total_inactive_file
	// or v2's inactive_file is what `docker stats` takes off the usage).
	MemoryStat map[string]uint64 `json:"memoryStat,omitempty"`
	// MemoryFailcnt is how often the limit was hit (v1 memory.failcnt).
	MemoryFailcnt uint64 `json:"memoryFailcnt,omitempty"`
	// IOBytes and IOOps are the bytes and operations the group's block
	// I/O moved, per device and operation (v1 blkio.throttle.*, v2 io.stat).
	IOBytes []IOEntry `json:"ioBytes,omitempty"`
	IOOps   []IOEntry `json:"ioOps,omitempty"`
}

// IOEntry is one device's counter for one operation: Op is "Read",
// "Write", "Sync", "Async", "Discard" or "Total" on v1 (as the kernel
// writes them), "read", "write" or "discard" on v2.
type IOEntry struct {
	Major, Minor uint64
	Op           string
	Value        uint64
}

// New returns the Manager for a container's cgroup, on the machine's
// interface (DetectMode). cgroupsPath is the config's linux.cgroupsPath;
// see resolvePath for where each form of it goes ("" gives /minirun/<id>).
// New changes nothing on the host: Create does. tr narrates every change;
// nil is silent.
func New(cgroupsPath, id string, tr *explain.Tracer) (Manager, error) {
	p, err := resolvePath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	return forPath(p, tr)
}

// Load returns the Manager of an existing cgroup from the path its Path
// returned when the container was created (saved in the container's
// state), for delete, update, pause and stats.
func Load(path string) (Manager, error) { return LoadTraced(path, nil) }

// LoadTraced is Load with a tracer, so that `minirun update` or `delete`
// narrate their cgroup steps too.
func LoadTraced(path string, tr *explain.Tracer) (Manager, error) {
	p, err := checkPath(path)
	if err != nil {
		return nil, err
	}
	return forPath(p, tr)
}

// forPath builds the manager for the machine's layout.
func forPath(p string, tr *explain.Tracer) (Manager, error) {
	if tr.DryRun() {
		if m, forced := describedMode(); forced {
			if m == Unified {
				v2 := newV2(mountRoot, p, tr, kernelFS)
				if DetectMode() != Unified {
					v2.assumeRoot = cgroupV2RootControllers
				}
				return v2, nil
			}
			if DetectMode() == Unified {
				mounts := map[string]string{}
				for _, c := range v1Controllers[:8] { // the usual ones: cpu … pids
					mounts[c] = filepath.Join(mountRoot, c)
				}
				return newV1(mounts, p, tr, kernelFS), nil
			}
		}
	}
	if DetectMode() == Unified {
		return newV2(mountRoot, p, tr, kernelFS), nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("find cgroup v1 hierarchies: %w", err)
	}
	defer f.Close()
	mounts, err := parseV1Mounts(f)
	if err != nil {
		return nil, fmt.Errorf("find cgroup v1 hierarchies: %w", err)
	}
	if len(mounts) == 0 {
		return nil, fmt.Errorf("find cgroup v1 hierarchies: none mounted (is /sys/fs/cgroup set up?)")
	}
	return newV1(mounts, p, tr, kernelFS), nil
}
