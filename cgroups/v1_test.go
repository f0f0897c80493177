package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const v1Unlimited = "9223372036854771712"

// v1Files is what the kernel puts in a new v1 cgroup, per controller (the
// first path component under the fake root), trimmed to what minirun uses.
// swap decides whether memory.memsw.* exist (swap accounting on).
func v1Files(root string, swap bool) func(dir string) map[string]string {
	return func(dir string) map[string]string {
		rel, _ := filepath.Rel(root, dir)
		ctrl := strings.Split(rel, string(filepath.Separator))[0]
		f := map[string]string{"cgroup.procs": "", "tasks": ""}
		switch ctrl {
		case "cpu":
			f["cpu.shares"], f["cpu.cfs_period_us"], f["cpu.cfs_quota_us"] = "1024", "100000", "-1"
		case "cpuacct":
			f["cpuacct.usage"] = "0"
		case "cpuset":
			f["cpuset.cpus"], f["cpuset.mems"] = "", ""
		case "memory":
			f["memory.limit_in_bytes"] = v1Unlimited
			f["memory.usage_in_bytes"], f["memory.max_usage_in_bytes"] = "0", "0"
			f["memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\noom_kill 0"
			f["memory.soft_limit_in_bytes"], f["memory.swappiness"] = v1Unlimited, "60"
			if swap {
				f["memory.memsw.limit_in_bytes"] = v1Unlimited
			}
		case "devices":
			f["devices.allow"], f["devices.deny"], f["devices.list"] = "", "", "a *:* rwm"
		case "freezer":
			f["freezer.state"] = "THAWED"
		case "blkio":
			// A kernel without CFQ: only BFQ's weight file.
			f["blkio.bfq.weight"] = "100"
			f["blkio.throttle.read_bps_device"] = ""
		case "pids":
			f["pids.max"], f["pids.current"] = "max", "0"
		}
		return f
	}
}

// newFakeV1 builds a v1 manager on a fake cgroupfs with the controllers
// this host has (cpu and cpuacct on separate hierarchies).
func newFakeV1(t *testing.T, path string, swap bool, tr *explain.Tracer) (*v1Manager, string) {
	t.Helper()
	root := t.TempDir()
	mounts := map[string]string{}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"} {
		mounts[c] = filepath.Join(root, c)
		writeFiles(t, mounts[c], map[string]string{"cgroup.procs": "1\n2"})
	}
	writeFiles(t, mounts["cpuset"], map[string]string{"cpuset.cpus": "0-3", "cpuset.mems": "0"})
	writeFiles(t, mounts["memory"], map[string]string{"memory.memsw.limit_in_bytes": v1Unlimited})
	return newV1(mounts, path, tr, fakeKernel{files: v1Files(root, swap)}.ops()), root
}

func TestV1CreateApplyDestroy(t *testing.T) {
	tr, rec := recorder()
	m, root := newFakeV1(t, "/minirun/c1", true, tr)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"} {
		assertExists(t, filepath.Join(root, c, "minirun", "c1", "cgroup.procs"))
	}
	// The cpuset pitfall: both levels got the root's CPUs and nodes.
	for _, d := range []string{"minirun", "minirun/c1"} {
		if got := readT(t, filepath.Join(root, "cpuset", d, "cpuset.cpus")); got != "0-3" {
			t.Errorf("%s cpuset.cpus = %q, want the parent's 0-3", d, got)
		}
		if got := readT(t, filepath.Join(root, "cpuset", d, "cpuset.mems")); got != "0" {
			t.Errorf("%s cpuset.mems = %q, want the parent's 0", d, got)
		}
	}
	wantIDs := []string{StepCreate, StepWrite, StepWrite, StepWrite, StepWrite}
	if got := rec.IDs(); !reflect.DeepEqual(got, wantIDs) {
		t.Errorf("steps = %v, want %v", got, wantIDs)
	}
	if sh := shells(rec, StepCreate)[0]; sh != "mkdir -p "+root+"/{cpu,cpuacct,cpuset,memory,devices,freezer,blkio,pids}/minirun/c1" {
		t.Errorf("create shell = %q", sh)
	}

	// Idempotent: a second Create changes nothing and fails nothing.
	if err := m.Create(); err != nil {
		t.Fatalf("second Create: %v", err)
	}

	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "memory", "pids", "freezer"} {
		if got := readT(t, filepath.Join(root, c, "minirun", "c1", "cgroup.procs")); got != "4242" {
			t.Errorf("%s cgroup.procs = %q", c, got)
		}
	}
	if pids, err := m.Procs(); err != nil || !reflect.DeepEqual(pids, []int{4242}) {
		t.Errorf("Procs = %v, %v", pids, err)
	}

	// Busy: a process is still in it. Destroy waits, kills nothing, fails.
	defer func(d time.Duration) { rmdirTimeout = d }(rmdirTimeout)
	rmdirTimeout = 50 * time.Millisecond
	if err := m.Destroy(); err == nil || !strings.Contains(err.Error(), "still in it") {
		t.Fatalf("Destroy with a process inside = %v, want a busy error", err)
	}
	assertExists(t, filepath.Join(root, "memory", "minirun", "c1"))

	// The process exits (the kernel empties cgroup.procs).
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"} {
		writeFiles(t, filepath.Join(root, c, "minirun", "c1"), map[string]string{"cgroup.procs": ""})
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		assertGone(t, filepath.Join(root, c, "minirun"))
		assertExists(t, filepath.Join(root, c))
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

func TestV1DestroyKeepsSharedParent(t *testing.T) {
	m1, root := newFakeV1(t, "/minirun/one", true, nil)
	m2 := newV1(m1.mounts, "/minirun/two", nil, m1.fs)
	custom := newV1(m1.mounts, "/custom/three", nil, m1.fs)
	for _, m := range []*v1Manager{m1, m2, custom} {
		if err := m.Create(); err != nil {
			t.Fatal(err)
		}
	}
	if err := m1.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, filepath.Join(root, "memory", "minirun", "one"))
	assertExists(t, filepath.Join(root, "memory", "minirun", "two"))
	if err := m2.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, filepath.Join(root, "memory", "minirun"))
	// Outside /minirun only the leaf is minirun's: /custom stays.
	if err := custom.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, filepath.Join(root, "memory", "custom", "three"))
	assertExists(t, filepath.Join(root, "memory", "custom"))
}

func TestV1CreateRollsBack(t *testing.T) {
	m, root := newFakeV1(t, "/minirun/c1", true, nil)
	// The cpuset hierarchy cannot take new directories: Create fails there
	// and must remove what it made in cpu and cpuacct before.
	if err := os.Chmod(filepath.Join(root, "cpuset"), 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root ignores permissions; break the hierarchy another way.
		m.mounts["cpuset"] = filepath.Join(root, "missing")
	}
	if err := m.Create(); err == nil {
		t.Fatal("Create succeeded on a broken hierarchy")
	}
	assertGone(t, filepath.Join(root, "cpu", "minirun"), filepath.Join(root, "cpuacct", "minirun"))
}

func TestV1Set(t *testing.T) {
	tr, rec := recorder()
	m, root := newFakeV1(t, "/minirun/c1", false, tr)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	rec.Events = nil
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, rule(true, "c", 1, 3, "rwm")},
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)},
		CPU:     &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000)},
		Pids:    &specs.LinuxPids{Limit: i64(32)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(200)},
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	d := func(c, f string) string { return filepath.Join(root, c, "minirun", "c1", f) }
	want := []string{
		"echo 'a' > " + d("devices", "devices.deny"),
		"echo 'c 1:3 rwm' > " + d("devices", "devices.allow"),
		"echo '100000' > " + d("cpu", "cpu.cfs_period_us"),
		"echo '50000' > " + d("cpu", "cpu.cfs_quota_us"),
		"echo '67108864' > " + d("memory", "memory.limit_in_bytes"),
		// no memsw write: this fake kernel has no swap accounting
		"echo '32' > " + d("pids", "pids.max"),
		// blkio.weight is gone on this kernel: BFQ's file is used
		"echo '200' > " + d("blkio", "blkio.bfq.weight"),
	}
	if got := shells(rec, StepWrite); !reflect.DeepEqual(got, want) {
		t.Errorf("writes:\n got  %q\n want %q", got, want)
	}
	for f, v := range map[string]string{
		d("memory", "memory.limit_in_bytes"): "67108864", d("pids", "pids.max"): "32",
		d("cpu", "cpu.cfs_quota_us"): "50000", d("blkio", "blkio.bfq.weight"): "200",
	} {
		if got := readT(t, f); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1)}}); err == nil {
		t.Error("Set accepted shares 1")
	}
	if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}); err == nil || !strings.Contains(err.Error(), "hugetlb is not mounted") {
		t.Errorf("Set with an unmounted controller = %v", err)
	}
}

// TestV1MemoryOrder checks the memsw ordering: raising the limit above the
// current memsw must write memsw first, lowering must write the limit
// first.
func TestV1MemoryOrder(t *testing.T) {
	tr, rec := recorder()
	m, root := newFakeV1(t, "/minirun/c1", true, tr)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	memsw := filepath.Join(root, "memory", "minirun", "c1", "memory.memsw.limit_in_bytes")
	files := func() []string {
		var out []string
		for _, sh := range shells(rec, StepWrite) {
			out = append(out, filepath.Base(strings.Fields(sh)[3]))
		}
		rec.Events = nil
		return out
	}
	mem := func(limit, swap int64) *specs.LinuxResources {
		return &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(limit), Swap: i64(swap)}}
	}
	limitFirst := []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}
	memswFirst := []string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}
	files()
	for _, step := range []struct {
		name         string
		limit, swap  int64
		want         []string
		currentMemsw string
	}{
		{"new cgroup: both unlimited", 100 << 20, 200 << 20, limitFirst, v1Unlimited},
		{"raise above current memsw", 300 << 20, 400 << 20, memswFirst, "209715200"},
		{"lower", 50 << 20, 60 << 20, limitFirst, "419430400"},
		{"raise within current memsw", 55 << 20, 60 << 20, limitFirst, "62914560"},
		{"unlimited", -1, -1, memswFirst, "62914560"},
	} {
		if got := readT(t, memsw); got != step.currentMemsw {
			t.Fatalf("%s: memsw before = %s, want %s", step.name, got, step.currentMemsw)
		}
		if err := m.Set(mem(step.limit, step.swap)); err != nil {
			t.Fatal(err)
		}
		if got := files(); !reflect.DeepEqual(got, step.want) {
			t.Errorf("%s: order %v, want %v", step.name, got, step.want)
		}
	}
}

func TestV1FreezeStatsOOM(t *testing.T) {
	tr, rec := recorder()
	m, root := newFakeV1(t, "/minirun/c1", true, tr)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	d := func(c, f string) string { return filepath.Join(root, c, "minirun", "c1", f) }
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, d("freezer", "freezer.state")); got != "FROZEN" {
		t.Errorf("freezer.state = %q", got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, d("freezer", "freezer.state")); got != "THAWED" {
		t.Errorf("freezer.state = %q", got)
	}
	if ids := rec.IDs(); !slices.Contains(ids, StepFreeze) || !slices.Contains(ids, StepThaw) {
		t.Errorf("steps %v lack freeze/thaw", ids)
	}

	if oom, err := m.OOMKilled(); err != nil || oom {
		t.Errorf("OOMKilled before = %v, %v", oom, err)
	}
	writeFiles(t, filepath.Join(root, "memory", "minirun", "c1"), map[string]string{
		"memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 2",
		"memory.usage_in_bytes":     "4096000",
		"memory.max_usage_in_bytes": "8192000",
		"memory.limit_in_bytes":     "67108864",
	})
	writeFiles(t, filepath.Join(root, "memory", "minirun", "c1"), map[string]string{
		"memory.stat": "cache 4096\ntotal_inactive_file 8192", "memory.failcnt": "7",
	})
	writeFiles(t, filepath.Join(root, "cpuacct", "minirun", "c1"), map[string]string{"cpuacct.usage": "123456789", "cpuacct.stat": "user 3\nsystem 2"})
	writeFiles(t, filepath.Join(root, "cpu", "minirun", "c1"), map[string]string{"cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 5000"})
	writeFiles(t, filepath.Join(root, "pids", "minirun", "c1"), map[string]string{"pids.current": "3", "pids.max": "32"})
	writeFiles(t, filepath.Join(root, "blkio", "minirun", "c1"), map[string]string{
		"blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\nTotal 4608",
		"blkio.throttle.io_serviced":                "8:0 Read 1\n8:0 Write 2\nTotal 3",
	})
	if oom, err := m.OOMKilled(); err != nil || !oom {
		t.Errorf("OOMKilled after = %v, %v", oom, err)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{MemoryUsage: 4096000, MemoryPeak: 8192000, MemoryLimit: 67108864, CPUUsage: 123456789, PidsCurrent: 3, PidsLimit: 32, OOMKills: 2,
		// cpuacct.stat counts USER_HZ ticks: 3 × 10 ms, 2 × 10 ms.
		CPUUser: 30_000_000, CPUSystem: 20_000_000, CPUPeriods: 10, CPUThrottled: 4, CPUThrottledTime: 5000,
		MemoryStat: map[string]uint64{"cache": 4096, "total_inactive_file": 8192}, MemoryFailcnt: 7,
		IOBytes: []IOEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 512}}, IOOps: []IOEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}}}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("Stats = %+v, want %+v", *s, want)
	}
	writeFiles(t, filepath.Join(root, "memory", "minirun", "c1"), map[string]string{"memory.limit_in_bytes": v1Unlimited})
	writeFiles(t, filepath.Join(root, "pids", "minirun", "c1"), map[string]string{"pids.max": "max"})
	if s, err := m.Stats(); err != nil || s.MemoryLimit != -1 || s.PidsLimit != -1 {
		t.Errorf("Stats unlimited = %+v, %v; want limits -1", s, err)
	}
}

// TestV1DryRun narrates create, apply, set and destroy without touching
// the fake hierarchy: what `minirun explain --dry-run` relies on.
func TestV1DryRun(t *testing.T) {
	rec := &explain.Recorder{}
	m, root := newFakeV1(t, "/minirun/c1", true, explain.NewDryRun(rec))
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(99); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(2 << 20)}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, filepath.Join(root, "memory", "minirun"))
	want := []string{StepCreate, StepWrite, StepWrite, StepWrite, StepWrite, StepAddProcess, StepWrite, StepWrite, StepRemove}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("dry-run steps = %v, want %v", got, want)
	}
	for _, e := range rec.Events {
		if !e.DryRun || e.Step.Title.PT == "" || e.Step.Title.EN == "" || e.Step.Why.PT == "" || e.Step.Why.EN == "" || e.Step.Shell == "" {
			t.Errorf("step %s incomplete: %+v", e.Step.ID, e.Step)
		}
	}
}
