package shim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

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
	// Created runs once the init exists in its namespaces, before start:
	// the network interface goes in.
	Created(pid int) error
	// Started records a (re)started container: its init's pid.
	Started(pid, restarts int) error
	// Exited records an exit; restarting says the policy will start it again.
	Exited(code int, oomKilled, restarting bool) error
	// StopRequested reports whether stop, kill or rm asked for the end, so
	// the restart policy must not act.
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
	Socket    string // the attach socket
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
	// OnIdle, when set, runs once the container is up and the shim has
	// nothing left to do but wait (the shim command returns memory to the
	// kernel there).
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
	s := &server{clients: map[net.Conn]bool{}, attached: make(chan struct{})}
	os.Remove(cfg.Socket)
	l, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Socket, err)
	}
	defer os.Remove(cfg.Socket)
	defer l.Close()
	go s.accept(l)

	restarts := 0
	for {
		code, oom, err := s.runOnce(cfg, logf, restarts, ready)
		if err != nil {
			if restarts == 0 {
				return err
			}
			// A restart that fails to even start is an exit like any other.
			code = 127
		}
		again := cfg.Restart.ShouldRestart(code, restarts, cfg.Events.StopRequested())
		if err := cfg.Events.Exited(code, oom, again); err != nil {
			fmt.Fprintf(os.Stderr, "minirun shim: record exit: %v\n", err)
		}
		if !again {
			s.finish(code)
			break
		}
		restarts++
	}
	return cfg.Events.Finished()
}

// runOnce creates and starts the container, pumps its output until it
// exits, and removes the runtime's state.
func (s *server) runOnce(cfg Config, logf *os.File, restarts int, ready func(error)) (int, bool, error) {
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
	ctr, err := runtime.Create(runtime.CreateOpts{
		Root: cfg.StateRoot, ID: cfg.ID, Bundle: cfg.Bundle, Spec: spec,
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Pdeathsig: syscall.SIGKILL,
	})
	for _, f := range []*os.File{stdin, stdout, stderr} {
		if f != nil {
			f.Close() // the container has its own copies now
		}
	}
	if err != nil {
		return 0, false, err
	}
	if err := cfg.Events.Created(ctr.Pid()); err != nil {
		ctr.Delete(true, nil)
		return 0, false, err
	}
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
		case <-time.After(30 * time.Second):
		}
	}
	if err := ctr.Start(nil); err != nil {
		ctr.Delete(true, nil)
		return 0, false, err
	}
	if err := cfg.Events.Started(ctr.Pid(), restarts); err != nil {
		fmt.Fprintf(os.Stderr, "minirun shim: record start: %v\n", err)
	}
	ready(nil)
	if cfg.OnIdle != nil {
		cfg.OnIdle()
	}
	code, _ := ctr.Wait()
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

// server fans the container's output out to attached clients and their
// input into the container.
type server struct {
	mu       sync.Mutex
	clients  map[net.Conn]bool
	attached chan struct{} // closed when the first client connects
	once     sync.Once
	in       io.WriteCloser // the container's stdin (pipe or pty master)
	pty      *os.File       // for resizes
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
		s.mu.Lock()
		s.clients[c] = true
		s.mu.Unlock()
		s.once.Do(func() { close(s.attached) })
		go s.serveClient(c)
	}
}

// serveClient reads one client's frames: input, end of input, resizes.
func (s *server) serveClient(c net.Conn) {
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

// finish tells every client the exit code and hangs up.
func (s *server) finish(code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	s.broadcast(FrameExit, b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.Close()
		delete(s.clients, c)
	}
}

// ErrNoShim means nothing listens on the container's attach socket.
var ErrNoShim = errors.New("container is not running")
