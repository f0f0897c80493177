package runtime

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroup returns the manager of the container's cgroup.
func (c *Container) cgroup(tr *explain.Tracer) (cgroups.Manager, error) {
	if c.st.CgroupPath == "" {
		return nil, fmt.Errorf("container %s has no cgroup", c.ID)
	}
	return cgroups.LoadTraced(c.st.CgroupPath, tr)
}

// CgroupPath is the container's cgroup, the same in every hierarchy.
func (c *Container) CgroupPath() string { return c.st.CgroupPath }

// Update changes the limits of a created or running container, live, like
// `runc update` and `docker update`; the new values are kept in the state so
// that `inspect` shows them.
func (c *Container) Update(res *specs.LinuxResources, tr *explain.Tracer) error {
	if st := c.Status(); st != Created && st != Running {
		return &TransitionError{Op: "update", Status: st}
	}
	mgr, err := c.cgroup(tr)
	if err != nil {
		return err
	}
	if err := mgr.Set(res); err != nil {
		return err
	}
	if c.st.Config.Linux.Resources == nil {
		c.st.Config.Linux.Resources = &specs.LinuxResources{}
	}
	MergeResources(c.st.Config.Linux.Resources, res)
	// Only the spec changed. The container may already have ended under
	// its new limits (a pids limit below its number of processes, say)
	// and its state been deleted by whoever waited for it: the limits
	// were applied all the same, so there is nothing left to record.
	err = writeJSONAtomic(c.dir, configFile, c.st.Config)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// MergeResources copies the parts of src that are set into dst.
func MergeResources(dst, src *specs.LinuxResources) {
	if src.Memory != nil {
		dst.Memory = src.Memory
	}
	if src.CPU != nil {
		dst.CPU = src.CPU
	}
	if src.Pids != nil {
		dst.Pids = src.Pids
	}
	if src.BlockIO != nil {
		dst.BlockIO = src.BlockIO
	}
}

// Pause freezes every process of the container (the freezer controller on
// v1, cgroup.freeze on v2): they stop being scheduled, keeping their state.
func (c *Container) Pause(tr *explain.Tracer) error {
	if st := c.Status(); st != Running {
		return &TransitionError{Op: "pause", Status: st}
	}
	mgr, err := c.cgroup(tr)
	if err != nil {
		return err
	}
	if err := mgr.Freeze(); err != nil {
		return err
	}
	c.st.Paused = true
	return writeJSONAtomic(c.dir, stateFile, c.st) // the spec did not change
}

// Resume thaws a paused container.
func (c *Container) Resume(tr *explain.Tracer) error {
	if st := c.Status(); st != Paused {
		return &TransitionError{Op: "resume", Status: st}
	}
	mgr, err := c.cgroup(tr)
	if err != nil {
		return err
	}
	if err := mgr.Thaw(); err != nil {
		return err
	}
	c.st.Paused = false
	return writeJSONAtomic(c.dir, stateFile, c.st)
}

// Stats reads the container's cgroup counters.
func (c *Container) Stats() (*cgroups.Stats, error) {
	mgr, err := c.cgroup(nil)
	if err != nil {
		return nil, err
	}
	return mgr.Stats()
}

// OOMKilled reports whether the kernel's OOM killer killed a process of the
// container because it hit its memory limit. Ask before Delete, which
// removes the cgroup and its counters.
func (c *Container) OOMKilled() bool {
	mgr, err := c.cgroup(nil)
	if err != nil {
		return false
	}
	k, err := mgr.OOMKilled()
	return err == nil && k
}

// Procs lists the host pids of every process in the container's cgroup:
// its init, what it forked, and exec'd processes.
func (c *Container) Procs() ([]int, error) {
	mgr, err := c.cgroup(nil)
	if err != nil {
		return nil, err
	}
	return mgr.Procs()
}
