package selftest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testutil"
)

const cgroupRoot = "/sys/fs/cgroup"

// childEnv names the variable that turns a re-exec of this test binary into a
// helper child (runc's trick: the test binary is its own helper).
const childEnv = "MINIRUN_VM_SELFTEST_CHILD"

// TestMain runs the helper children before any test: "hog" allocates memory
// until the memory controller stops it, "pivot" pivot_roots in a new mount
// namespace.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "hog":
		hog()
	case "pivot":
		if err := pivot(); err != nil {
			fmt.Fprintln(os.Stderr, "pivot:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown child", os.Getenv(childEnv))
		os.Exit(2)
	}
}

// requireVM skips unless the test runs as root inside the VM of run.sh.
func requireVM(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	if os.Getenv("MINIRUN_VM") != "1" {
		t.Skip("runs only inside the test VM (tests/vm/run.sh sets MINIRUN_VM=1)")
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(b))
}

func write(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Fatalf("write %q to %s: %v", value, path, err)
	}
}

// TestCgroup2Only checks the layout minirun will meet on Debian 12: one
// cgroup2 mount at /sys/fs/cgroup, no v1 hierarchy anywhere, and the four
// controllers minirun drives.
func TestCgroup2Only(t *testing.T) {
	requireVM(t)
	if !testutil.CgroupV2() {
		t.Fatalf("%s is not a cgroup2 mount", cgroupRoot)
	}
	mounts := readTrim(t, "/proc/self/mounts")
	for _, line := range strings.Split(mounts, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup" {
			t.Errorf("cgroup v1 hierarchy mounted: %s", line)
		}
	}
	have := strings.Fields(readTrim(t, filepath.Join(cgroupRoot, "cgroup.controllers")))
	for _, want := range []string{"cpu", "io", "memory", "pids"} {
		if !contains(have, want) {
			t.Errorf("cgroup.controllers = %v, missing %s", have, want)
		}
	}
	// The test runs in a leaf, as under systemd, not in the root cgroup.
	if self := readTrim(t, "/proc/self/cgroup"); self != "0::/init.scope" {
		t.Errorf("/proc/self/cgroup = %q, want 0::/init.scope", self)
	}
}

// newCgroup creates minirun/<name> with memory and pids enabled for it, and
// removes both on cleanup (the minirun parent only if this test created it).
func newCgroup(t *testing.T, name string) string {
	t.Helper()
	parent := filepath.Join(cgroupRoot, "minirun")
	err := os.Mkdir(parent, 0o755)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create cgroup %s: %v", parent, err)
	}
	if err == nil {
		t.Cleanup(func() {
			if err := os.Remove(parent); err != nil {
				t.Errorf("remove cgroup %s: %v", parent, err)
			}
		})
	}
	// A controller can be enabled for children only when the parent's own
	// parent enabled it too (cgroups(7), "Top-down constraint").
	write(t, filepath.Join(parent, "cgroup.subtree_control"), "+memory +pids")
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// rmdir fails with EBUSY while a process is inside; killed children
		// may take a moment to leave.
		var err error
		for i := 0; i < 50; i++ {
			if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("remove cgroup %s: %v", dir, err)
	})
	return dir
}

// startIn starts this test binary as helper child kind inside cgroup dir,
// placed there by clone3(CLONE_INTO_CGROUP), so it never runs outside.
func startIn(t *testing.T, dir, kind string) *exec.Cmd {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatalf("open cgroup %s: %v", dir, err)
	}
	defer f.Close()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+kind)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s child in %s: %v", kind, dir, err)
	}
	return cmd
}

// TestMemoryAndPidsLimits writes memory.max and pids.max in a child cgroup and
// watches the kernel enforce the memory limit: a child that touches 256 MiB
// under a 32 MiB limit (no swap in the VM) must be OOM-killed.
func TestMemoryAndPidsLimits(t *testing.T) {
	requireVM(t)
	dir := newCgroup(t, fmt.Sprintf("vm-selftest-%d", os.Getpid()))
	if got := readTrim(t, filepath.Join(dir, "cgroup.controllers")); !contains(strings.Fields(got), "memory") ||
		!contains(strings.Fields(got), "pids") {
		t.Fatalf("%s/cgroup.controllers = %q, want memory and pids", dir, got)
	}
	write(t, filepath.Join(dir, "memory.max"), "32M")
	if got := readTrim(t, filepath.Join(dir, "memory.max")); got != strconv.Itoa(32<<20) {
		t.Errorf("memory.max = %s, want %d", got, 32<<20)
	}
	write(t, filepath.Join(dir, "pids.max"), "64")
	if got := readTrim(t, filepath.Join(dir, "pids.max")); got != "64" {
		t.Errorf("pids.max = %s, want 64", got)
	}

	cmd := startIn(t, dir, "hog")
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("hog child in %s: want it killed, got %v", dir, err)
	}
	if ws := exit.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("hog child: want SIGKILL from the OOM killer, got %v", ws)
	}
	events := readTrim(t, filepath.Join(dir, "memory.events"))
	if n := field(events, "oom_kill"); n < 1 {
		t.Errorf("memory.events oom_kill = %d, want >= 1:\n%s", n, events)
	}
}

// hog touches 256 MiB page by page, then exits 0 (which the test reads as
// "the limit was not enforced").
func hog() {
	const size, page = 256 << 20, 4096
	b := make([]byte, size)
	for i := 0; i < size; i += page {
		b[i] = 1
	}
	os.Exit(0)
}

// TestOverlayMount proves the overlay module loaded: mount an overlay, write
// through it, and find the write in the upper layer only.
func TestOverlayMount(t *testing.T) {
	requireVM(t)
	base := t.TempDir()
	lower, upper, work, merged := filepath.Join(base, "lower"), filepath.Join(base, "upper"),
		filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "from-lower"), []byte("lower\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, data); err != nil {
		t.Fatalf("mount overlay on %s (%s): %v", merged, data, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
		}
	})
	if b, err := os.ReadFile(filepath.Join(merged, "from-lower")); err != nil || string(b) != "lower\n" {
		t.Fatalf("read lower file through overlay: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(merged, "new"), []byte("upper\n"), 0o644); err != nil {
		t.Fatalf("write through overlay: %v", err)
	}
	if _, err := os.Stat(filepath.Join(upper, "new")); err != nil {
		t.Errorf("write did not land in upperdir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lower, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write leaked into lowerdir: %v", err)
	}
}

// TestModulesLoaded checks that run.sh's boot list reached the kernel.
func TestModulesLoaded(t *testing.T) {
	requireVM(t)
	for _, m := range []string{"overlay", "loop", "veth", "bridge", "nf_tables", "nft_chain_nat",
		"nft_masq", "nft_ct", "nf_nat", "nf_conntrack"} {
		if _, err := os.Stat(filepath.Join("/sys/module", m)); err != nil {
			t.Errorf("module %s not loaded: %v", m, err)
		}
	}
	// Shipped but not loaded at boot, as on a fresh host: the kernel must be
	// able to autoload them, which it does by running /sbin/modprobe when a
	// netlink request names an unknown link kind (request_module).
	if _, err := os.Stat("/sys/module/macvlan"); err == nil {
		t.Fatal("macvlan already loaded: the autoload check below would prove nothing")
	}
	script := "ip link add d0 type dummy && ip link add m0 link d0 type macvlan"
	if out, err := exec.Command("unshare", "-n", "sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("create a macvlan in a new netns: %v: %s", err, out)
	}
	if _, err := os.Stat("/sys/module/macvlan"); err != nil {
		t.Errorf("macvlan was not autoloaded: %v", err)
	}
	if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
		t.Fatalf("modprobe br_netfilter: %v: %s", err, out)
	}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
		t.Errorf("br_netfilter loaded but its sysctl is missing: %v", err)
	}
	if out, err := exec.Command("rmmod", "br_netfilter").CombinedOutput(); err != nil {
		t.Errorf("rmmod br_netfilter: %v: %s", err, out)
	}
}

// TestPivotRoot proves the root is a real mount (not the initramfs rootfs,
// where pivot_root(2) fails with EINVAL), so container runtimes work here.
func TestPivotRoot(t *testing.T) {
	requireVM(t)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=pivot", "PIVOT_DIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pivot_root child: %v: %s", err, out)
	}
	// The child's mounts stayed in its namespace although / is shared.
	if mounts := readTrim(t, "/proc/self/mounts"); strings.Contains(mounts, "minirun-pivot") {
		t.Errorf("the child's tmpfs leaked into the parent's mount namespace")
	}
}

// pivot runs in a new mount namespace: make it private (the VM's / is shared,
// as under systemd), pivot into a fresh tmpfs, and detach the old root.
func pivot() error {
	dir := os.Getenv("PIVOT_DIR")
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("minirun-pivot", dir, "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(dir, filepath.Join(dir, "old")); err != nil {
		return fmt.Errorf("pivot_root %s: %w", dir, err)
	}
	if err := unix.Unmount("/old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	if _, err := os.Stat("/old/proc"); err == nil {
		return errors.New("old root still visible after detach")
	}
	return nil
}

// TestOrphansReaped checks that PID 1 reaps orphans: minirun's state check
// asks kill(pid, 0) whether a container init lives, and an unreaped zombie
// would answer "yes" forever.
func TestOrphansReaped(t *testing.T) {
	requireVM(t)
	out, err := exec.Command("sh", "-c", "sleep 0.3 & echo $!").Output()
	if err != nil {
		t.Fatalf("start orphan: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("orphan pid %q: %v", out, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := unix.Kill(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			t.Fatalf("orphan %d still exists after 10s (kill: %v, stat: %s)", pid, err, bytes.TrimSpace(state))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeliberateFailure fails on request, so selftest.sh can show that a
// failing test makes run.sh exit non-zero.
func TestDeliberateFailure(t *testing.T) {
	requireVM(t)
	switch os.Getenv("MINIRUN_VM_SELFTEST_FAIL") {
	case "fail":
		t.Fatal("deliberate failure (MINIRUN_VM_SELFTEST_FAIL=fail)")
	case "poweroff":
		// The VM stops before /init can print the exit marker.
		unix.Sync()
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
			t.Fatalf("power off: %v", err)
		}
	case "hang":
		t.Log("hanging on purpose until run.sh's timeout kills the VM")
		for {
			time.Sleep(time.Hour)
		}
	default:
		t.Skip("set MINIRUN_VM_SELFTEST_FAIL=fail, hang or poweroff to see run.sh report a failure")
	}
}

// TestCable proves run2.sh's cable: each of the two VMs gives eth0 its
// address and pings the other; then VM 1 connects over TCP to a port VM 2
// listens on, which also tells VM 2 it may end. Outside run2.sh (no
// MINIRUN_VM_NODE) it skips.
func TestCable(t *testing.T) {
	requireVM(t)
	node := os.Getenv("MINIRUN_VM_NODE")
	if node != "1" && node != "2" {
		t.Skip("runs only in tests/vm/run2.sh's two VMs (MINIRUN_VM_NODE=1 or 2)")
	}
	me, peer := "192.168.79.1", "192.168.79.2"
	if node == "2" {
		me, peer = peer, me
	}
	for _, args := range [][]string{{"addr", "add", me + "/24", "dev", "eth0"}, {"link", "set", "eth0", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s (run2.sh adds an e1000 NIC: is its module shipped?)", args, err, out)
		}
	}
	// The other VM boots at the same time, give or take a few seconds.
	start := time.Now()
	for exec.Command("ping", "-c", "1", "-W", "1", peer).Run() != nil {
		if time.Since(start) > time.Minute {
			t.Fatalf("VM %s (%s) got no answer from %s within a minute", node, me, peer)
		}
	}
	t.Logf("VM %s reached %s after %.1fs", node, peer, time.Since(start).Seconds())
	const port = ":7079"
	if node == "2" {
		l, err := net.Listen("tcp", me+port)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		l.(*net.TCPListener).SetDeadline(time.Now().Add(time.Minute))
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("VM 1 never connected to %s%s: %v", me, port, err)
		}
		c.Close()
		return
	}
	for {
		c, err := net.DialTimeout("tcp", peer+port, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("connect to %s%s: %v", peer, port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// field reads "key value" lines (memory.events) and returns key's value, or -1.
func field(text, key string) int {
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, err := strconv.Atoi(f[1])
			if err == nil {
				return n
			}
		}
	}
	return -1
}
