package cgroups

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Files is what the kernel puts in a new cgroup v2 directory, trimmed to
// what minirun uses. The fake offers every controller to new children (as
// if the parent had enabled them all); the real kernel adds and removes
// files as the parent's cgroup.subtree_control changes.
func v2Files(string) map[string]string {
	return map[string]string{
		"cgroup.controllers":     "cpuset cpu io memory hugetlb pids rdma misc",
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
		"cgroup.freeze":          "0",
		"cgroup.events":          "populated 0\nfrozen 0",
		"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0",
		"cpu.weight":             "100",
		"cpu.max":                "max 100000",
		"memory.current":         "0",
		"memory.max":             "max",
		"memory.swap.max":        "max",
		"memory.low":             "0",
		"memory.events":          "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0",
		"pids.current":           "0",
		"pids.max":               "max",
		"io.weight":              "default 100",
		"io.max":                 "",
	}
}

func newFakeV2(t *testing.T, path string, tr *explain.Tracer) (*v2Manager, string) {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cgroup.controllers":     "cpuset cpu io memory hugetlb pids",
		"cgroup.subtree_control": "cpu memory",
		"cgroup.procs":           "1",
	})
	return newV2(root, path, tr, fakeKernel{files: v2Files}.ops()), root
}

func TestV2CreateEnablesControllers(t *testing.T) {
	tr, rec := recorder()
	m, root := newFakeV2(t, "/minirun/c1", tr)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	assertExists(t, filepath.Join(root, "minirun", "c1", "cgroup.procs"))
	want := []string{
		"mkdir -p " + root + "/minirun/c1",
		// root offers six and has two on already: the other four.
		"echo '+cpuset +io +hugetlb +pids' > " + root + "/cgroup.subtree_control",
		// /minirun is minirun's own, with no process: it hands on everything.
		"echo '+cpuset +cpu +io +memory +hugetlb +pids +rdma' > " + root + "/minirun/cgroup.subtree_control",
	}
	var got []string
	for _, e := range rec.Events {
		got = append(got, e.Step.Shell)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n got  %q\n want %q", got, want)
	}
	if got := rec.IDs(); !reflect.DeepEqual(got, []string{StepCreate, StepEnableControllers, StepEnableControllers}) {
		t.Errorf("step ids = %v", got)
	}
	// The leaf's subtree_control is untouched: the container's processes live there.
	if got := readT(t, filepath.Join(root, "minirun", "c1", "cgroup.subtree_control")); got != "" {
		t.Errorf("leaf subtree_control = %q, want empty", got)
	}
	// Idempotent. The fake's files hold what was last written ("+cpuset …");
	// make them read as the kernel would, with every controller on, and a
	// second Create has nothing left to enable.
	writeFiles(t, root, map[string]string{"cgroup.subtree_control": "cpuset cpu io memory hugetlb pids"})
	writeFiles(t, filepath.Join(root, "minirun"), map[string]string{"cgroup.subtree_control": "cpuset cpu io memory hugetlb pids rdma"})
	rec.Events = nil
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if got := rec.IDs(); !reflect.DeepEqual(got, []string{StepCreate}) {
		t.Errorf("second Create steps = %v, want only %s", got, StepCreate)
	}
	assertExists(t, filepath.Join(root, "minirun", "c1"))
}

func TestV2ApplySetFreezeDestroy(t *testing.T) {
	tr, rec := recorder()
	m, root := newFakeV2(t, "/minirun/c1", tr)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "minirun", "c1")
	if err := m.Apply(777); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, filepath.Join(dir, "cgroup.procs")); got != "777" {
		t.Errorf("cgroup.procs = %q", got)
	}
	rec.Events = nil
	err := m.Set(&specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20)},
		CPU:            &specs.LinuxCPU{Shares: u64(2048), Quota: i64(20000)},
		Pids:           &specs.LinuxPids{Limit: i64(16)},
		HugepageLimits: []specs.LinuxHugepageLimit{},
	})
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "0", "cpu.weight": "79", "cpu.max": "20000 100000", "pids.max": "16",
	} {
		if got := readT(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if n := len(shells(rec, StepWrite)); n != 5 {
		t.Errorf("%d write steps, want 5", n)
	}
	// A file the kernel does not offer: the error says where to look.
	err = m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}}})
	if err == nil || !strings.Contains(err.Error(), "subtree_control") {
		t.Errorf("Set of a missing file = %v", err)
	}

	// Freeze: the fake kernel reports frozen at once.
	writeFiles(t, dir, map[string]string{"cgroup.events": "populated 1\nfrozen 1"})
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze = %q", got)
	}
	writeFiles(t, dir, map[string]string{"cgroup.events": "populated 1\nfrozen 0"})
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, filepath.Join(dir, "cgroup.freeze")); got != "0" {
		t.Errorf("cgroup.freeze = %q", got)
	}
	// A freeze the kernel never completes: timeout, and thawed again.
	defer func(d time.Duration) { freezeTimeout = d }(freezeTimeout)
	freezeTimeout = 50 * time.Millisecond
	if err := m.Freeze(); err == nil || !strings.Contains(err.Error(), "frozen 1") {
		t.Errorf("stuck Freeze = %v, want a timeout", err)
	}
	if got := readT(t, filepath.Join(dir, "cgroup.freeze")); got != "0" {
		t.Errorf("after a failed freeze cgroup.freeze = %q, want 0", got)
	}

	writeFiles(t, dir, map[string]string{
		"memory.current": "1000", "memory.peak": "5000", "memory.events": "oom 1\noom_kill 1",
		"cpu.stat": "usage_usec 250\nuser_usec 200\nsystem_usec 50\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7", "pids.current": "2",
		"memory.stat": "anon 100\ninactive_file 300", "io.stat": "8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0",
	})
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{MemoryUsage: 1000, MemoryPeak: 5000, MemoryLimit: 67108864, CPUUsage: 250000, PidsCurrent: 2, PidsLimit: 16, OOMKills: 1,
		CPUUser: 200000, CPUSystem: 50000, CPUPeriods: 3, CPUThrottled: 1, CPUThrottledTime: 7000,
		MemoryStat: map[string]uint64{"anon": 100, "inactive_file": 300},
		IOBytes:    []IOEntry{{8, 0, "read", 4096}, {8, 0, "write", 512}, {8, 0, "discard", 0}},
		IOOps:      []IOEntry{{8, 0, "read", 1}, {8, 0, "write", 2}, {8, 0, "discard", 0}}}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("Stats = %+v, want %+v", *s, want)
	}
	if oom, err := m.OOMKilled(); err != nil || !oom {
		t.Errorf("OOMKilled = %v, %v", oom, err)
	}

	defer func(d time.Duration) { rmdirTimeout = d }(rmdirTimeout)
	rmdirTimeout = 50 * time.Millisecond
	if err := m.Destroy(); err == nil {
		t.Fatal("Destroy removed a cgroup with a process in it")
	}
	writeFiles(t, dir, map[string]string{"cgroup.procs": ""})
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, filepath.Join(root, "minirun"))
	assertExists(t, filepath.Join(root, "cgroup.procs"))
	if err := m.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

func TestV2DryRun(t *testing.T) {
	rec := &explain.Recorder{}
	m, root := newFakeV2(t, "/minirun/c1", explain.NewDryRun(rec))
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false}, rule(true, "c", 1, 3, "rwm")},
		Pids:    &specs.LinuxPids{Limit: i64(10)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, filepath.Join(root, "minirun"))
	want := []string{StepCreate, StepEnableControllers, StepEnableControllers, StepDevicesBPF, StepWrite, StepRemove}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("dry-run steps = %v, want %v", got, want)
	}
}
