package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/minirun/minirun/internal/mountinfo"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Controllers are the v1 controllers minirun places a container in, in
// the order it visits them. Any that is not mounted is skipped (hugetlb,
// net_cls, net_prio and rdma often are not); a write for a missing one is
// an error naming it.
var v1Controllers = []string{
	"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
	"hugetlb", "net_cls", "net_prio", "rdma",
}

// v1Manager is a container's cgroup on cgroup v1: one directory per
// hierarchy, all with the same path.
type v1Manager struct {
	path   string
	mounts map[string]string // controller → mount point of its hierarchy
	tr     *explain.Tracer
	fs     fsOps
}

func newV1(mounts map[string]string, p string, tr *explain.Tracer, ops fsOps) *v1Manager {
	return &v1Manager{path: p, mounts: mounts, tr: tr, fs: ops}
}

// parseV1Mounts finds the v1 hierarchies in /proc/self/mountinfo
// (proc(5)): lines whose filesystem type, after the " - " separator, is
// "cgroup", and whose super options name the controllers mounted there
// ("rw,cpu,cpuacct" when two share one hierarchy). It maps each known
// controller to the first mount point that has it. Hierarchies with no
// controller of ours (name=systemd) are ignored.
func parseV1Mounts(r io.Reader) (map[string]string, error) {
	mounts := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 || tail[0] != "cgroup" {
			continue
		}
		mnt := mountinfo.Unescape(fields[4])
		for _, opt := range strings.Split(tail[2], ",") {
			for _, c := range v1Controllers {
				if opt == c {
					if _, seen := mounts[c]; !seen {
						mounts[c] = mnt
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

func (m *v1Manager) Path() string { return m.path }

// hierarchies lists the distinct mount points in v1Controllers order
// (co-mounted controllers such as cpu,cpuacct share one directory).
func (m *v1Manager) hierarchies() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range v1Controllers {
		if mnt, ok := m.mounts[c]; ok && !seen[mnt] {
			seen[mnt] = true
			out = append(out, mnt)
		}
	}
	return out
}

// dir is the container's directory in a controller's hierarchy.
func (m *v1Manager) dir(controller string) (string, error) {
	mnt, ok := m.mounts[controller]
	if !ok {
		return "", fmt.Errorf("cgroup v1 controller %s is not mounted", controller)
	}
	return filepath.Join(mnt, m.path), nil
}

// Create makes the container's directory in every hierarchy, then gives
// each new cpuset directory its parent's CPUs and memory nodes.
func (m *v1Manager) Create() (retErr error) {
	hs := m.hierarchies()
	if len(hs) == 0 {
		return fmt.Errorf("create cgroup %s: no cgroup v1 hierarchy mounted", m.path)
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	var created []string
	st := createStep("mkdir -p " + shellDirs(hs, m.path))
	st.UndoShell = undoCreateShell(shellDirs(hs, m.path), shellDirs(hs, filepath.Dir(m.path)))
	st.Do = func() error {
		for _, h := range hs {
			c, err := mkdirAll(m.fs, h, m.path)
			created = append(created, c...)
			if err != nil {
				// Leave nothing half-made: the undo is only registered
				// after the whole step succeeded.
				err = errors.Join(err, removeDirs(m.fs, created))
				created = nil
				return err
			}
		}
		return nil
	}
	st.Undo = func() error { return removeDirs(m.fs, created) }
	st.Evidence = func() string {
		return fmt.Sprintf("%d diretórios/directories: %s", len(created), strings.Join(created, " "))
	}
	if err := m.tr.Do(st, &undo); err != nil {
		return fmt.Errorf("create cgroup %s: %w", m.path, err)
	}
	if mnt, ok := m.mounts["cpuset"]; ok {
		if err := m.fillCpuset(mnt); err != nil {
			return fmt.Errorf("create cgroup %s: %w", m.path, err)
		}
	}
	undo.Release()
	return nil
}

// fillCpuset copies cpuset.cpus and cpuset.mems from parent to child, top
// down, into every directory of the path where they are empty.
//
// NOTE: this is the classic v1 pitfall. A new cpuset cgroup is created with
// empty cpuset.cpus and cpuset.mems (unless the parent has
// cgroup.clone_children set), and writing a pid to its cgroup.procs then
// fails with ENOSPC, "no space left on device", which sends everyone
// looking at their disks. The parent must be filled before the child, since
// the child copies from it.
func (m *v1Manager) fillCpuset(mnt string) error {
	dry := m.tr.DryRun() // nothing was created: narrate from what exists
	dir := mnt
	for _, c := range strings.Split(strings.Trim(m.path, "/"), "/") {
		parent := dir
		dir = filepath.Join(dir, c)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := readFile(filepath.Join(dir, f))
			if err != nil && !(dry && isNotExist(err)) {
				return err
			}
			if cur != "" {
				continue
			}
			val, err := readFile(filepath.Join(parent, f))
			if err != nil {
				if !dry {
					return err
				}
				val = "$(cat " + filepath.Join(parent, f) + ")"
			}
			if err := m.tr.Do(cpusetCopyStep(filepath.Join(dir, f), val), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Apply writes pid to cgroup.procs in every hierarchy.
func (m *v1Manager) Apply(pid int) error {
	hs := m.hierarchies()
	shell := fmt.Sprintf("for d in %s; do echo %s > $d/cgroup.procs; done", shellDirs(hs, m.path), pidWord(pid))
	st := addProcessStep(pid, shell)
	st.Do = func() error {
		for _, h := range hs {
			if err := writeFile(filepath.Join(h, m.path, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, m.path, err)
	}
	return nil
}

// Set applies Plan's writes for v1.
func (m *v1Manager) Set(res *specs.LinuxResources) error {
	ws, err := Plan(res, Legacy)
	if err != nil {
		return fmt.Errorf("set cgroup %s: %w", m.path, err)
	}
	if err := m.checkBeforeUpdate(res); err != nil {
		return err
	}
	ws, err = m.orderMemory(ws)
	if err != nil {
		return fmt.Errorf("set cgroup %s: %w", m.path, err)
	}
	for _, w := range ws {
		if err := m.write(w); err != nil {
			return fmt.Errorf("set cgroup %s: %w", m.path, err)
		}
	}
	return nil
}

// v1Aliases are files that newer kernels renamed: the CFQ scheduler's
// blkio.weight is gone since Linux 5.0, and BFQ offers the same knob as
// blkio.bfq.weight. runc falls back the same way.
var v1Aliases = map[string]string{
	"blkio.weight":        "blkio.bfq.weight",
	"blkio.weight_device": "blkio.bfq.weight_device",
}

// write performs one planned write, through the tracer.
func (m *v1Manager) write(w Write) error {
	ctrl, name, ok := strings.Cut(w.File, "/")
	if !ok {
		return fmt.Errorf("write %s: not a v1 file (controller/file)", w.File)
	}
	dir, err := m.dir(ctrl)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	has := func(name string) bool { return available(dir, m.mounts[ctrl], name) }
	if alias, ok := v1Aliases[name]; ok && !has(name) && has(alias) {
		path = filepath.Join(dir, alias)
	}
	if w.Optional && !has(filepath.Base(path)) {
		return nil
	}
	err = m.tr.Do(writeStep(path, w.Value), nil)
	if err != nil && name == "memory.limit_in_bytes" && errors.Is(err, unix.EINVAL) {
		err = fmt.Errorf("%w (memory.limit_in_bytes may not exceed memory.memsw.limit_in_bytes: raise linux.resources.memory.swap with it)", err)
	}
	return err
}

// orderMemory puts memory.memsw.limit_in_bytes before
// memory.limit_in_bytes when the new limit is above the current memsw
// limit: the kernel keeps limit <= memsw at every write, so a raise must
// lift memsw first, while a cut (and a new cgroup, where both are
// unlimited) needs the limit first, Plan's order. runc decides the same way.
func (m *v1Manager) orderMemory(ws []Write) ([]Write, error) {
	li, si := -1, -1
	for i, w := range ws {
		switch w.File {
		case "memory/memory.limit_in_bytes":
			li = i
		case "memory/memory.memsw.limit_in_bytes":
			si = i
		}
	}
	if li < 0 || si < 0 || si < li {
		return ws, nil
	}
	dir, err := m.dir("memory")
	if err != nil {
		return nil, err
	}
	memswFile := filepath.Join(dir, "memory.memsw.limit_in_bytes")
	if !exists(memswFile) {
		return ws, nil
	}
	cur, err := readLimit(memswFile)
	if err != nil {
		return nil, err
	}
	if raisesAbove(ws[li].Value, cur) {
		out := append([]Write(nil), ws...)
		out[li], out[si] = out[si], out[li]
		return out, nil
	}
	return ws, nil
}

// raisesAbove reports whether a new limit (as written: bytes or "-1")
// is above the current one (-1 for unlimited).
func raisesAbove(newValue string, cur int64) bool {
	if cur == -1 {
		return false
	}
	if newValue == "-1" {
		return true
	}
	n, err := strconv.ParseInt(newValue, 10, 64)
	return err == nil && n > cur
}

// checkBeforeUpdate implements linux.resources.memory.checkBeforeUpdate:
// refuse a memory limit below what the group already uses, instead of
// letting the kernel reclaim or OOM-kill to get under it.
func (m *v1Manager) checkBeforeUpdate(res *specs.LinuxResources) error {
	if res == nil || res.Memory == nil || res.Memory.CheckBeforeUpdate == nil || !*res.Memory.CheckBeforeUpdate || !set(res.Memory.Limit) || *res.Memory.Limit < 0 {
		return nil
	}
	dir, err := m.dir("memory")
	if err != nil {
		return err
	}
	return checkUsage(filepath.Join(dir, "memory.usage_in_bytes"), *res.Memory.Limit)
}

func checkUsage(usageFile string, limit int64) error {
	usage, err := readUint(usageFile)
	if err != nil {
		if isNotExist(err) {
			return nil // a group not created yet uses nothing
		}
		return err
	}
	if uint64(limit) < usage {
		return fmt.Errorf("memory limit %d is below the current usage %d (checkBeforeUpdate)", limit, usage)
	}
	return nil
}

// freezeTimeout bounds how long Freeze waits for every task to stop.
var freezeTimeout = 10 * time.Second

// Freeze writes FROZEN to freezer.state and waits until the kernel
// reports FROZEN rather than FREEZING (tasks stop at their next return
// to user space or in an interruptible sleep, so it can take a moment).
// Like runc, FROZEN is written again while waiting, since a freeze can
// stall (a vfork parent waiting for its child, for instance); on timeout the
// group is thawed again and an error returned, so no half-frozen container
// is left behind.
func (m *v1Manager) Freeze() error {
	dir, err := m.dir("freezer")
	if err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", m.path, err)
	}
	state := filepath.Join(dir, "freezer.state")
	st := freezeStep(state, "FROZEN")
	st.Do = func() error {
		tries := 0
		err := waitFor(freezeTimeout, func() (bool, error) {
			if tries%20 == 0 { // every ~100ms
				if err := writeFile(state, "FROZEN"); err != nil {
					return false, err
				}
			}
			tries++
			s, err := readFile(state)
			return s == "FROZEN", err
		})
		if err != nil {
			return errors.Join(fmt.Errorf("wait for %s to read FROZEN: %w", state, err), writeFile(state, "THAWED"))
		}
		return nil
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", m.path, err)
	}
	return nil
}

// Thaw writes THAWED to freezer.state and waits until it reads THAWED.
func (m *v1Manager) Thaw() error {
	dir, err := m.dir("freezer")
	if err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", m.path, err)
	}
	state := filepath.Join(dir, "freezer.state")
	st := thawStep(state, "THAWED")
	st.Do = func() error {
		if err := writeFile(state, "THAWED"); err != nil {
			return err
		}
		return waitFor(freezeTimeout, func() (bool, error) {
			s, err := readFile(state)
			return s == "THAWED", err
		})
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", m.path, err)
	}
	return nil
}

// Stats reads memory, cpuacct and pids counters from whichever of those
// hierarchies are mounted.
func (m *v1Manager) Stats() (*Stats, error) {
	s := &Stats{MemoryLimit: -1, PidsLimit: -1}
	var err error
	read := func(f func(dir string) error, ctrl string) {
		if err != nil {
			return
		}
		if _, ok := m.mounts[ctrl]; !ok {
			return
		}
		dir, _ := m.dir(ctrl)
		err = f(dir)
	}
	read(func(dir string) (err error) {
		if s.MemoryUsage, err = readUint(filepath.Join(dir, "memory.usage_in_bytes")); err != nil {
			return err
		}
		if s.MemoryPeak, err = readUint(filepath.Join(dir, "memory.max_usage_in_bytes")); err != nil {
			return err
		}
		if s.MemoryLimit, err = readLimit(filepath.Join(dir, "memory.limit_in_bytes")); err != nil {
			return err
		}
		s.OOMKills, _, err = readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill")
		return err
	}, "memory")
	read(func(dir string) (err error) {
		s.CPUUsage, err = readUint(filepath.Join(dir, "cpuacct.usage"))
		return err
	}, "cpuacct")
	read(func(dir string) (err error) {
		if s.PidsCurrent, err = readUint(filepath.Join(dir, "pids.current")); err != nil {
			return err
		}
		s.PidsLimit, err = readLimit(filepath.Join(dir, "pids.max"))
		return err
	}, "pids")
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
	}
	m.v1Details(s)
	return s, nil
}

// OOMKilled reads the oom_kill counter of memory.oom_control (Linux 4.13+).
func (m *v1Manager) OOMKilled() (bool, error) {
	dir, err := m.dir("memory")
	if err != nil {
		return false, fmt.Errorf("oom status of cgroup %s: %w", m.path, err)
	}
	n, ok, err := readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill")
	if err != nil {
		return false, fmt.Errorf("oom status of cgroup %s: %w", m.path, err)
	}
	if !ok {
		return false, fmt.Errorf("oom status of cgroup %s: memory.oom_control has no oom_kill counter (Linux 4.13+ needed)", m.path)
	}
	return n > 0, nil
}

// Procs reads cgroup.procs from one hierarchy: after Apply every hierarchy
// holds the same processes. pids, memory and freezer are tried first since
// a container without them would not be contained at all.
func (m *v1Manager) Procs() ([]int, error) {
	for _, c := range append([]string{"pids", "memory", "freezer"}, v1Controllers...) {
		if dir, err := m.dir(c); err == nil {
			pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
			if err != nil {
				return nil, fmt.Errorf("processes of cgroup %s: %w", m.path, err)
			}
			return pids, nil
		}
	}
	return nil, fmt.Errorf("processes of cgroup %s: no cgroup v1 hierarchy mounted", m.path)
}

// Destroy removes the container's directory from every hierarchy, then
// minirun's own ancestors that are left empty. It goes on through every
// hierarchy after a failure and returns all errors.
func (m *v1Manager) Destroy() error {
	hs := m.hierarchies()
	st := removeStep("rmdir " + shellDirs(hs, m.path))
	st.Do = func() error {
		var errs []error
		for _, h := range hs {
			if err := rmdirRetry(m.fs, filepath.Join(h, m.path)); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, removeOwnedAncestors(m.fs, h, m.path))
		}
		return errors.Join(errs...)
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", m.path, err)
	}
	return nil
}
