package shim

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Events are what the shim tells the container store as the container
// lives; package container implements them.
type Events interface {
	// BeforeCreate runs before each create: the network's address is
	// reserved and the /etc files written.
	BeforeCreate() error
	// Created runs once the init exists in its namespaces, while it
	// starts up and before start (runtime.CreateOpts.AfterClone): the
	// network interface goes in. An error fails the create.
	Created(pid int) error
	// Started records a (re)started container: its init's pid.
	Started(pid, restarts int) error
	// Exited records an exit; restarting says the policy will start it again.
	Exited(code int, oomKilled, restarting bool) error
	// StopRequested reports whether the container is being removed (rm
	// took its directory away), so the restart policy must not act. A
	// stop or kill says so itself, over the control protocol.
	StopRequested() bool
	// Finished runs once, after the last exit: unmount, maybe remove.
	Finished() error
}

// Config is one shim's job.
type Config struct {
	ID        string
	Bundle    string // the container's directory (config.json inside)
	StateRoot string // the runtime's --root
	Spec      *specs.Spec
	LogPath   string // Docker's <id>-json.log
	Socket    string // the shim socket: attach and control (control.go)
	Restart   RestartPolicy
	// Interactive keeps the container's stdin open for attach (-i);
	// otherwise it reads /dev/null, as with Docker.
	Interactive bool
	// Ready receives "ok\n" once the container runs, or the error that
	// stopped it; the CLI that started the shim waits on the other end.
	Ready  *os.File
	Events Events
	// AttachFirst holds the first start until a client has attached, so
	// an attached `run` sees the container's output from its first byte
	// (Docker attaches before it starts, too).
	AttachFirst bool
	// Tracer, when set, narrates the first create (cgroups, namespaces,
	// the init's steps) to whoever started the shim, over the same pipe
	// as the network steps (Events). Restarts run silently: the listener
	// is gone by then.
	Tracer *explain.Tracer
	// OnIdle, when set, runs once the container has been up for
	// idleAfter and the shim has nothing left to do but wait (the shim
	// command returns memory to the kernel there).
	OnIdle func()
}

// Run is the shim's main loop. The caller must have locked its goroutine
// to the main thread: the container's parent-death signal fires when the
// thread that started it exits (go.dev/issue/27505).
func Run(cfg Config) (retErr error) {
	ready := func(err error) {
		if cfg.Ready == nil {
			return
		}
		msg := "ok\n"
		if err != nil {
			// The exit code travels too: 127/126 for a missing or
			// unrunnable command, as `docker run` reports them.
			code := 1
			var ee *runtime.ExitError
			if errors.As(err, &ee) {
				code = ee.Code
			}
			msg = fmt.Sprintf("error %d %s\n", code, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		cfg.Ready.WriteString(msg)
		cfg.Ready.Close()
		cfg.Ready = nil
	}
	defer func() { ready(retErr) }()

	logf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", cfg.LogPath, err)
	}
	defer logf.Close()
	s := newServer()
	s.restart = cfg.Restart
	os.Remove(cfg.Socket)
	l, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Socket, err)
	}
	// ORDER: the socket goes after Finished (defers run last), and the
	// waiters' connections after the socket: their end of file means
	// "recorded, unmounted, removed" (if the shim dies, the kernel closes
	// them, and they learn it is gone).
	defer s.hangUp()
	defer os.Remove(cfg.Socket)
	defer l.Close()
	go s.accept(l)

	restarts := 0
	for {
		code, oom, err := s.runOnce(cfg, logf, restarts, ready)
		stoppedEarly := errors.Is(err, errStopped)
		switch {
		case stoppedEarly:
			// Stopped before the (re)start: the last exit stands; a
			// container that never ran counts as killed.
			code, oom = 128+int(syscall.SIGKILL), false
			if last := s.lastExit(); last != nil {
				code, oom = last.Code, last.OOMKilled
			}
		case err != nil:
			if restarts == 0 {
				return err
			}
			// A restart that fails to even start is an exit like any other.
			code = 127
		}
		again := !stoppedEarly && s.restartPolicy().ShouldRestart(code, restarts, s.stopRequested() || cfg.Events.StopRequested())
		if err := cfg.Events.Exited(code, oom, again); err != nil {
			fmt.Fprintf(os.Stderr, "minirun shim: record exit: %v\n", err)
		}
		// ORDER: meta.json first, then the waiters: one that reads the
		// record after the event finds the exit in it.
		s.exited(Exit{Code: code, OOMKilled: oom, At: time.Now().UTC(), Restarting: again})
		if !again {
			s.finish(code)
			break
		}
		restarts++
	}
	return cfg.Events.Finished()
}

// idleAfter is how long a container runs before its shim counts as idle.
// Releasing memory costs a garbage collection and a walk of the mappings
// (about 10 ms of CPU): a container that ends at once (`run --rm … true`)
// must not wait for it, and one that runs on loses nothing by the wait.
const idleAfter = 300 * time.Millisecond

// errStopped says a stop came before the init was started: it is not
// started, and the policy does not act.
var errStopped = errors.New("stopped before start")

// runOnce creates and starts the container, pumps its output until it
// exits, and removes the runtime's state.
func (s *server) runOnce(cfg Config, logf *os.File, restarts int, ready func(error)) (int, bool, error) {
	if restarts > 0 && s.stopRequested() {
		return 0, false, errStopped // stopped between two runs: no new one
	}
	spec := cfg.Spec
	var stdin, stdout, stderr *os.File // the container's ends
	var inW io.WriteCloser
	var outR, errR *os.File
	if !spec.Process.Terminal {
		var err error
		if cfg.Interactive {
			r, w, err := os.Pipe()
			if err != nil {
				return 0, false, err
			}
			stdin, inW = r, w
		} else if stdin, err = os.Open(os.DevNull); err != nil {
			return 0, false, err
		}
		if outR, stdout, err = os.Pipe(); err != nil {
			return 0, false, err
		}
		if errR, stderr, err = os.Pipe(); err != nil {
			return 0, false, err
		}
	}
	if err := cfg.Events.BeforeCreate(); err != nil {
		return 0, false, err
	}
	// The network goes in while the init starts up (AfterClone): both
	// take tens of milliseconds, and neither needs the other. A create
	// that fails, or a shim killed (rm -f of a container still being
	// created kills its creator), after the veth was made leaves nothing
	// behind: the veth's names are recorded before it is made
	// (network.Manager.Attach), so the rollback that follows (the CLI's
	// undo, rm -f's teardown, the next BeforeCreate) deletes it. Without
	// that record, the hostile SIGKILL loop of `run -d` found a veth pair
	// left on the host.
	var tr *explain.Tracer
	if restarts == 0 {
		tr = cfg.Tracer
	}
	ctr, err := runtime.Create(runtime.CreateOpts{
		Root: cfg.StateRoot, ID: cfg.ID, Bundle: cfg.Bundle, Spec: spec,
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Pdeathsig: syscall.SIGKILL,
		AfterClone: cfg.Events.Created, Tracer: tr,
	})
	for _, f := range []*os.File{stdin, stdout, stderr} {
		if f != nil {
			f.Close() // the container has its own copies now
		}
	}
	if err != nil {
		return 0, false, err
	}
	s.created(ctr)
	var pumps sync.WaitGroup
	if ctr.Console != nil {
		s.setInput(ctr.Console, ctr.Console)
		pumps.Add(1)
		go s.pump(&pumps, ctr.Console, FrameStdout, &logWriter{f: logf, stream: "stdout"})
	} else {
		s.setInput(inW, nil)
		pumps.Add(2)
		go s.pump(&pumps, outR, FrameStdout, &logWriter{f: logf, stream: "stdout"})
		go s.pump(&pumps, errR, FrameStderr, &logWriter{f: logf, stream: "stderr"})
	}
	if cfg.AttachFirst && restarts == 0 {
		ready(nil)
		select {
		case <-s.attached:
		case <-s.stopCh:
		case <-time.After(30 * time.Second):
		}
	}
	// ORDER: kill marks the stop before it reads the container, and the
	// container is published (created) before this check: a stop either
	// sees it and signals it, or is seen here.
	if s.stopRequested() {
		ctr.Delete(true, nil)
		pumps.Wait()
		if ctr.Console != nil {
			ctr.Console.Close()
		}
		s.setInput(nil, nil)
		return 0, false, errStopped
	}
	if err := ctr.Start(nil); err != nil {
		ctr.Delete(true, nil)
		return 0, false, err
	}
	if err := cfg.Events.Started(ctr.Pid(), restarts); err != nil {
		fmt.Fprintf(os.Stderr, "minirun shim: record start: %v\n", err)
	}
	s.started(restarts)
	ready(nil)
	var idle *time.Timer
	if cfg.OnIdle != nil {
		idle = time.AfterFunc(idleAfter, cfg.OnIdle)
	}
	code, _ := ctr.Wait()
	if idle != nil {
		idle.Stop()
	}
	pumps.Wait()
	if ctr.Console != nil {
		ctr.Console.Close()
	}
	s.setInput(nil, nil)
	oom := ctr.OOMKilled()
	if err := ctr.Delete(true, nil); err != nil {
		fmt.Fprintf(os.Stderr, "minirun shim: delete: %v\n", err)
	}
	return code, oom, nil
}

// server answers the shim's socket: it fans the container's output out to
// attached clients and their input into the container, and serves the
// control requests (control.go).
type server struct {
	mu       sync.Mutex
	clients  map[net.Conn]bool // attached
	waiters  map[net.Conn]bool // waiting for exits
	attached chan struct{}     // closed when the first client attaches
	once     sync.Once
	in       io.WriteCloser // the container's stdin (pipe or pty master)
	pty      *os.File       // for resizes

	// What the control requests read and change, under mu.
	ctr       initProcess // the current init; nil between runs
	status    string
	startedAt time.Time
	restarts  int
	exit      *Exit         // the last exit
	stop      bool          // a stop was asked for: no restart
	restart   RestartPolicy // the policy, which `update --restart` changes
	stopCh    chan struct{} // closed with stop, for the --attach-first wait
	closed    bool          // hung up: the shim is done
}

// initProcess is what the control requests need of the container's init:
// a *runtime.Container (a fake in the tests).
type initProcess interface {
	Pid() int
	Status() runtime.Status
	Signal(sig unix.Signal, tr *explain.Tracer) error
	SignalAll(sig unix.Signal, tr *explain.Tracer) error
}

func newServer() *server {
	return &server{clients: map[net.Conn]bool{}, waiters: map[net.Conn]bool{},
		attached: make(chan struct{}), stopCh: make(chan struct{}), status: StatusCreating}
}

func (s *server) created(ctr initProcess) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctr, s.status = ctr, StatusCreated
}

func (s *server) started(restarts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.startedAt, s.restarts = StatusRunning, time.Now().UTC(), restarts
}

func (s *server) stopRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop
}

func (s *server) lastExit() *Exit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit
}

// exited records an exit and tells every waiter.
func (s *server) exited(ex Exit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctr, s.exit = nil, &ex
	s.status = StatusStopped
	if ex.Restarting {
		s.status = StatusRestarting
	}
	for c := range s.waiters {
		// A waiter that does not read must not hold the shim up.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if writeReply(c, Reply{Exit: &ex}) != nil {
			c.Close()
			delete(s.waiters, c)
		}
	}
}

// stateLocked is the state as the control protocol reports it; s.mu held.
func (s *server) stateLocked() *State {
	st := &State{Status: s.status, StartedAt: s.startedAt, Restarts: s.restarts, Exit: s.exit}
	if s.ctr != nil {
		st.Pid = s.ctr.Pid()
		// The kernel knows better: a frozen cgroup is paused, a dead
		// init not yet reaped is stopped.
		switch s.ctr.Status() {
		case runtime.Paused:
			st.Status = StatusPaused
		case runtime.Stopped:
			st.Status = StatusStopped
		}
	}
	return st
}

func (s *server) setInput(in io.WriteCloser, pty *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in != nil && s.in != in && s.pty == nil {
		s.in.Close()
	}
	s.in, s.pty = in, pty
}

// pump copies one output stream to the log and to every attached client.
//
// It waits for the stream to have something to read before it reads, and
// reads in readOnce: the 32 KiB buffer lives in readOnce's stack frame
// (the compiler keeps it off the heap), so a pump that waits grows no
// stack for it. Most detached containers print little or nothing; a pump
// blocked in Read with the buffer in its frame would keep a 64 KiB stack
// for the container's whole life, two per idle shim
// (bench/detached-100.sh). The garbage collector shrinks the stack again
// once the output stops.
func (s *server) pump(wg *sync.WaitGroup, r *os.File, typ byte, log *logWriter) {
	defer wg.Done()
	defer log.Flush()
	rc, err := r.SyscallConn()
	for {
		if err == nil {
			waitReadable(rc)
		}
		if s.readOnce(r, typ, log) != nil {
			if r != s.pty {
				r.Close()
			}
			return
		}
	}
}

// readOnce reads what the stream has (at most 32 KiB) and passes it on.
// Never inlined: inlined into pump, its buffer would be in pump's frame.
//
//go:noinline
func (s *server) readOnce(r *os.File, typ byte, log *logWriter) error {
	var buf [32 * 1024]byte
	n, err := r.Read(buf[:])
	if n > 0 {
		log.Write(buf[:n])
		s.broadcast(typ, buf[:n])
	}
	return err
}

// waitReadable parks the goroutine on the runtime's poller (epoll) until
// the descriptor can be read without blocking, or has hung up. The
// poller's readiness is edge-triggered and reset before each wait, so the
// test is a poll(2) with no timeout on the descriptor itself: output that
// arrived before the wait is seen too. A descriptor the poller does not
// watch returns at once (the Read that follows blocks, as before).
func waitReadable(rc syscall.RawConn) {
	rc.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err != nil || n > 0
	})
}

func (s *server) broadcast(typ byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		if err := WriteFrame(c, typ, p); err != nil {
			c.Close()
			delete(s.clients, c)
		}
	}
}

func (s *server) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go s.serve(c)
	}
}

// serve reads a connection's request and answers it (control.go). The
// goroutine lives as long as the connection: an attached client's input,
// or a waiter's hang-up, is read here.
func (s *server) serve(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	typ, p, err := ReadFrame(c)
	if err != nil || typ != FrameRequest {
		// A probe (shimAlive) connects and hangs up; anything else
		// speaks no protocol of ours.
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal(p, &req); err != nil {
		writeReply(c, Reply{Error: "bad request: " + err.Error()})
		c.Close()
		return
	}
	if req.Version != ProtocolVersion {
		writeReply(c, Reply{Error: fmt.Sprintf("control protocol version %d is not spoken here (this shim speaks %d)", req.Version, ProtocolVersion)})
		c.Close()
		return
	}
	switch req.Op {
	case OpAttach:
		s.serveAttach(c)
	case OpWait:
		s.serveWait(c)
	case OpKill:
		r := Reply{}
		if err := s.kill(req); err != nil {
			r.Error = err.Error()
		}
		writeReply(c, r)
		c.Close()
	case OpResize:
		r := Reply{}
		s.mu.Lock()
		pty := s.pty
		s.mu.Unlock()
		switch {
		case pty == nil:
			r.Error = ErrNoTerminal.Error()
		default:
			if err := runtime.SetWinsize(pty, runtime.Winsize{Rows: req.Rows, Cols: req.Cols}); err != nil {
				r.Error = fmt.Sprintf("resize: %v", err)
			}
		}
		writeReply(c, r)
		c.Close()
	case OpUpdate:
		r := Reply{}
		if req.Restart == nil {
			r.Error = "update: no restart policy given"
		} else if err := req.Restart.Check(); err != nil {
			r.Error = err.Error()
		} else {
			s.mu.Lock()
			s.restart = *req.Restart
			s.mu.Unlock()
		}
		writeReply(c, r)
		c.Close()
	case OpState:
		s.mu.Lock()
		r := Reply{State: s.stateLocked()}
		s.mu.Unlock()
		writeReply(c, r)
		c.Close()
	default:
		writeReply(c, Reply{Error: fmt.Sprintf("unknown request %q", req.Op)})
		c.Close()
	}
}

// restartPolicy is the policy in force: the one the shim started with,
// or the last `update --restart`.
func (s *server) restartPolicy() RestartPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restart
}

// kill signals the init (all: every process of the container). With
// stop, the exit that follows is one that was asked for.
func (s *server) kill(req Request) error {
	if req.Signal <= 0 || req.Signal > 64 {
		return fmt.Errorf("invalid signal %d", req.Signal)
	}
	s.mu.Lock()
	if req.Stop && !s.stop {
		s.stop = true
		close(s.stopCh)
	}
	ctr := s.ctr
	s.mu.Unlock()
	if ctr == nil {
		return ErrNotRunning
	}
	sig := unix.Signal(req.Signal)
	var err error
	if req.All {
		err = ctr.SignalAll(sig, nil)
	} else {
		err = ctr.Signal(sig, nil)
	}
	// The init may have exited between the lock and the signal (a
	// restart policy's container between two runs): nothing runs, which
	// is the ErrNotRunning answer, and a stop mark set above holds.
	var te *runtime.TransitionError
	if errors.As(err, &te) && te.Status == runtime.Stopped {
		return ErrNotRunning
	}
	return err
}

// serveAttach adds an attached client, then reads its input until it
// hangs up.
func (s *server) serveAttach(c net.Conn) {
	s.mu.Lock()
	if s.status == StatusStopped && s.ctr == nil {
		// The end came already: the client gets it at once.
		code := s.exit.Code
		s.mu.Unlock()
		writeReply(c, Reply{})
		writeExit(c, code)
		c.Close()
		return
	}
	// Registered and answered under the lock: no output frame can come
	// before the answer.
	if err := writeReply(c, Reply{}); err != nil {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.clients[c] = true
	s.mu.Unlock()
	s.once.Do(func() { close(s.attached) })
	for {
		typ, p, err := ReadFrame(c)
		if err != nil {
			s.mu.Lock()
			delete(s.clients, c)
			s.mu.Unlock()
			c.Close()
			return
		}
		s.mu.Lock()
		in, pty := s.in, s.pty
		s.mu.Unlock()
		switch typ {
		case FrameStdin:
			if in != nil {
				in.Write(p)
			}
		case FrameClose:
			if in != nil && pty == nil {
				in.Close()
			}
		case FrameResize:
			if pty != nil && len(p) == 4 {
				runtime.SetWinsize(pty, runtime.Winsize{Rows: binary.BigEndian.Uint16(p), Cols: binary.BigEndian.Uint16(p[2:])})
			}
		}
	}
}

// serveWait registers a waiter, answers with the state, and keeps the
// connection until the client hangs up or this process ends. A waiter
// that comes after the last exit gets it at once.
func (s *server) serveWait(c net.Conn) {
	s.mu.Lock()
	err := writeReply(c, Reply{State: s.stateLocked()})
	if err == nil && s.status == StatusStopped && s.ctr == nil && s.exit != nil {
		err = writeReply(c, Reply{Exit: s.exit})
	}
	if err == nil {
		s.waiters[c] = true // for the exits to come, and for hangUp
	}
	closed := s.closed
	s.mu.Unlock()
	if err != nil || closed {
		c.Close()
		return
	}
	// Nothing more comes from a waiter: this read ends when it hangs up.
	var b [1]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			break
		}
	}
	s.mu.Lock()
	delete(s.waiters, c)
	s.mu.Unlock()
	c.Close()
}

// writeReply sends one answer.
func writeReply(c net.Conn, r Reply) error {
	r.Version = ProtocolVersion
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return WriteFrame(c, FrameReply, b)
}

func writeExit(c net.Conn, code int) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	return WriteFrame(c, FrameExit, b[:])
}

// hangUp closes every connection left: the waiters' end of file.
func (s *server) hangUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.waiters {
		c.Close()
		delete(s.waiters, c)
	}
	for c := range s.clients {
		c.Close()
		delete(s.clients, c)
	}
}

// finish tells every attached client the exit code and hangs up.
func (s *server) finish(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		writeExit(c, code)
		c.Close()
		delete(s.clients, c)
	}
}

// ErrNoShim means nothing listens on the container's shim socket.
var ErrNoShim = errors.New("container is not running")
