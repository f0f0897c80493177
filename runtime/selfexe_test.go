package runtime

import (
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A task that has not executed anything since it was cloned still carries
// PF_FORKNOEXEC: every thread the Go runtime started is one. waitExeced
// must wait for such a task (and give up with a clear error), and return
// at once for one that has executed (this process's main thread).
func TestWaitExecedWaitsForTheExec(t *testing.T) {
	if err := waitExeced(os.Getpid(), time.Second); err != nil {
		t.Fatalf("main thread: %v", err)
	}
	tids := make(chan int)
	done := make(chan struct{})
	defer close(done)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		tids <- unix.Gettid()
		<-done
	}()
	tid := <-tids
	if tid == os.Getpid() {
		t.Skip("the goroutine landed on the main thread")
	}
	ps, err := readProcStat(tid)
	if err != nil || ps.Flags&pfForkNoExec == 0 {
		t.Fatalf("thread %d: flags %#x, %v: want PF_FORKNOEXEC", tid, ps.Flags, err)
	}
	err = waitExeced(tid, 30*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "has not executed") {
		t.Fatalf("waitExeced on a task that never executed: %v", err)
	}
}
