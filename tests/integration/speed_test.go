//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestShimCollectsOnlyWhenIdle: the shim starts the container with Go's
// default GOGC, so its start-up heap (under 4 MB) needs no garbage
// collection on the path of every run; once idle it lowers GOGC and
// returns its memory, which is one forced collection. GODEBUG=gctrace=1,
// which the shim inherits from `run -d`, writes a line per collection to
// shim.log ("(forced)" at the end of a forced one). With GOGC=20 in the
// shim's environment there were four before the idle one.
func TestShimCollectsOnlyWhenIdle(t *testing.T) {
	cmd := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "run", "-d", "--name", "gcidle", "busybox", "sleep", "30")
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	out, err := cmd.Output()
	rmAtEnd(t, "gcidle")
	if err != nil {
		t.Fatalf("run -d: %v", err)
	}
	id := strings.TrimSpace(string(out))
	log := filepath.Join(dataRoot, "containers", id, "shim.log")
	var lines []string
	// The idle release comes 300 ms after the start (shim.idleAfter).
	eventually(t, "the idle collection", 10*time.Second, func() bool {
		b, _ := os.ReadFile(log)
		lines = nil
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "gc ") {
				lines = append(lines, l)
			}
		}
		return len(lines) > 0 && strings.HasSuffix(lines[len(lines)-1], "(forced)")
	})
	for _, l := range lines {
		if !strings.HasSuffix(l, "(forced)") {
			t.Errorf("the shim collected before it went idle: %s", l)
		}
	}
}

// TestRunRmReturnsAfterNetworkRemoval: the shim removes the container's
// veth beside its unmount and removal (shimEvents.Exited), but `run --rm`
// still returns only once both are done: right after it, no veth of it is
// on the host and the network lists no container. The removal takes a few
// ms, less than the unmount and removal beside it, so a run --rm that did
// not wait for it would still return after it nearly every time: the test
// holds the network lock (DATA-ROOT/network/lock, flock(2)) while the
// container exits, so the removal cannot end before the test lets it, and
// run --rm must still be waiting once the container is gone from ps.
func TestRunRmReturnsAfterNetworkRemoval(t *testing.T) {
	veths := func() map[string]bool {
		out := map[string]bool{}
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			l := i.Name
			if len(l) == 14 && strings.HasPrefix(l, "mr") && (strings.HasSuffix(l, "h") || strings.HasSuffix(l, "c")) {
				out[l] = true
			}
		}
		return out
	}
	before := veths()
	rmAtEnd(t, "rmnet")
	cmd := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "run", "--rm", "-i", "--name", "rmnet", "busybox", "sh", "-c", "echo up; read x; exit 0")
	var stderr bytes.Buffer
	in, out := startPiped(t, cmd, &stderr)
	// The container's first line says it runs: its veth is attached and
	// the network lock is free again.
	started, done := make(chan string, 1), make(chan error, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		started <- line
		io.Copy(io.Discard, out)
		done <- cmd.Wait()
	}()
	select {
	case line := <-started:
		if line != "up\n" {
			t.Fatalf("run --rm: first line %q, want up: %s", line, stderr.String())
		}
	case <-time.After(20 * time.Second):
		in.Close()
		t.Fatal("the container did not start")
	}
	lock, err := os.OpenFile(filepath.Join(dataRoot, "network", "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	unlock := sync.OnceFunc(func() { lock.Close() }) // closing the last descriptor drops the flock
	t.Cleanup(unlock)
	in.Close() // read x meets EOF: the container exits
	eventually(t, "the container gone from ps -a", 10*time.Second, func() bool {
		return strings.TrimSpace(ok(t, "ps", "-a", "-q", "--filter", "name=rmnet")) == ""
	})
	select {
	case err := <-done:
		t.Fatalf("run --rm returned (%v, %s) while the network removal still waited for the lock", err, stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run --rm: %v: %s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run --rm did not return after the network lock was let go")
	}
	for l := range veths() {
		if !before[l] {
			t.Fatalf("veth %s still on the host when run --rm returned", l)
		}
	}
	var nets []map[string]interface{}
	if err := json.Unmarshal([]byte(ok(t, "network", "inspect", "bridge")), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect bridge: %v", err)
	}
	if c, _ := nets[0]["Containers"].(map[string]interface{}); len(c) != 0 {
		t.Fatalf("the network still lists %v when run --rm returned", c)
	}
}

// TestFailedRunLeavesNoShim: `run` starts the container's shim before it
// prepares the container (the shim's start-up runs beside the image
// lookup and the rootfs), so a run that fails in that preparation must
// tell the waiting shim there is nothing to run and wait for it to exit:
// once `run` has returned its error, no shim of this state root is left,
// not even one still starting up (a shim's start-up takes ~20 ms, so a
// run that did not wait would nearly always leave one for this check).
func TestFailedRunLeavesNoShim(t *testing.T) {
	shims := func() []string {
		var out []string
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && bytes.HasPrefix(b, []byte("minirun-shim\x00")) && bytes.Contains(b, []byte("\x00"+stateRoot+"\x00")) {
				out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
		return out
	}
	before := len(shims())
	rmAtEnd(t, "noshim")
	mr(t, "run", "-d", "--name", "noshim", "busybox", "sleep", "30")
	for _, args := range [][]string{
		{"run", "--rm", "--pull", "never", "no-such-image-here", "true"},
		{"run", "--name", "noshim", "busybox", "true"}, // the name is taken
		{"run", "-d", "--name", "noshim", "busybox", "true"},
		{"run", "--rm", "-w", "relative", "busybox", "true"},
	} {
		r := mr(t, args...)
		if r.code == 0 {
			t.Fatalf("minirun %v succeeded", args)
		}
		if got := shims(); len(got) != before+1 {
			t.Fatalf("after the failed minirun %v (%s): shims of this root %q, want only noshim's", args, strings.TrimSpace(r.stderr), got)
		}
	}
}
