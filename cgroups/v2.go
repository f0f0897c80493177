package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2Controllers are the controllers minirun enables for its cgroups, in
// the order cgroup.subtree_control gets them, when the parent offers them
// (cgroup.controllers): only those Plan writes to, since enabling one in the
// root's subtree_control also gives it to every other top-level group on
// the machine. Devices and the freezer are not controllers on v2: an eBPF
// program and cgroup.freeze, always there.
var v2Controllers = []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"}

// v2Manager is a container's cgroup on cgroup v2: one directory in the
// single tree mounted at root.
type v2Manager struct {
	root string // the cgroup2 mount point, /sys/fs/cgroup
	path string
	tr   *explain.Tracer
	fs   fsOps
	// assumeRoot, in a dry run describing v2 on a machine without it
	// (DescribeAs), is what the root's cgroup.controllers would offer.
	assumeRoot string
}

func newV2(root, p string, tr *explain.Tracer, ops fsOps) *v2Manager {
	return &v2Manager{root: root, path: p, tr: tr, fs: ops}
}

func (m *v2Manager) Path() string { return m.path }

func (m *v2Manager) dir() string { return filepath.Join(m.root, m.path) }

// Create makes the directory (and missing ancestors), then enables the
// controllers top-down, from the root to the container's parent.
//
// ORDER and the "no internal processes" rule (cgroup-v2.rst): a group may
// hand controllers to its children (cgroup.subtree_control) only while it
// has no process of its own, the root excepted. So minirun puts processes
// only in leaves, and enables controllers only in the root and in the
// directories above the leaf, which it keeps empty. A controller appears in
// a child only once every ancestor has enabled it, hence top-down; the
// leaf's own subtree_control is left alone, since the container's processes
// live there.
func (m *v2Manager) Create() (retErr error) {
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	var created []string
	st := createStep("mkdir -p " + m.dir())
	st.UndoShell = undoCreateShell(m.dir(), filepath.Dir(m.dir()))
	st.Do = func() error {
		c, err := mkdirAll(m.fs, m.root, m.path)
		created = c
		if err != nil {
			err = errors.Join(err, removeDirs(m.fs, created))
			created = nil
		}
		return err
	}
	st.Undo = func() error { return removeDirs(m.fs, created) }
	st.Evidence = func() string {
		ctl, _ := readFile(filepath.Join(m.dir(), "cgroup.controllers"))
		return "cgroup.controllers → " + ctl
	}
	if err := m.tr.Do(st, &undo); err != nil {
		return fmt.Errorf("create cgroup %s: %w", m.path, err)
	}
	dir := m.root
	avail := ""
	for _, c := range strings.Split(strings.Trim(m.path, "/"), "/") {
		var err error
		if avail, err = m.enable(dir, avail); err != nil {
			return fmt.Errorf("create cgroup %s: %w", m.path, err)
		}
		dir = filepath.Join(dir, c)
	}
	undo.Release()
	return nil
}

// enable writes "+ctrl ..." to dir's cgroup.subtree_control for each
// controller of v2Controllers that dir offers and has not enabled yet. It
// returns what it enabled plus what was already on: the controllers the
// next level down will offer (used in a dry run, where that level does not
// exist to be read).
func (m *v2Manager) enable(dir, parentEnabled string) (string, error) {
	offered, err := readFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		if !(m.tr.DryRun() && isNotExist(err)) {
			return "", err
		}
		offered = parentEnabled
		if dir == m.root && m.assumeRoot != "" {
			offered = m.assumeRoot
		}
	}
	on, err := readFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil && !(m.tr.DryRun() && isNotExist(err)) {
		return "", err
	}
	have, enabled := strings.Fields(offered), strings.Fields(on)
	var add []string
	for _, c := range v2Controllers {
		if slices.Contains(have, c) && !slices.Contains(enabled, c) {
			add = append(add, "+"+c)
			enabled = append(enabled, c)
		}
	}
	if len(add) == 0 {
		return strings.Join(enabled, " "), nil
	}
	path := filepath.Join(dir, "cgroup.subtree_control")
	if err := m.tr.Do(enableStep(path, strings.Join(add, " ")), nil); err != nil {
		if errors.Is(err, unix.EBUSY) {
			err = fmt.Errorf("%w (%s holds processes of its own: the no-internal-processes rule forbids enabling controllers there)", err, dir)
		}
		return "", err
	}
	return strings.Join(enabled, " "), nil
}

// Apply writes pid to the cgroup's cgroup.procs.
//
// NOTE: a v2 runtime can instead start the process directly in its cgroup
// with clone3(CLONE_INTO_CGROUP) (Go: SysProcAttr.UseCgroupFD), which closes
// the window between fork and this write; Apply is the portable way, and
// the one v1 has.
func (m *v2Manager) Apply(pid int) error {
	procs := filepath.Join(m.dir(), "cgroup.procs")
	st := addProcessStep(pid, fmt.Sprintf("echo %s > %s", pidWord(pid), procs))
	st.Do = func() error { return writeFile(procs, strconv.Itoa(pid)) }
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, m.path, err)
	}
	return nil
}

// Set attaches the device filter (when the config has device rules), then
// applies Plan's writes for v2.
func (m *v2Manager) Set(res *specs.LinuxResources) error {
	ws, err := Plan(res, Unified)
	if err != nil {
		return fmt.Errorf("set cgroup %s: %w", m.path, err)
	}
	if res != nil && res.Memory != nil && res.Memory.CheckBeforeUpdate != nil && *res.Memory.CheckBeforeUpdate && set(res.Memory.Limit) && *res.Memory.Limit > 0 {
		if err := checkUsage(filepath.Join(m.dir(), "memory.current"), *res.Memory.Limit); err != nil {
			return fmt.Errorf("set cgroup %s: %w", m.path, err)
		}
	}
	if res != nil && len(res.Devices) > 0 {
		rules, err := deviceRules(res.Devices)
		if err != nil {
			return fmt.Errorf("set cgroup %s: %w", m.path, err)
		}
		pol := newDevicePolicy(rules)
		st := devicesStep(m.dir(), pol)
		var id uint32
		st.Do = func() error {
			pid, err := attachDeviceProgram(m.dir(), pol)
			id = uint32(pid)
			return err
		}
		st.Evidence = func() string { return fmt.Sprintf("bpftool prog show id %d", id) }
		if err := m.tr.Do(st, nil); err != nil {
			return fmt.Errorf("set cgroup %s: %w", m.path, err)
		}
	}
	for _, w := range ws {
		if w.Optional && !available(m.dir(), m.root, w.File) {
			continue
		}
		if err := m.tr.Do(writeStep(filepath.Join(m.dir(), w.File), w.Value), nil); err != nil {
			if isNotExist(err) {
				err = fmt.Errorf("%w (is the controller enabled in the parent's cgroup.subtree_control?)", err)
			}
			return fmt.Errorf("set cgroup %s: %w", m.path, err)
		}
	}
	return nil
}

// Freeze writes 1 to cgroup.freeze and waits for cgroup.events to say
// "frozen 1": the write only asks, the kernel answers when every task has
// stopped. On timeout the group is thawed again and an error returned.
func (m *v2Manager) Freeze() error {
	f := filepath.Join(m.dir(), "cgroup.freeze")
	st := freezeStep(f, "1")
	st.Do = func() error {
		if err := writeFile(f, "1"); err != nil {
			return err
		}
		if err := m.waitFrozen(1); err != nil {
			return errors.Join(err, writeFile(f, "0"))
		}
		return nil
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", m.path, err)
	}
	return nil
}

// Thaw writes 0 to cgroup.freeze and waits for "frozen 0".
func (m *v2Manager) Thaw() error {
	f := filepath.Join(m.dir(), "cgroup.freeze")
	st := thawStep(f, "0")
	st.Do = func() error {
		if err := writeFile(f, "0"); err != nil {
			return err
		}
		return m.waitFrozen(0)
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", m.path, err)
	}
	return nil
}

func (m *v2Manager) waitFrozen(want uint64) error {
	events := filepath.Join(m.dir(), "cgroup.events")
	err := waitFor(freezeTimeout, func() (bool, error) {
		v, ok, err := readKeyed(events, "frozen")
		if err == nil && !ok {
			err = fmt.Errorf("%s has no frozen key (Linux 5.2+ needed)", events)
		}
		return v == want, err
	})
	if err != nil {
		return fmt.Errorf("wait for frozen %d in %s: %w", want, events, err)
	}
	return nil
}

// Stats reads memory.current, memory.peak, memory.max, memory.events,
// cpu.stat and pids.*. A controller that is not enabled leaves its fields
// at zero (and its limits at -1).
func (m *v2Manager) Stats() (*Stats, error) {
	d := m.dir()
	s := &Stats{MemoryLimit: -1, PidsLimit: -1}
	var err error
	if exists(filepath.Join(d, "memory.current")) {
		if s.MemoryUsage, err = readUint(filepath.Join(d, "memory.current")); err != nil {
			return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
		}
		if exists(filepath.Join(d, "memory.peak")) {
			if s.MemoryPeak, err = readUint(filepath.Join(d, "memory.peak")); err != nil {
				return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
			}
		}
		if s.MemoryLimit, err = readLimit(filepath.Join(d, "memory.max")); err != nil {
			return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
		}
		if s.OOMKills, _, err = readKeyed(filepath.Join(d, "memory.events"), "oom_kill"); err != nil {
			return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
		}
	}
	// cpu.stat's usage_usec is there even without the cpu controller.
	usec, _, err := readKeyed(filepath.Join(d, "cpu.stat"), "usage_usec")
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
	}
	s.CPUUsage = usec * 1000
	if exists(filepath.Join(d, "pids.current")) {
		if s.PidsCurrent, err = readUint(filepath.Join(d, "pids.current")); err != nil {
			return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
		}
		if s.PidsLimit, err = readLimit(filepath.Join(d, "pids.max")); err != nil {
			return nil, fmt.Errorf("stats of cgroup %s: %w", m.path, err)
		}
	}
	m.v2Details(s)
	return s, nil
}

// OOMKilled reads the oom_kill counter of memory.events.
func (m *v2Manager) OOMKilled() (bool, error) {
	n, ok, err := readKeyed(filepath.Join(m.dir(), "memory.events"), "oom_kill")
	if err != nil {
		return false, fmt.Errorf("oom status of cgroup %s: %w", m.path, err)
	}
	if !ok {
		return false, fmt.Errorf("oom status of cgroup %s: memory.events has no oom_kill counter", m.path)
	}
	return n > 0, nil
}

// Procs reads the cgroup's cgroup.procs.
func (m *v2Manager) Procs() ([]int, error) {
	pids, err := readPids(filepath.Join(m.dir(), "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("processes of cgroup %s: %w", m.path, err)
	}
	return pids, nil
}

// Destroy removes the cgroup (the kernel detaches its eBPF programs with
// it), then minirun's own ancestors that are left empty.
func (m *v2Manager) Destroy() error {
	st := removeStep("rmdir " + m.dir())
	st.Do = func() error {
		if err := rmdirRetry(m.fs, m.dir()); err != nil {
			return err
		}
		return removeOwnedAncestors(m.fs, m.root, m.path)
	}
	if err := m.tr.Do(st, nil); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", m.path, err)
	}
	return nil
}
