//go:build hostile

package hostile

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killRounds is how many times each SIGKILL loop kills at a random point.
const killRounds = 10

// timed runs minirun to its end and returns how long it took: the range
// the kill points are drawn from.
func timed(t *testing.T, args ...string) (result, time.Duration) {
	t.Helper()
	start := time.Now()
	r := mr(t, args...)
	return r, time.Since(start)
}

// killAfter starts minirun args and sends it SIGKILL after delay, unless
// it ended first; it reports whether the kill landed.
func killAfter(t *testing.T, delay time.Duration, args ...string) (bool, result) {
	t.Helper()
	cmd, o, e := mrCommand(t, stateRoot, dataRoot, args...)
	defer os.Remove(o.Name())
	defer os.Remove(e.Name())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return false, finish(t, cmd, o, e, err)
	case <-time.After(delay):
		cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		return true, finish(t, cmd, o, e, err)
	}
}

// cleanupOK accepts the user's cleanup command: success, or the object is
// already gone.
func cleanupOK(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 && !notFound(r.stderr) {
		t.Errorf("%s: cleanup after the kill (%s) failed: exit %d: %s", itemKill, what, r.code, strings.TrimSpace(r.stderr))
	}
}

func notFound(stderr string) bool {
	s := strings.ToLower(stderr)
	return strings.Contains(s, "no such") || strings.Contains(s, "does not exist") || strings.Contains(s, "not found")
}

// randDelay draws a kill point in [0, max).
func randDelay(rng *rand.Rand, max time.Duration) time.Duration {
	if max <= 0 {
		max = time.Millisecond
	}
	return time.Duration(rng.Int63n(int64(max)))
}

// killLoop is the shape of every loop: one full run to time the
// operation (which must itself leave nothing), then killRounds kills at
// random points, each followed by the user's cleanup and a leak check.
func killLoop(t *testing.T, what string, once func(i int, delay time.Duration) (killed bool), full func() time.Duration) {
	rng := newRand(t)
	base := snap()
	d := full()
	base = leakCheck(t, base, itemKill, what+" run to its end (no kill)")
	t.Logf("%s takes %v; kill points drawn in [0, %v)", what, d, d)
	landed := 0
	for i := 0; i < killRounds; i++ {
		delay := randDelay(rng, d)
		killed := once(i, delay)
		if killed {
			landed++
		}
		t.Logf("round %d: SIGKILL at %v (landed: %v)", i, delay, killed)
		base = leakCheck(t, base, itemKill, fmt.Sprintf("round %d, SIGKILL of %s at %v", i, what, delay))
	}
	if landed == 0 {
		t.Errorf("%s: no kill landed while %s was running", itemKill, what)
	}
}

// TestKillCreate kills `minirun create --bundle` (the OCI runtime's
// create), then runs `delete --force ID`.
func TestKillCreate(t *testing.T) {
	bundle := ociBundle(t)
	killLoop(t, "create --bundle", func(i int, delay time.Duration) bool {
		id := "hk-create-" + strconv.Itoa(i)
		killed, _ := killAfter(t, delay, "create", "--bundle", bundle, id)
		cleanupOK(t, mr(t, "delete", "--force", id), "delete --force "+id)
		return killed
	}, func() time.Duration {
		r, d := timed(t, "create", "--bundle", bundle, "hk-create-full")
		if r.code != 0 {
			t.Fatalf("create: %d %s", r.code, r.stderr)
		}
		ok(t, "delete", "--force", "hk-create-full")
		return d
	})
}

// ociBundle makes a bundle from the busybox tar: rootfs and a config.json
// from `minirun spec`, running sleep without a terminal.
func ociBundle(t *testing.T) string {
	bundle := filepath.Join(t.TempDir(), "bundle")
	os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755)
	if out, err := exec.Command("tar", "-C", filepath.Join(bundle, "rootfs"), "-xf", busyboxTar).CombinedOutput(); err != nil {
		t.Fatalf("extract busybox: %v %s", err, out)
	}
	ok(t, "spec", "--bundle", bundle)
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]interface{}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	p := spec["process"].(map[string]interface{})
	p["terminal"] = false
	p["args"] = []string{"sleep", "100"}
	b, _ = json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// timedRunDetached times one uninterrupted `run -d` of a container named
// name (then removed): the full length a kill loop spreads its delays over.
func timedRunDetached(t *testing.T, name string) time.Duration {
	t.Helper()
	r, d := timed(t, "run", "-d", "--name", name, hostileImage, "sleep", "100")
	if r.code != 0 {
		t.Fatalf("run -d: %d %s", r.code, r.stderr)
	}
	ok(t, "rm", "-f", name)
	return d
}

// TestKillRunDetached kills `minirun run -d`, then runs `rm -f NAME`.
func TestKillRunDetached(t *testing.T) {
	killLoop(t, "run -d", func(i int, delay time.Duration) bool {
		name := "hk-rund-" + strconv.Itoa(i)
		killed, _ := killAfter(t, delay, "run", "-d", "--name", name, hostileImage, "sleep", "100")
		cleanupOK(t, mr(t, "rm", "-f", name), "rm -f "+name)
		return killed
	}, func() time.Duration { return timedRunDetached(t, "hk-rund-full") })
}

// TestKillRm kills `minirun rm -f` of a running container, then runs
// `rm -f NAME` again.
func TestKillRm(t *testing.T) {
	killLoop(t, "rm -f", func(i int, delay time.Duration) bool {
		name := "hk-rm-" + strconv.Itoa(i)
		ok(t, "run", "-d", "--name", name, hostileImage, "sleep", "100")
		killed, _ := killAfter(t, delay, "rm", "-f", name)
		cleanupOK(t, mr(t, "rm", "-f", name), "rm -f "+name)
		return killed
	}, func() time.Duration {
		ok(t, "run", "-d", "--name", "hk-rm-full", hostileImage, "sleep", "100")
		r, d := timed(t, "rm", "-f", "hk-rm-full")
		if r.code != 0 {
			t.Fatalf("rm -f: %d %s", r.code, r.stderr)
		}
		return d
	})
}

// TestKillNetworkCreate kills `minirun network create`, then runs
// `network rm NAME`.
func TestKillNetworkCreate(t *testing.T) {
	killLoop(t, "network create", func(i int, delay time.Duration) bool {
		name := "hknet" + strconv.Itoa(i)
		killed, _ := killAfter(t, delay, "network", "create", name)
		cleanupOK(t, mr(t, "network", "rm", name), "network rm "+name)
		return killed
	}, func() time.Duration {
		r, d := timed(t, "network", "create", "hknetfull")
		if r.code != 0 {
			t.Fatalf("network create: %d %s", r.code, r.stderr)
		}
		ok(t, "network", "rm", "hknetfull")
		return d
	})
}

// shims lists the pids of the suite's shims (their command line names the
// suite's state root).
func shims() map[int]bool {
	out := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.HasPrefix(string(b), "minirun-shim\x00") || !strings.Contains(string(b), "\x00"+stateRoot+"\x00") {
			continue
		}
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out[pid] = true
		}
	}
	return out
}

// TestKillShim kills the shim of a container at a random point from the
// start of `run -d` (while it starts the container, or once it idles),
// then runs `rm -f NAME`.
func TestKillShim(t *testing.T) {
	killLoop(t, "the shim", func(i int, delay time.Duration) bool {
		name := "hk-shim-" + strconv.Itoa(i)
		cmd, o, e := mrCommand(t, stateRoot, dataRoot, "run", "-d", "--name", name, hostileImage, "sleep", "100")
		defer os.Remove(o.Name())
		defer os.Remove(e.Name())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		time.Sleep(delay)
		killed, exited := false, false
		var runErr error
		// The shim may not exist yet: look for it as long as run -d
		// lives, and once more after it ended.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			for pid := range shims() {
				syscall.Kill(pid, syscall.SIGKILL)
				killed = true
			}
			if killed || exited {
				break
			}
			select {
			case runErr = <-done:
				exited = true
			case <-time.After(2 * time.Millisecond):
			}
		}
		if !exited {
			runErr = <-done
		}
		finish(t, cmd, o, e, runErr)
		cleanupOK(t, mr(t, "rm", "-f", name), "rm -f "+name)
		return killed
	}, func() time.Duration { return timedRunDetached(t, "hk-shim-full") })
}

// TestKillInit kills a detached container's init (its pid 1) at a random
// point after it started; the container must end as exited with 137
// (128+SIGKILL, as Docker reports), then `rm -f NAME` cleans up.
func TestKillInit(t *testing.T) {
	killLoop(t, "the container's init", func(i int, delay time.Duration) bool {
		name := "hk-init-" + strconv.Itoa(i)
		ok(t, "run", "-d", "--name", name, hostileImage, "sleep", "100")
		time.Sleep(delay)
		_, st, found := inspectState(t, stateRoot, dataRoot, name)
		pid, _ := st["Pid"].(float64)
		if !found || pid <= 1 {
			t.Fatalf("inspect %s: no pid: %v", name, st)
		}
		syscall.Kill(int(pid), syscall.SIGKILL)
		var code interface{}
		if !eventually(10*time.Second, func() bool {
			_, st, _ := inspectState(t, stateRoot, dataRoot, name)
			code = st["ExitCode"]
			return st["Status"] == "exited"
		}) {
			t.Errorf("%s: %s still not exited 10s after SIGKILL of its init", itemKill, name)
		} else if code != float64(137) {
			t.Errorf("%s: %s exited with %v after SIGKILL of its init, want 137", itemKill, name, code)
		}
		cleanupOK(t, mr(t, "rm", "-f", name), "rm -f "+name)
		return true
	}, func() time.Duration { return 300 * time.Millisecond })
}
