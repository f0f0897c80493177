//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
)

// background runs `minirun run` without waiting; the result arrives on the
// channel when the container exits. The container is removed at the end.
func background(t *testing.T, name string, args ...string) <-chan result {
	t.Helper()
	ch, fin := make(chan result, 1), make(chan struct{})
	go func() {
		ch <- mr(t, append([]string{"run", "--name", name}, args...)...)
		close(fin)
	}()
	t.Cleanup(func() {
		mr(t, "rm", "-f", name)
		select {
		case <-fin:
		case <-time.After(10 * time.Second):
		}
	})
	deadline := time.Now().Add(30 * time.Second) // the qemu VM emulates its CPU: slow
	for time.Now().Before(deadline) {
		if r := mr(t, "inspect", name); r.code == 0 && strings.Contains(r.stdout, `"Status": "running"`) {
			return ch
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Say why: the run's own error when it has ended, else the record.
	insp := mr(t, "inspect", name)
	select {
	case r := <-ch:
		t.Fatalf("container %s never started: exit %d: %s %s", name, r.code, r.stderr, r.stdout)
	default:
	}
	t.Fatalf("container %s never started (inspect: %s %s)", name, insp.stdout, insp.stderr)
	return nil
}

// cgroupFile is a file of the container's cgroup on this machine's layout:
// v1 "memory/memory.limit_in_bytes" style, or the v2 name.
func cgroupFile(t *testing.T, name, v1, v2 string) string {
	t.Helper()
	id := inspect(t, name)["Id"].(string)
	if testutil.CgroupV2() {
		return filepath.Join("/sys/fs/cgroup/minirun", id, v2)
	}
	return filepath.Join("/sys/fs/cgroup", filepath.Dir(v1), "minirun", id, filepath.Base(v1))
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatalf("%s is empty", path)
	}
	if f[0] == "usage_usec" { // v2 cpu.stat
		v, _ := strconv.ParseInt(f[1], 10, 64)
		return v * 1000
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatalf("%s: %q", path, b)
	}
	return v
}

// memory: a process allocating past --memory is OOM-killed (its shell
// reports 137) and inspect says OOMKilled.
func TestCgroupMemoryOOM(t *testing.T) {
	r := mr(t, "run", "--name", "oom", "--memory", "32m", "busybox", "sh", "-c", "head -c 200m /dev/zero | tail > /dev/null")
	rmAtEnd(t, "oom")
	if r.code != 137 {
		t.Fatalf("exit %d, want 137 (stderr %q)", r.code, r.stderr)
	}
	st := inspect(t, "oom")["State"].(map[string]interface{})
	if st["OOMKilled"] != true {
		t.Fatalf("OOMKilled = %v", st["OOMKilled"])
	}
	// The same program without a limit is not killed.
	if r := mr(t, "run", "--rm", "busybox", "sh", "-c", "head -c 64m /dev/zero | tail > /dev/null"); r.code != 0 {
		t.Fatalf("without --memory: exit %d", r.code)
	}
}

// cpu: a busy loop under --cpus 0.5 uses 50% ± 10 points of one CPU,
// read from the cgroup's own usage counter.
func TestCgroupCPUQuota(t *testing.T) {
	background(t, "cpu", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done")
	usage := cgroupFile(t, "cpu", "cpuacct/cpuacct.usage", "cpu.stat")
	time.Sleep(500 * time.Millisecond)
	u0, t0 := readInt(t, usage), time.Now()
	time.Sleep(3 * time.Second)
	u1, t1 := readInt(t, usage), time.Now()
	pct := 100 * float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds())
	t.Logf("busy loop under --cpus 0.5: %.1f%% of one CPU", pct)
	if pct < 40 || pct > 60 {
		t.Fatalf("CPU use %.1f%%, want 50 ± 10", pct)
	}
}

// pids: forking past --pids-limit fails inside the container.
func TestCgroupPidsLimit(t *testing.T) {
	r := mr(t, "run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c", "for i in $(seq 20); do sleep 5 & done; wait")
	if !strings.Contains(r.stderr, "can't fork") && !strings.Contains(r.stderr, "Resource temporarily unavailable") {
		t.Fatalf("20 forks under --pids-limit 10 all worked: %q", r.stderr)
	}
	if r := mr(t, "run", "--rm", "--pids-limit", "50", "busybox", "sh", "-c", "for i in $(seq 20); do sleep 0.1 & done; wait"); r.stderr != "" {
		t.Fatalf("20 forks under --pids-limit 50 failed: %q", r.stderr)
	}
}

// loopDevice attaches a file of size mb to a free loop device.
func loopDevice(t *testing.T, mb int) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := exec.Command("truncate", "-s", strconv.Itoa(mb)+"M", img).Run(); err != nil {
		t.Fatal(err)
	}
	// `losetup -f` names a free device (util-linux and busybox alike).
	out, err := exec.Command("losetup", "-f").Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	if out, err := exec.Command("losetup", dev, img).CombinedOutput(); err != nil {
		t.Fatalf("losetup %s: %v %s", dev, err, out)
	}
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// devices: a device given with --device can be opened, and with :r only
// read; one that is not given cannot, even after mknod.
func TestCgroupDevices(t *testing.T) {
	dev := loopDevice(t, 8)
	r := mr(t, "run", "--rm", "--device", dev+":/dev/disco", "busybox", "sh", "-c", "head -c 512 /dev/disco | wc -c")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "512" {
		t.Fatalf("allowed device: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// :r gives read access and no more: the write is refused.
	r = mr(t, "run", "--rm", "--device", dev+":/dev/disco:r", "busybox", "sh", "-c", "echo x > /dev/disco && echo wrote || echo refused")
	if strings.TrimSpace(r.stdout) != "refused" {
		t.Fatalf("--device %s:/dev/disco:r let the container write: %q %q", dev, r.stdout, r.stderr)
	}
	var st = mustStat(t, dev)
	r = mr(t, "run", "--rm", "busybox", "sh", "-c", "mknod /tmp/disco b "+st+" && head -c 512 /tmp/disco | wc -c")
	if !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("a device not given was readable: %q %q", r.stdout, r.stderr)
	}
}

func mustStat(t *testing.T, dev string) string {
	out, err := exec.Command("stat", "-c", "%t %T", dev).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	maj, _ := strconv.ParseInt(f[0], 16, 64)
	min, _ := strconv.ParseInt(f[1], 16, 64)
	return strconv.FormatInt(maj, 10) + " " + strconv.FormatInt(min, 10)
}

// blkio/io: direct reads from a loop device under --device-read-bps stay
// under the limit.
func TestCgroupBlkioThrottle(t *testing.T) {
	dev := loopDevice(t, 16)
	start := time.Now()
	r := mr(t, "run", "--rm", "--device", dev+":/dev/disco", "--device-read-bps", dev+":2mb", "busybox",
		"dd", "if=/dev/disco", "of=/dev/null", "bs=1M", "count=6", "iflag=direct")
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("dd: %d %q", r.code, r.stderr)
	}
	// 6 MiB at 2 MiB/s: at least ~2 s (the first burst is allowed through).
	t.Logf("6 MiB at 2 MiB/s took %v", took)
	if took < 2*time.Second {
		t.Fatalf("read 6 MiB in %v: the 2 MiB/s limit was not enforced", took)
	}
}

// freezer: a paused container's counter stops, and goes on after resume.
// The counter is written beside its file and renamed over it (rename(2) is
// atomic): `echo $i > /tmp/c` truncates first, and a read between the
// truncation and the write found an empty file, read as 0 (it happened in
// the emulated cgroup v2 VM: "counter did not resume: 8 → 0").
func TestCgroupFreezer(t *testing.T) {
	background(t, "frio", "busybox", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/c; sleep 0.05; done")
	merged := inspect(t, "frio")["GraphDriver"].(map[string]interface{})["Data"].(map[string]interface{})["MergedDir"].(string)
	counter := func() int {
		b, _ := os.ReadFile(filepath.Join(merged, "tmp/c"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	time.Sleep(300 * time.Millisecond)
	ok(t, "pause", "frio")
	if st := inspect(t, "frio")["State"].(map[string]interface{}); st["Paused"] != true {
		t.Fatalf("inspect after pause: %v", st)
	}
	a := counter()
	time.Sleep(700 * time.Millisecond)
	if b := counter(); b != a {
		t.Fatalf("counter moved while paused: %d → %d", a, b)
	}
	fails(t, "cannot pause: container is paused", "pause", "frio")
	ok(t, "unpause", "frio")
	time.Sleep(500 * time.Millisecond)
	if b := counter(); b <= a {
		t.Fatalf("counter did not resume: %d → %d", a, b)
	}
}

// update changes limits live: a new memory limit lands in the cgroup, and a
// loop that forks happily under --pids-limit 50 dies ("can't fork": busybox
// sh gives up on a failed fork) once update drops the limit to 1.
func TestCgroupUpdateLive(t *testing.T) {
	done := background(t, "upd", "--pids-limit", "50", "busybox", "sh", "-c",
		"while :; do (true); sleep 0.05; done")
	ok(t, "update", "--memory", "64m", "upd")
	if v := readInt(t, cgroupFile(t, "upd", "memory/memory.limit_in_bytes", "memory.max")); v != 64<<20 {
		t.Fatalf("memory limit %d after update", v)
	}
	select {
	case r := <-done:
		t.Fatalf("the loop died before the update: %d %q", r.code, r.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	// The loop dies at once under the new limit, and its cgroup with it:
	// the proof is the failed fork below, and the limit inspect records.
	ok(t, "update", "--pids-limit", "1", "upd")
	res := inspect(t, "upd")["HostConfig"].(map[string]interface{})["Resources"].(map[string]interface{})
	if res["pids"].(map[string]interface{})["limit"].(float64) != 1 {
		t.Fatalf("inspect does not show the new limit: %v", res)
	}
	select {
	case r := <-done:
		if !strings.Contains(r.stderr, "can't fork") {
			t.Fatalf("the loop ended without a failed fork: %d %q", r.code, r.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("forks still work after update --pids-limit 1")
	}
}

func TestStats(t *testing.T) {
	background(t, "est", "--memory", "64m", "busybox", "sh", "-c", "while :; do :; done")
	out := ok(t, "stats", "--no-stream", "est")
	if !strings.Contains(out, "est") || !strings.Contains(out, "64MiB") && !strings.Contains(out, "67.1MB") {
		t.Fatalf("stats: %s", out)
	}
}

func TestCgroupBadFlags(t *testing.T) {
	fails(t, "--memory", "run", "--rm", "--memory", "lots", "busybox", "true")
	fails(t, "minimum is 6m", "run", "--rm", "--memory", "1m", "busybox", "true")
	fails(t, "--cpus", "run", "--rm", "--cpus", "-1", "busybox", "true")
	fails(t, "does not exist", "update", "--memory", "64m", "nao-existe")
}
