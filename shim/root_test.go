package shim

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
	"github.com/minirun/minirun/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The test binary doubles as the container's init (runtime.Create runs
// os.Executable with "init", as the shim does with minirun itself).
func init() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		goruntime.GOMAXPROCS(1)
		goruntime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		runtime.Init()
	}
	os.Exit(m.Run())
}

// busyboxSpec makes a busybox rootfs (testutil.BusyboxRootfs) and a spec
// that runs args in it.
func busyboxSpec(t *testing.T, args ...string) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	rootfs := testutil.BusyboxRootfs(t, dir)
	s := runtime.DefaultSpec()
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = rootfs
	return dir, s
}

// recordingEvents is the container store's side, reduced to a log.
type recordingEvents struct {
	mu  sync.Mutex
	log []string
}

func (e *recordingEvents) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *recordingEvents) BeforeCreate() error    { return nil }
func (e *recordingEvents) Created(pid int) error  { return nil }
func (e *recordingEvents) Started(_, n int) error { e.add(fmt.Sprintf("started %d", n)); return nil }
func (e *recordingEvents) Exited(code int, oom, again bool) error {
	e.add(fmt.Sprintf("exited %d again=%v", code, again))
	return nil
}
func (e *recordingEvents) StopRequested() bool { return false }
func (e *recordingEvents) Finished() error     { e.add("finished"); return nil }

func (e *recordingEvents) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.log, "; ")
}

// startShim runs a real shim (Run) for a busybox container in this
// process, on a locked thread as `minirun shim` does, and waits for its
// "ok". The returned function waits for Run's result.
func startShim(t *testing.T, name string, restart RestartPolicy, args ...string) (string, string, *recordingEvents, func() error) {
	t.Helper()
	bundle, spec := busyboxSpec(t, args...)
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ev := &recordingEvents{}
	id := fmt.Sprintf("%s-%d", name, os.Getpid())
	cfg := Config{
		ID: id, Bundle: bundle, StateRoot: filepath.Join(dir, "state"), Spec: spec,
		LogPath: filepath.Join(dir, "log.json"), Socket: filepath.Join(dir, "shim.sock"),
		Restart: restart, Ready: w, Events: ev,
	}
	ended := make(chan struct{})
	var runErr error
	go func() {
		defer close(ended)
		// The init's parent-death signal belongs to this thread: it
		// must live as long as the container (go.dev/issue/27505).
		goruntime.LockOSThread()
		runErr = Run(cfg)
	}()
	wait := func() error {
		select {
		case <-ended:
			return runErr
		case <-time.After(10 * time.Second):
			return errors.New("the shim did not end")
		}
	}
	line, _ := bufio.NewReader(r).ReadString('\n')
	if strings.TrimSpace(line) != "ok" {
		t.Fatalf("shim: %q (%v)", line, ev)
	}
	t.Cleanup(func() {
		Kill(cfg.Socket, syscall.SIGKILL, true, true)
		if err := wait(); err != nil {
			t.Error(err)
		}
		runtime.DeleteByID(cfg.StateRoot, id, true, nil)
	})
	return cfg.Socket, cfg.LogPath, ev, wait
}

// waitLog waits until the container's log holds want: the container got
// that far (a trap is set, a child forked).
func waitLog(t *testing.T, log, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), want) {
			return
		}
	}
	t.Fatalf("the container never logged %q", want)
}

// TestShimControlRoot drives a real shim: state names the init's pid,
// two waiters see the exit code of a SIGTERM the shim delivered (a trap
// in the container answers it), and they get end of file only after the
// shim has finished.
func TestShimControlRoot(t *testing.T) {
	testutil.RequireRoot(t)
	socket, log, ev, wait := startShim(t, "shimctl", RestartPolicy{Name: "always"},
		"sh", "-c", "trap 'exit 7' TERM; echo trapped; while :; do sleep 0.05; done")
	st, err := GetState(socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusRunning || st.Pid <= 0 || st.StartedAt.IsZero() {
		t.Fatalf("state = %+v, want running with a pid and a start time", st)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); err != nil {
		t.Fatalf("the init %d the shim names does not exist: %v", st.Pid, err)
	}
	var ws []*Waiter
	for range 2 {
		w, err := Wait(socket)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ws = append(ws, w)
	}
	// A PID 1 drops a SIGTERM it has no handler for: the trap first.
	waitLog(t, log, "trapped")
	// stop: the policy (always) must not start it again.
	if err := Kill(socket, syscall.SIGTERM, false, true); err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		ex, err := w.Exit(10 * time.Second)
		if err != nil {
			t.Fatalf("waiter %d: %v", i, err)
		}
		if ex.Code != 7 || ex.Restarting {
			t.Fatalf("waiter %d: exit %+v, want 7, no restart", i, ex)
		}
	}
	for i, w := range ws {
		if err := w.Done(10 * time.Second); err != nil {
			t.Fatalf("waiter %d: Done: %v", i, err)
		}
		// End of file comes last: the shim has finished, socket and all.
		if got := ev.String(); got != "started 0; exited 7 again=false; finished" {
			t.Fatalf("events at end of file: %s", got)
		}
		if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the socket outlived the shim: %v", err)
		}
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestShimControlRestartRoot: with on-failure:2 a waiter hears of each
// exit, the first two as restarting, and Exit returns the third.
func TestShimControlRestartRoot(t *testing.T) {
	testutil.RequireRoot(t)
	socket, _, ev, _ := startShim(t, "shimrestart", RestartPolicy{Name: "on-failure", MaximumRetryCount: 2},
		"sh", "-c", "sleep 0.3; exit 3")
	w, err := Wait(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var seen []string
	w.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		r, err := readReply(w.c)
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		if r.Exit == nil {
			continue
		}
		seen = append(seen, fmt.Sprintf("%d/%v", r.Exit.Code, r.Exit.Restarting))
		if !r.Exit.Restarting {
			break
		}
	}
	// The waiter registered while the first run was under way (0.3 s).
	if got := strings.Join(seen, " "); got != "3/true 3/true 3/false" {
		t.Fatalf("exits seen: %s, want 3/true 3/true 3/false (events: %v)", got, ev)
	}
	if err := w.Done(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestShimControlKillAllRoot: kill --all reaches a process the init
// forked, in the container's cgroup.
func TestShimControlKillAllRoot(t *testing.T) {
	testutil.RequireRoot(t)
	// The init (sh, PID 1) ignores SIGTERM; its child sleep does not.
	socket, log, _, _ := startShim(t, "shimkillall", RestartPolicy{Name: "no"},
		"sh", "-c", "sleep 1000 & echo forked; wait $!; exit 5")
	w, err := Wait(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitLog(t, log, "forked")
	if err := Kill(socket, syscall.SIGTERM, true, true); err != nil {
		t.Fatal(err)
	}
	ex, err := w.Exit(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 5 {
		t.Fatalf("exit %d, want 5 (the child killed, the init going on to exit 5)", ex.Code)
	}
}
