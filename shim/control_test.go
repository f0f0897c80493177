package shim

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/runtime"
	"golang.org/x/sys/unix"
)

// fakeInit stands for the container's init: it records the signals the
// control protocol sends it.
type fakeInit struct {
	mu      sync.Mutex
	pid     int
	status  runtime.Status
	signals []string // "TERM", "all KILL"
}

func (f *fakeInit) Pid() int { return f.pid }

func (f *fakeInit) Status() runtime.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeInit) Signal(sig unix.Signal, _ *explain.Tracer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, strings.TrimPrefix(unix.SignalName(sig), "SIG"))
	return nil
}

func (f *fakeInit) SignalAll(sig unix.Signal, _ *explain.Tracer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, "all "+strings.TrimPrefix(unix.SignalName(sig), "SIG"))
	return nil
}

func (f *fakeInit) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.signals...)
}

// serveFake starts a server on a socket of its own, as Run does, and
// returns it with the socket's path.
func serveFake(t *testing.T) (*server, string) {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "shim.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer()
	go s.accept(l)
	t.Cleanup(func() {
		l.Close()
		s.hangUp()
	})
	return s, socket
}

// TestControlStateFollowsTheLifecycle: state reports creating, then the
// init's pid once created, the start time once running (paused when the
// kernel says so), and the last exit.
func TestControlStateFollowsTheLifecycle(t *testing.T) {
	s, socket := serveFake(t)
	st, err := GetState(socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusCreating || st.Pid != 0 {
		t.Fatalf("before create: %+v, want creating with no pid", st)
	}
	f := &fakeInit{pid: 4242, status: runtime.Created}
	s.created(f)
	if st, _ = GetState(socket); st.Status != StatusCreated || st.Pid != 4242 {
		t.Fatalf("after create: %+v, want created, pid 4242", st)
	}
	before := time.Now().UTC()
	f.status = runtime.Running
	s.started(0)
	st, _ = GetState(socket)
	if st.Status != StatusRunning || st.StartedAt.Before(before.Add(-time.Second)) || st.Exit != nil {
		t.Fatalf("after start: %+v, want running with a start time and no exit", st)
	}
	f.mu.Lock()
	f.status = runtime.Paused
	f.mu.Unlock()
	if st, _ = GetState(socket); st.Status != StatusPaused {
		t.Fatalf("frozen: status %q, want paused", st.Status)
	}
	s.exited(Exit{Code: 3, OOMKilled: true, At: time.Now().UTC()})
	st, _ = GetState(socket)
	if st.Status != StatusStopped || st.Pid != 0 || st.Exit == nil || st.Exit.Code != 3 || !st.Exit.OOMKilled {
		t.Fatalf("after exit: %+v, want stopped with exit 3 (OOM)", st)
	}
}

// TestControlKill: kill reaches the init with its signal (all: every
// process), stop is recorded for the restart policy, and a kill with no
// init is ErrNotRunning but still stops the policy.
func TestControlKill(t *testing.T) {
	s, socket := serveFake(t)
	if err := Kill(socket, syscall.SIGTERM, false, false); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("kill before create: %v, want ErrNotRunning", err)
	}
	if s.stopRequested() {
		t.Fatal("a kill without stop marked a stop")
	}
	f := &fakeInit{pid: 7, status: runtime.Running}
	s.created(f)
	s.started(0)
	if err := Kill(socket, syscall.SIGHUP, false, false); err != nil {
		t.Fatal(err)
	}
	if s.stopRequested() {
		t.Fatal("kill -s HUP without stop marked a stop")
	}
	if err := Kill(socket, syscall.SIGKILL, true, true); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.got(), ","); got != "HUP,all KILL" {
		t.Fatalf("signals = %s, want HUP,all KILL", got)
	}
	if !s.stopRequested() {
		t.Fatal("kill with stop did not mark the stop")
	}
	select {
	case <-s.stopCh:
	default:
		t.Fatal("the stop did not wake an --attach-first wait")
	}
	if err := Kill(socket, 0, false, false); err == nil || !strings.Contains(err.Error(), "invalid signal") {
		t.Fatalf("kill 0: %v, want invalid signal", err)
	}
	// Between two runs of a restart policy: no init, but the mark holds.
	s2, socket2 := serveFake(t)
	s2.exited(Exit{Code: 1, Restarting: true})
	if err := Kill(socket2, syscall.SIGTERM, false, true); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("kill while restarting: %v, want ErrNotRunning", err)
	}
	if !s2.stopRequested() {
		t.Fatal("a stop between two runs was lost")
	}
}

// TestControlWaitersSeeEveryExit: several waiters at once see each exit,
// a restarting one flagged, Exit returns the last one, and Done returns
// once the shim hangs up, not before.
func TestControlWaitersSeeEveryExit(t *testing.T) {
	s, socket := serveFake(t)
	s.created(&fakeInit{pid: 9, status: runtime.Running})
	s.started(0)
	var ws []*Waiter
	for range 3 {
		w, err := Wait(socket)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w.State == nil || w.State.Status != StatusRunning || w.State.Pid != 9 {
			t.Fatalf("waiter's state = %+v, want running pid 9", w.State)
		}
		ws = append(ws, w)
	}
	if _, err := ws[0].Exit(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Exit before any exit: %v, want ErrTimeout", err)
	}
	s.exited(Exit{Code: 1, Restarting: true})
	s.created(&fakeInit{pid: 10, status: runtime.Running})
	s.started(1)
	s.exited(Exit{Code: 2, OOMKilled: true})
	for i, w := range ws {
		ex, err := w.Exit(5 * time.Second)
		if err != nil {
			t.Fatalf("waiter %d: %v", i, err)
		}
		if ex.Code != 2 || !ex.OOMKilled || ex.Restarting {
			t.Fatalf("waiter %d: exit %+v, want the last one (2, OOM)", i, ex)
		}
	}
	// The shim still works (unmount, --rm): Done must wait for it.
	if err := ws[1].Done(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Done while the shim still works: %v, want ErrTimeout", err)
	}
	late, err := Wait(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if ex, err := late.Exit(5 * time.Second); err != nil || ex.Code != 2 {
		t.Fatalf("a waiter after the end: %+v, %v; want exit 2 at once", ex, err)
	}
	done := make(chan error, len(ws))
	for _, w := range ws {
		go func() { done <- w.Done(5 * time.Second) }()
	}
	time.Sleep(20 * time.Millisecond)
	s.hangUp()
	for range ws {
		if err := <-done; err != nil {
			t.Fatalf("Done: %v", err)
		}
	}
	if err := late.Done(5 * time.Second); err != nil {
		t.Fatalf("late Done: %v", err)
	}
}

// TestControlWaiterLearnsOfADeadShim: a shim that dies (the connection
// ends without a last exit) is ErrShimGone, not a hang and not an exit.
func TestControlWaiterLearnsOfADeadShim(t *testing.T) {
	s, socket := serveFake(t)
	s.created(&fakeInit{pid: 9, status: runtime.Running})
	w, err := Wait(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s.hangUp()
	if _, err := w.Exit(5 * time.Second); !errors.Is(err, ErrShimGone) {
		t.Fatalf("Exit from a dead shim: %v, want ErrShimGone", err)
	}
}

// TestControlNoShim: nothing listening is ErrNoShim for every request.
func TestControlNoShim(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock")
	if _, err := GetState(socket); !errors.Is(err, ErrNoShim) {
		t.Fatalf("state: %v", err)
	}
	if err := Kill(socket, syscall.SIGTERM, false, true); !errors.Is(err, ErrNoShim) {
		t.Fatalf("kill: %v", err)
	}
	if _, err := Wait(socket); !errors.Is(err, ErrNoShim) {
		t.Fatalf("wait: %v", err)
	}
	if _, err := Attach(socket, AttachOpts{}); !errors.Is(err, ErrNoShim) {
		t.Fatalf("attach: %v", err)
	}
}

// rawRequest sends one request frame as given and returns the answer.
func rawRequest(t *testing.T, socket string, payload []byte) *Reply {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := WriteFrame(c, FrameRequest, payload); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := ReadFrame(c)
	if err != nil || typ != FrameReply {
		t.Fatalf("answer: %q, %v", typ, err)
	}
	var r Reply
	if err := json.Unmarshal(p, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestControlRefusesWhatItDoesNotSpeak: another version, an unknown
// request and bad JSON get an error answer, and the shim serves on.
func TestControlRefusesWhatItDoesNotSpeak(t *testing.T) {
	_, socket := serveFake(t)
	for _, tc := range []struct{ payload, want string }{
		{`{"version":2,"op":"state"}`, "version 2"},
		{`{"version":1,"op":"reboot"}`, `unknown request "reboot"`},
		{`{"version":1,`, "bad request"},
	} {
		r := rawRequest(t, socket, []byte(tc.payload))
		if r.Version != ProtocolVersion || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s: answer %+v, want version %d and an error with %q", tc.payload, r, ProtocolVersion, tc.want)
		}
	}
	if _, err := GetState(socket); err != nil {
		t.Fatalf("the shim stopped serving: %v", err)
	}
}

// TestControlProbeDoesNotReleaseAttachFirst: only an attach request
// starts an --attach-first container; a probe that connects and hangs
// up (shimAlive), or a state request, does not.
func TestControlProbeDoesNotReleaseAttachFirst(t *testing.T) {
	s, socket := serveFake(t)
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	GetState(socket)
	select {
	case <-s.attached:
		t.Fatal("a probe released the container")
	case <-time.After(50 * time.Millisecond):
	}
	s.created(&fakeInit{pid: 5, status: runtime.Created})
	got := make(chan int, 1)
	go func() {
		code, _ := Attach(socket, AttachOpts{Stdout: &strings.Builder{}, Stderr: &strings.Builder{}})
		got <- code
	}()
	select {
	case <-s.attached:
	case <-time.After(5 * time.Second):
		t.Fatal("attach did not release the container")
	}
	s.exited(Exit{Code: 4})
	s.finish(4)
	if code := <-got; code != 4 {
		t.Fatalf("attach returned %d, want 4", code)
	}
	// An attach after the end gets the exit code at once.
	if code, err := Attach(socket, AttachOpts{}); err != nil || code != 4 {
		t.Fatalf("attach after the end: %d, %v; want 4", code, err)
	}
}

// TestControlSilentPeerIsNoShim: a socket whose listener never answers
// (a shim of an older minirun took the request for attach input) is
// ErrNoShim after answerTimeout, not a hang.
func TestControlSilentPeerIsNoShim(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "old.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // holds the connection, says nothing
		}
	}()
	start := time.Now()
	if _, err := Wait(socket); !errors.Is(err, ErrNoShim) {
		t.Fatalf("wait on a silent peer: %v, want ErrNoShim", err)
	}
	if took := time.Since(start); took > answerTimeout+2*time.Second {
		t.Fatalf("took %v", took)
	}
}

// TestControlResize: resize sets the size of the terminal the shim holds
// (TIOCGWINSZ reads it back), and a container without one is told so.
func TestControlResize(t *testing.T) {
	s, socket := serveFake(t)
	if err := Resize(socket, 33, 101); !errors.Is(err, ErrNoTerminal) {
		t.Fatalf("resize without a terminal: %v, want ErrNoTerminal", err)
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	s.setInput(master, master)
	if err := Resize(socket, 33, 101); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(master.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Row != 33 || ws.Col != 101 {
		t.Fatalf("terminal is %dx%d, want 33x101", ws.Row, ws.Col)
	}
}

// TestControlUpdateRestart: update changes the policy the next exit is
// judged by; a policy ParseRestart would refuse is refused over the wire
// too, and leaves the old one in force.
func TestControlUpdateRestart(t *testing.T) {
	s, socket := serveFake(t)
	s.restart = RestartPolicy{Name: "no"}
	if s.restartPolicy().ShouldRestart(1, 0, false) {
		t.Fatal("policy no restarts")
	}
	if err := UpdateRestart(socket, RestartPolicy{Name: "on-failure", MaximumRetryCount: 1}); err != nil {
		t.Fatal(err)
	}
	p := s.restartPolicy()
	if !p.ShouldRestart(1, 0, false) || p.ShouldRestart(1, 1, false) || p.ShouldRestart(0, 0, false) {
		t.Fatalf("after update to on-failure:1 the shim holds %+v", p)
	}
	for _, bad := range []RestartPolicy{{Name: "sometimes"}, {Name: "always", MaximumRetryCount: 3}, {Name: "on-failure", MaximumRetryCount: -1}} {
		if err := UpdateRestart(socket, bad); err == nil {
			t.Errorf("update to %+v was taken", bad)
		}
	}
	if got := s.restartPolicy(); got != p {
		t.Fatalf("a refused update changed the policy to %+v", got)
	}
}
