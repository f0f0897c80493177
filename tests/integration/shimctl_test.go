//go:build integration

package integration

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The shim's control protocol (shim/control.go): stop, kill, wait and
// run --rm talk to the shim and wait on its exit event, not on files.

// noStopMarker fails when the container's directory holds the file the
// old stop path left for the restart policy: the mark lives in the shim.
func noStopMarker(t *testing.T, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataRoot, "containers", id, "stop-requested")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a stop-requested file was written (%v): the stop mark must travel to the shim", err)
	}
}

func ctlState(t *testing.T, name string) map[string]interface{} {
	t.Helper()
	return inspect(t, name)["State"].(map[string]interface{})
}

// stop and kill of a container with --restart always end it for good
// (the stop mark reaches the shim with the signal), write no marker file,
// and the exit code is the one the shim saw.
func TestShimCtlStopAndKillNoMarker(t *testing.T) {
	id := runD(t, "ctl-stop", "--restart", "always", "busybox", "sh", "-c", "trap 'exit 3' TERM; echo up; while :; do sleep 0.1; done")
	eventually(t, "the trap", 10*time.Second, func() bool { return strings.Contains(ok(t, "logs", "ctl-stop"), "up") })
	start := time.Now()
	ok(t, "stop", "ctl-stop")
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("stop of a container that exits on TERM took %v", took)
	}
	noStopMarker(t, id)
	if st := ctlState(t, "ctl-stop"); st["Status"] != "exited" || st["ExitCode"].(float64) != 3 {
		t.Fatalf("after stop: %v, want exited 3", st)
	}
	time.Sleep(300 * time.Millisecond)
	if st := ctlState(t, "ctl-stop"); st["Status"] != "exited" || inspect(t, "ctl-stop")["RestartCount"].(float64) != 0 {
		t.Fatalf("the restart policy acted after stop: %v", st)
	}
	ok(t, "start", "ctl-stop")
	eventually(t, "the trap again", 10*time.Second, func() bool { return strings.Count(ok(t, "logs", "ctl-stop"), "up") == 2 })
	ok(t, "kill", "ctl-stop")
	if r := mr(t, "wait", "ctl-stop"); strings.TrimSpace(r.stdout) != "137" {
		t.Fatalf("wait after kill: %+v, want 137", r)
	}
	noStopMarker(t, id)
	time.Sleep(300 * time.Millisecond)
	if st := ctlState(t, "ctl-stop"); st["Status"] != "exited" {
		t.Fatalf("the restart policy acted after kill: %v", st)
	}
	// kill -s of a signal the container handles: it goes on running.
	ok(t, "start", "ctl-stop")
	eventually(t, "the trap a third time", 10*time.Second, func() bool { return strings.Count(ok(t, "logs", "ctl-stop"), "up") == 3 })
	ok(t, "kill", "-s", "TERM", "ctl-stop")
	if r := mr(t, "wait", "ctl-stop"); strings.TrimSpace(r.stdout) != "3" {
		t.Fatalf("wait after kill -s TERM: %+v, want 3", r)
	}
	noStopMarker(t, id)
}

// A container whose restart policy spins (it fails at once, again and
// again) stops: between two runs there is no init to signal, and the
// stop mark alone ends it.
func TestShimCtlStopRestartingContainer(t *testing.T) {
	id := runD(t, "ctl-spin", "--restart", "always", "busybox", "sh", "-c", "sleep 0.05; exit 1")
	eventually(t, "a few restarts", 10*time.Second, func() bool { return inspect(t, "ctl-spin")["RestartCount"].(float64) >= 3 })
	start := time.Now()
	ok(t, "stop", "-t", "1", "ctl-spin")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stop took %v", took)
	}
	n := inspect(t, "ctl-spin")["RestartCount"].(float64)
	time.Sleep(500 * time.Millisecond)
	m := inspect(t, "ctl-spin")
	if st := m["State"].(map[string]interface{}); st["Status"] != "exited" || m["RestartCount"].(float64) != n {
		t.Fatalf("still restarting after stop: %v, RestartCount %v then %v", st, n, m["RestartCount"])
	}
	noStopMarker(t, id)
	if _, err := os.Stat(filepath.Join(stateRoot, ".shims", id[:12]+".sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stop returned before the shim ended: its socket is there (%v)", err)
	}
}

// wait: several at once get the exit code; wait on a --rm container
// returns its code once it is removed (the shim tells it; before, the
// answer was "was removed").
func TestShimCtlWait(t *testing.T) {
	runD(t, "ctl-wait", "busybox", "sh", "-c", "sleep 1; exit 4")
	var wg sync.WaitGroup
	outs := make([]result, 3)
	for i := range outs {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i] = mr(t, "wait", "ctl-wait") }()
	}
	wg.Wait()
	for i, r := range outs {
		if r.code != 0 || strings.TrimSpace(r.stdout) != "4" {
			t.Fatalf("wait %d: %+v, want 4", i, r)
		}
	}
	id := strings.TrimSpace(ok(t, "run", "-d", "--rm", "--name", "ctl-waitrm", "busybox", "sh", "-c", "sleep 0.5; exit 5"))
	rmAtEnd(t, "ctl-waitrm")
	if r := mr(t, "wait", "ctl-waitrm"); r.code != 0 || strings.TrimSpace(r.stdout) != "5" {
		t.Fatalf("wait on a --rm container: %+v, want 5", r)
	}
	if _, err := os.Stat(filepath.Join(dataRoot, "containers", id)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("wait returned before the --rm container was removed (%v)", err)
	}
}

// The attached run --rm returns the container's code once it is gone,
// whether it ends by itself or is stopped from outside.
func TestShimCtlRunRm(t *testing.T) {
	if r := mr(t, "run", "--rm", "busybox", "sh", "-c", "echo hi; exit 6"); r.code != 6 || !strings.Contains(r.stdout, "hi") {
		t.Fatalf("run --rm: %+v, want hi and 6", r)
	}
	done := make(chan result, 1)
	go func() {
		done <- mr(t, "run", "--rm", "--name", "ctl-runrm", "busybox", "sh", "-c", "trap 'exit 9' TERM; echo up; while :; do sleep 0.1; done")
	}()
	rmAtEnd(t, "ctl-runrm")
	eventually(t, "the attached container", 10*time.Second, func() bool {
		r := mr(t, "logs", "ctl-runrm")
		return r.code == 0 && strings.Contains(r.stdout, "up")
	})
	id := inspect(t, "ctl-runrm")["Id"].(string)
	ok(t, "stop", "ctl-runrm")
	select {
	case r := <-done:
		if r.code != 9 {
			t.Fatalf("run --rm stopped from outside: %+v, want 9", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run --rm did not return after stop")
	}
	if _, err := os.Stat(filepath.Join(dataRoot, "containers", id)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("run --rm returned before the container was removed (%v)", err)
	}
}

// With its shim killed, wait and stop fall back to the record (the init
// died with its shim): they answer, they do not hang.
func TestShimCtlDeadShim(t *testing.T) {
	runD(t, "ctl-dead", "busybox", "sleep", "60")
	pid := int(ctlState(t, "ctl-dead")["Pid"].(float64))
	shimPid := ppid(t, pid)
	syscall.Kill(shimPid, syscall.SIGKILL)
	eventually(t, "the shim to die", 5*time.Second, func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(shimPid))
		return err != nil
	})
	done := make(chan result, 2)
	go func() { done <- mr(t, "stop", "ctl-dead") }()
	go func() { done <- mr(t, "wait", "ctl-dead") }()
	for range 2 {
		select {
		case r := <-done:
			if r.code != 0 {
				t.Fatalf("%+v", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stop or wait hung on a container whose shim is dead")
		}
	}
	if r := mr(t, "wait", "ctl-dead"); strings.TrimSpace(r.stdout) != "137" {
		t.Fatalf("wait: %+v, want 137", r)
	}
}
