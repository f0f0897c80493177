package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These tests change the host: they create cgroups under
// /minirun/test-<random> in the machine's real hierarchies, put their own
// child processes in them, and check that the kernel enforces the limits.
// Run them with: MINIRUN_TEST_ROOT=1 go test ./cgroups/
//
// TestRootV1 runs on the v1 and hybrid layouts (this development host);
// TestRootV2 on a pure cgroup v2 machine (the course's Debian 12 VM). Both
// run the same checks. TestRootV2CoreOnHybrid runs the v2 manager's
// controller-free parts (cgroup.procs, cgroup.freeze, the eBPF device
// filter) on a hybrid host's /sys/fs/cgroup/unified, so that code meets a
// real kernel on either kind of machine.

func TestRootV1(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCgroupV1(t)
	runRootSuite(t, newRootManager, true)
}

func TestRootV2(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCgroupV2(t)
	runRootSuite(t, newRootManager, true)
}

func TestRootV2CoreOnHybrid(t *testing.T) {
	testutil.RequireRoot(t)
	if DetectMode() != Hybrid {
		t.Skip("needs the hybrid layout (a cgroup2 mount at /sys/fs/cgroup/unified)")
	}
	runRootSuite(t, func(t *testing.T) Manager {
		m := newV2(mountRoot+"/unified", Parent+"/"+randomID(t), nil, kernelFS)
		return createForTest(t, m)
	}, false)
}

// runRootSuite runs every check on managers from newM; withControllers is
// false where memory and pids cannot be limited (the hybrid unified mount).
func runRootSuite(t *testing.T, newM func(*testing.T) Manager, withControllers bool) {
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newM(t), withControllers) })
	t.Run("Freezer", func(t *testing.T) { testFreezer(t, newM(t)) })
	t.Run("Devices", func(t *testing.T) { testDevices(t, newM(t)) })
	if !withControllers {
		return
	}
	t.Run("MemoryOOM", func(t *testing.T) { testMemoryOOM(t, newM(t)) })
	t.Run("MemoryUpdate", func(t *testing.T) { testMemoryUpdate(t, newM(t)) })
	t.Run("Pids", func(t *testing.T) { testPids(t, newM(t)) })
	t.Run("SharedParent", testSharedParent)
}

// newRootManager creates /minirun/test-<random> on the machine's layout.
func newRootManager(t *testing.T) Manager {
	m, err := New("", randomID(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return createForTest(t, m)
}

// createForTest creates m's cgroup and, when the test ends, kills what is
// left in it, destroys it and checks that its directories are gone.
func createForTest(t *testing.T, m Manager) Manager {
	t.Helper()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killAll(t, m)
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		assertGone(t, dirsOf(m)...)
		if err := m.Destroy(); err != nil {
			t.Errorf("second Destroy: %v", err)
		}
	})
	for _, d := range dirsOf(m) {
		assertExists(t, d)
	}
	return m
}

// dirsOf lists a manager's directories on the host.
func dirsOf(m Manager) []string {
	switch m := m.(type) {
	case *v1Manager:
		var out []string
		for _, h := range m.hierarchies() {
			out = append(out, filepath.Join(h, m.path))
		}
		return out
	case *v2Manager:
		return []string{m.dir()}
	}
	return nil
}

// testLifecycle: a real process moved in shows up in cgroup.procs and in
// /proc/<pid>/cgroup, and its memory and CPU are counted.
func testLifecycle(t *testing.T, m Manager, withControllers bool) {
	h := startHelper(t, "alloc", "16")
	pid := h.cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	if line, err := h.out.ReadString('\n'); err != nil || !strings.HasPrefix(line, "allocated") {
		t.Fatalf("helper said %q, %v", line, err)
	}
	pids, err := m.Procs()
	if err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("Procs = %v, %v; want %d in it", pids, err, pid)
	}
	self, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(self), ":"+m.Path()+"\n") {
		t.Errorf("/proc/%d/cgroup does not show %s:\n%s", pid, m.Path(), self)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats of a process that allocated 16 MiB: %+v", *s)
	if s.CPUUsage == 0 {
		t.Error("CPU usage is 0")
	}
	if withControllers {
		if s.MemoryUsage < 15<<20 {
			t.Errorf("memory usage %d, want at least the 16 MiB allocated", s.MemoryUsage)
		}
		if s.PidsCurrent < 1 || s.PidsLimit != -1 || s.MemoryLimit != -1 {
			t.Errorf("pids %d/%d, memory limit %d; want ≥1/-1 and -1", s.PidsCurrent, s.PidsLimit, s.MemoryLimit)
		}
	}
}

// testMemoryOOM: past the memory limit the kernel kills the process, and
// the cgroup's counter says so.
func testMemoryOOM(t *testing.T, m Manager) {
	const limit = 32 << 20
	// memory+swap equal to the limit: no swap, on v1 and v2 alike.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(limit), Swap: i64(limit)}}); err != nil {
		t.Fatal(err)
	}
	if oom, err := m.OOMKilled(); err != nil || oom {
		t.Fatalf("OOMKilled before = %v, %v", oom, err)
	}
	h := startHelper(t, "alloc", "256")
	if err := m.Apply(h.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	err := h.cmd.Wait()
	ws, _ := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper allocating 256 MiB under a 32 MiB limit ended with %v, want SIGKILL", err)
	}
	oom, err := m.OOMKilled()
	if err != nil || !oom {
		t.Errorf("OOMKilled after = %v, %v; want true", oom, err)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats after the OOM kill: %+v", *s)
	if s.OOMKills < 1 || s.MemoryLimit != limit {
		t.Errorf("OOMKills %d, MemoryLimit %d; want ≥1 and %d", s.OOMKills, s.MemoryLimit, limit)
	}
}

// testMemoryUpdate raises then lowers a live limit: on v1 the memsw write
// must go first when raising, or the kernel says EINVAL.
func testMemoryUpdate(t *testing.T, m Manager) {
	for _, mb := range []int64{32, 64, 16, -1, 8} {
		v := mb << 20
		if mb == -1 {
			v = -1
		}
		if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(v), Swap: i64(v)}}); err != nil {
			t.Fatalf("limit %d MiB: %v", mb, err)
		}
		s, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.MemoryLimit != v {
			t.Errorf("after setting %d MiB the limit reads %d", mb, s.MemoryLimit)
		}
	}
}

// testPids: with pids.max 4, a shell that forks 8 children gets 3 of them
// and "Cannot fork" for the rest.
func testPids(t *testing.T, m Manager) {
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(4)}}); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, out := startShell(t, "for i in 1 2 3 4 5 6 7 8; do sleep 30 & done; echo spawned")
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	cmd.Wait()
	msg, _ := os.ReadFile(out.Name())
	if !strings.Contains(strings.ToLower(string(msg)), "fork") {
		t.Errorf("the shell forked 8 children under pids.max 4 without a fork error; it said %q", msg)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	pids, _ := m.Procs()
	t.Logf("shell said %q; %d processes left, stats %+v", strings.TrimSpace(string(msg)), len(pids), *s)
	if s.PidsLimit != 4 || s.PidsCurrent > 4 || len(pids) != 3 {
		t.Errorf("pids %d/%d with %d processes left; want ≤4/4 and 3 sleeps", s.PidsCurrent, s.PidsLimit, len(pids))
	}
}

// testFreezer: a busy loop's CPU time stops while frozen and resumes after.
func testFreezer(t *testing.T, m Manager) {
	cmd, stdin, _ := startShell(t, "while :; do :; done")
	pid := cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	time.Sleep(200 * time.Millisecond)
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	t0 := cpuTicks(t, pid)
	time.Sleep(300 * time.Millisecond)
	t1 := cpuTicks(t, pid)
	if t1 != t0 {
		t.Errorf("frozen busy loop used CPU: %d → %d ticks", t0, t1)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	t2 := cpuTicks(t, pid)
	if t2 <= t1 {
		t.Errorf("thawed busy loop used no CPU: %d → %d ticks", t1, t2)
	}
	t.Logf("CPU ticks: %d at freeze, %d after 300ms frozen, %d after 300ms thawed", t0, t1, t2)
	s, err := m.Stats()
	if err != nil || s.CPUUsage == 0 {
		t.Errorf("Stats = %+v, %v; want CPU usage", s, err)
	}
}

// testDevices: deny all but /dev/zero, and /dev/null cannot be opened even
// by root; then an update allows /dev/null too.
func testDevices(t *testing.T, m Manager) {
	check := func(want map[string]string) {
		t.Helper()
		h := startHelper(t, "open", "/dev/null,/dev/zero")
		if err := m.Apply(h.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		h.start(t)
		for range 2 {
			line, err := h.out.ReadString('\n')
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			dev, got, _ := strings.Cut(strings.TrimSpace(line), ": ")
			if w := want[dev]; !strings.Contains(got, w) {
				t.Errorf("open %s: %s, want %q", dev, got, w)
			}
		}
		h.cmd.Wait()
	}
	zero := rule(true, "c", 1, 5, "rwm")
	null := rule(true, "c", 1, 3, "rw")
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false}, zero}}); err != nil {
		t.Fatal(err)
	}
	check(map[string]string{"/dev/null": "operation not permitted", "/dev/zero": "ok"})
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false}, zero, null}}); err != nil {
		t.Fatal(err)
	}
	check(map[string]string{"/dev/null": "ok", "/dev/zero": "ok"})
	if v2, ok := m.(*v2Manager); ok {
		// The update replaced the program instead of stacking a second one.
		ids, err := deviceProgramIDs(v2.dir())
		if err != nil || len(ids) != 1 {
			t.Errorf("device programs attached = %v, %v; want exactly one", ids, err)
		}
	}
}

// testSharedParent: two groups under one minirun-owned parent; the parent
// goes with the last of them, not before.
func testSharedParent(t *testing.T) {
	base := randomID(t)
	a, err := New(base+"/a", "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(base+"/b", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Manager{a, b} {
		if err := m.Create(); err != nil {
			t.Fatal(err)
		}
	}
	parents := func() []string {
		var out []string
		for _, d := range dirsOf(a) {
			out = append(out, filepath.Dir(d))
		}
		return out
	}()
	t.Cleanup(func() { a.Destroy(); b.Destroy() })
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, dirsOf(a)...)
	assertExists(t, parents...)
	assertExists(t, dirsOf(b)...)
	if err := b.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, dirsOf(b)...)
	assertGone(t, parents...)
}
