package runtime

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A shim waits for its container's whole life. The wait must be parked on
// the poller ("IO wait"), not blocked in wait4/waitid ("syscall"): the
// garbage collector never shrinks the stack of a goroutine in a system
// call, and the idle shim's stack would stay as large as the create path
// made it (bench/detached-100.sh measures the shim's memory).
func TestWaitCodeParksOnThePoller(t *testing.T) {
	cmd := exec.Command("sleep", "3")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	done := make(chan int, 1)
	go func() {
		code, _ := waitCode(cmd)
		done <- code
	}()
	var state string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if state = waiterState(); state != "" && state != "runnable" && state != "running" {
			break
		}
	}
	if state != "IO wait" {
		t.Errorf("the goroutine in waitCode is in %q, want %q", state, "IO wait")
	}
	cmd.Process.Kill()
	select {
	case code := <-done:
		if code != 128+9 {
			t.Errorf("exit code %d after SIGKILL, want %d", code, 128+9)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitCode did not return after the process was killed")
	}
}

// waiterState is the state the Go runtime reports for the goroutine that
// runs waitCode ("IO wait", "syscall", …), or "" when none does.
func waiterState() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "runtime.waitCode(") {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		_, st, ok := strings.Cut(head, "[")
		if !ok {
			return ""
		}
		st, _, _ = strings.Cut(st, "]")
		st, _, _ = strings.Cut(st, ",") // "IO wait, 2 minutes"
		return st
	}
	return ""
}
