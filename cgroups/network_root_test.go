package cgroups

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// netClsEnv marks the copy of the test binary that TestRootV1Network runs
// in a private mount namespace, where it may mount a hierarchy of its own.
const netClsEnv = "MINIRUN_TEST_NETCLS_NS"

// TestRootV1Network writes linux.resources.network into a real
// net_cls,net_prio hierarchy and reads the kernel's view back: the class id
// in net_cls.classid and one priority per interface in net_prio.ifpriomap,
// for a process that was moved into the cgroup.
//
// Many v1 hosts have both controllers in the kernel but mounted nowhere
// (hierarchy 0 in /proc/cgroups). The test then runs itself again under
// unshare -m --propagation private, and that copy mounts a v1 hierarchy
// with both controllers on a temporary directory: only its own mount
// namespace sees the mount, and the kernel drops the hierarchy once it is
// unmounted and empty. The host's mount table is not touched.
func TestRootV1Network(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCgroupV1(t)
	if os.Getenv(netClsEnv) == "" {
		mounted, err := v1ControllersMounted("net_cls", "net_prio")
		if err != nil {
			t.Fatal(err)
		}
		if !mounted {
			runNetClsInPrivateNS(t)
			return
		}
	} else {
		dir := t.TempDir()
		if err := unix.Mount("cgroup", dir, "cgroup", 0, "net_cls,net_prio"); err != nil {
			t.Fatalf("mount -t cgroup -o net_cls,net_prio cgroup %s: %v", dir, err)
		}
		// Registered after TempDir's cleanup, so it runs before it, and
		// before the manager's (registered later), so after its Destroy.
		t.Cleanup(func() {
			// NOTE: the kernel destroys a v1 hierarchy at its last unmount
			// only if no cgroup is left in it, and a removed cgroup stays
			// ("dying") until its last reference is gone. Unmounted too
			// soon, the hierarchy would stay bound, mounted nowhere.
			// num_cgroups in /proc/cgroups counts the dying ones too.
			deadline := time.Now().Add(30 * time.Second)
			for n := cgroupCount(t, "net_cls"); n != 1 && time.Now().Before(deadline); n = cgroupCount(t, "net_cls") {
				time.Sleep(50 * time.Millisecond)
			}
			if err := unix.Unmount(dir, 0); err != nil {
				t.Errorf("umount %s: %v", dir, err)
			}
		})
	}

	m := newRootManager(t)
	ifaces, err := net.Interfaces()
	if err != nil || len(ifaces) == 0 {
		t.Fatalf("list interfaces: %v", err)
	}
	// 0x100001 is tc's handle 10:1 (net_cls.rst); the file shows it in decimal.
	res := &specs.LinuxResources{Network: &specs.LinuxNetwork{
		ClassID:    u32(0x100001),
		Priorities: []specs.LinuxInterfacePriority{{Name: ifaces[0].Name, Priority: 7}},
	}}
	if len(ifaces) > 1 {
		res.Network.Priorities = append(res.Network.Priorities, specs.LinuxInterfacePriority{Name: ifaces[1].Name, Priority: 3})
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	v1 := m.(*v1Manager)
	h := startHelper(t, "alloc", "1")
	if err := m.Apply(h.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	if line, err := h.out.ReadString('\n'); err != nil || !strings.HasPrefix(line, "allocated") {
		t.Fatalf("helper said %q, %v", line, err)
	}
	self, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", h.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(self), ":net_cls,net_prio:"+m.Path()+"\n") {
		t.Errorf("/proc/%d/cgroup does not show net_cls,net_prio:%s:\n%s", h.cmd.Process.Pid, m.Path(), self)
	}
	cls, err := v1.dir("net_cls")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(cls + "/net_cls.classid"); err != nil || got != "1048577" {
		t.Errorf("net_cls.classid = %q, %v; want 1048577", got, err)
	}
	prio, err := v1.dir("net_prio")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := readFile(prio + "/net_prio.ifpriomap")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(m2, "\n")
	for _, p := range res.Network.Priorities {
		want := fmt.Sprintf("%s %d", p.Name, p.Priority)
		found := false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf("net_prio.ifpriomap has no line %q:\n%s", want, m2)
		}
	}
}

// runNetClsInPrivateNS runs TestRootV1Network again in a private mount
// namespace when both controllers are free to mount there: enabled, bound
// to no v1 hierarchy and not to the v2 one.
func runNetClsInPrivateNS(t *testing.T) {
	t.Helper()
	for _, c := range []string{"net_cls", "net_prio"} {
		free, err := controllerUnbound(c)
		if err != nil {
			t.Fatal(err)
		}
		if !free {
			t.Skipf("%s is bound to a hierarchy that is not mounted here", c)
		}
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1) (util-linux)")
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private",
		os.Args[0], "-test.run=^TestRootV1Network$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), netClsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a private mount namespace:\n%s", out)
	if err != nil {
		t.Fatalf("TestRootV1Network in a private mount namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestRootV1Network") {
		t.Fatal("TestRootV1Network did not pass in the private mount namespace")
	}
	// The namespace is gone with its mount: the hierarchy must be too.
	for _, c := range []string{"net_cls", "net_prio"} {
		free := false
		for i := 0; i < 40 && !free; i++ {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			var err error
			if free, err = controllerUnbound(c); err != nil {
				t.Fatal(err)
			}
		}
		if !free {
			t.Errorf("%s is still bound to a hierarchy after the test", c)
		}
	}
}

// cgroupCount is /proc/cgroups' num_cgroups for a controller: the cgroups
// of its hierarchy, the root and the dying ones included.
func cgroupCount(t *testing.T, name string) int {
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == name {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	t.Fatalf("/proc/cgroups has no %s", name)
	return 0
}

// v1ControllersMounted reports whether every named controller has a v1
// mount in this mount namespace.
func v1ControllersMounted(names ...string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	mounts, err := parseV1Mounts(f)
	if err != nil {
		return false, err
	}
	for _, n := range names {
		if _, ok := mounts[n]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// controllerUnbound reports whether a controller is enabled and attached
// to no hierarchy: hierarchy 0 in /proc/cgroups (cgroups(7)) and absent
// from the v2 root's cgroup.controllers.
func controllerUnbound(name string) (bool, error) {
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return false, err
	}
	free := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == name {
			free = f[1] == "0" && f[3] == "1"
		}
	}
	for _, p := range []string{mountRoot + "/unified/cgroup.controllers", mountRoot + "/cgroup.controllers"} {
		if c, err := os.ReadFile(p); err == nil && strings.Contains(" "+strings.TrimSpace(string(c))+" ", " "+name+" ") {
			return false, nil
		}
	}
	return free, nil
}
