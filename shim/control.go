package shim

// The shim's control protocol, version 1, on the shim's unix socket (the
// one attach has always used). Every message is a frame (frame.go): a type
// byte, a 4-byte big-endian length, the payload. A connection carries one
// request, chosen by its first frame:
//
//	client                                   shim
//	  │── 'q' {"version":1,"op":OP,…} ─────────▶│  (within requestTimeout)
//	  │◀──────────────── 'a' {"version":1,…} ───│  the answer (or "error")
//
// and then, by OP:
//
//	attach  the attach streams of frame.go follow: 'i' 'c' 'r' up, '1' '2'
//	        down, and 'x' with the exit code once the container has ended
//	        for good. The first attach releases a shim started with
//	        --attach-first (nothing else does: a probe that only connects
//	        starts nothing).
//	kill    {"signal":N,"all":B,"stop":B}: the answer says whether the signal
//	        was sent (to the init, or with all to every process of the
//	        container's cgroup, as `runc kill --all`); stop marks the exit
//	        that follows as asked for, so the restart policy does not act
//	        (what the stop-requested file used to say). The shim hangs up.
//	update  {"restart":{"Name":…,"MaximumRetryCount":N}}: the restart policy
//	        the next exit is judged by (`docker update --restart`); the
//	        answer says whether it was taken. The shim hangs up.
//	state   the answer holds "state": status, pid, start time, restarts,
//	        the last exit. The shim hangs up.
//	resize  {"rows":R,"cols":C}: TIOCSWINSZ on the terminal's master the
//	        shim holds (the kernel then sends SIGWINCH to the terminal's
//	        foreground process group, tty_ioctl(4)). A container without a
//	        terminal answers an error. The shim hangs up. What the
//	        daemon's POST /containers/{name}/resize sends: its client has
//	        no attach connection of its own to put an 'r' frame on.
//	wait    the answer holds "state" (the waiter is registered before it is
//	        sent, so no exit can slip between the two); then one 'a' frame
//	        {"exit":{…}} per exit of the init, "restarting":true when the
//	        policy starts it again; after the last one ("restarting":false)
//	        nothing more, until end of file: the shim hangs up on its
//	        waiters last, once it has recorded the exit, unmounted the
//	        rootfs, removed a --rm container and its own socket (a shim
//	        that dies is hung up by the kernel, with no last exit sent).
//	        Any number of waiters may wait at once; one that connects
//	        after the end gets the last exit at once.
//
// The shim and its clients are the same minirun binary, but a shim outlives
// an upgrade of it: "version" lets either side tell. A shim answers a
// version it does not speak with an error, and a client treats a reply of
// another version as one. A shim of the time before this protocol says
// nothing at all (it takes the request for attach input): a client that
// has no answer within answerTimeout treats the socket as no shim's.
//
// Why a socket and not files: the stop marker file and a 20 ms poll of
// meta.json made every stop, wait and `run --rm` wait up to a poll period
// after the fact; a connection is told at the moment the shim knows, and
// its end of file is a death notice no shim can forget to send (the kernel
// closes its sockets when it dies, however it dies).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// ProtocolVersion is the version of the control protocol this binary speaks.
const ProtocolVersion = 1

// Frame types of the control protocol.
const (
	FrameRequest byte = 'q' // client → shim, first frame of every connection
	FrameReply   byte = 'a' // shim → client
)

// The requests a connection can make.
const (
	OpAttach = "attach"
	OpKill   = "kill"
	OpWait   = "wait"
	OpState  = "state"
	OpResize = "resize"
	OpUpdate = "update"
)

// requestTimeout bounds how long the shim waits for a connection's request:
// a client that connects and says nothing must not hold a goroutine.
const requestTimeout = 10 * time.Second

// answerTimeout bounds the wait for the shim's answer to a request.
const answerTimeout = 5 * time.Second

// Request is the first frame of a connection.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// Signal, All and Stop are kill's.
	Signal int  `json:"signal,omitempty"`
	All    bool `json:"all,omitempty"`
	Stop   bool `json:"stop,omitempty"`
	// Rows and Cols are resize's.
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	// Restart is update's.
	Restart *RestartPolicy `json:"restart,omitempty"`
}

// Reply is a frame from the shim.
type Reply struct {
	Version int    `json:"version"`
	Error   string `json:"error,omitempty"`
	State   *State `json:"state,omitempty"`
	Exit    *Exit  `json:"exit,omitempty"`
}

// Statuses a shim reports. Created: the init exists and waits for start
// (an --attach-first shim waiting for its client); Paused comes from the
// kernel (the cgroup freezer), the shim does not pause by itself.
const (
	StatusCreating   = "creating"
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusStopped    = "stopped"
)

// State is what a shim knows of its container.
type State struct {
	Status    string    `json:"status"`
	Pid       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at,omitempty"`
	Restarts  int       `json:"restarts"`
	// Exit is the last exit, if the init has exited at least once.
	Exit *Exit `json:"exit,omitempty"`
}

// Exit is one exit of the container's init.
type Exit struct {
	Code      int       `json:"code"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
	At        time.Time `json:"at"`
	// Restarting says the restart policy starts the container again: this
	// was not the last exit.
	Restarting bool `json:"restarting,omitempty"`
}

// ErrShimGone means the shim ended (or died) before it answered: what it
// recorded on disk is all there is to know.
var ErrShimGone = errors.New("the container's shim is gone")

// ErrNotRunning is the shim's answer to kill when no init runs (between
// two starts of a restart policy, or after the end).
var ErrNotRunning = errors.New("container is not running")

// dial connects to a shim and makes req; it returns the connection and
// the shim's answer. ErrNoShim when nothing listens.
func dial(socket string, req Request) (net.Conn, *Reply, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, ErrNoShim
	}
	req.Version = ProtocolVersion
	b, err := json.Marshal(req)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if err := WriteFrame(c, FrameRequest, b); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	// A shim answers at once. One that does not is no shim of this
	// protocol (an older minirun's, which took the request for an
	// attach): the caller falls back as for a missing shim, instead of
	// hanging on it.
	c.SetReadDeadline(time.Now().Add(answerTimeout))
	r, err := readReply(c)
	if err != nil {
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil, fmt.Errorf("%w: %s does not answer the control protocol (a shim of an older minirun?)", ErrNoShim, socket)
		}
		return nil, nil, err
	}
	c.SetReadDeadline(time.Time{})
	if r.Error != "" {
		c.Close()
		if r.Error == ErrNotRunning.Error() {
			return nil, r, ErrNotRunning
		}
		return nil, r, fmt.Errorf("shim: %s", r.Error)
	}
	return c, r, nil
}

// readReply reads one 'a' frame. The end of the connection before it is
// ErrShimGone.
func readReply(c net.Conn) (*Reply, error) {
	typ, p, err := ReadFrame(c)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, ErrShimGone
		}
		return nil, err
	}
	if typ != FrameReply {
		return nil, fmt.Errorf("shim: frame %q where an answer was due", typ)
	}
	var r Reply
	if err := json.Unmarshal(p, &r); err != nil {
		return nil, fmt.Errorf("shim: bad answer: %w", err)
	}
	if r.Version != ProtocolVersion {
		return nil, fmt.Errorf("shim speaks control protocol version %d, this minirun %d", r.Version, ProtocolVersion)
	}
	return &r, nil
}

// Kill asks the shim on socket to send sig to its container's init (with
// all, to every process of the container). stop marks the exit that
// follows as asked for: the restart policy does not act on it.
// ErrNotRunning when no init runs (stop is recorded all the same).
func Kill(socket string, sig syscall.Signal, all, stop bool) error {
	c, _, err := dial(socket, Request{Op: OpKill, Signal: int(sig), All: all, Stop: stop})
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// UpdateRestart gives the shim on socket the restart policy the next exit
// is judged by.
func UpdateRestart(socket string, p RestartPolicy) error {
	c, _, err := dial(socket, Request{Op: OpUpdate, Restart: &p})
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// ErrNoTerminal is the shim's answer to resize for a container that has
// no terminal (no -t).
var ErrNoTerminal = errors.New("the container has no terminal")

// Resize asks the shim on socket to set its container's terminal size.
// ErrNoTerminal for a container started without -t.
func Resize(socket string, rows, cols uint16) error {
	c, r, err := dial(socket, Request{Op: OpResize, Rows: rows, Cols: cols})
	if err != nil {
		if r != nil && r.Error == ErrNoTerminal.Error() {
			return ErrNoTerminal
		}
		return err
	}
	c.Close()
	return nil
}

// GetState asks the shim on socket what it knows of its container.
func GetState(socket string) (*State, error) {
	c, r, err := dial(socket, Request{Op: OpState})
	if err != nil {
		return nil, err
	}
	c.Close()
	if r.State == nil {
		return nil, fmt.Errorf("shim: state answer without a state")
	}
	return r.State, nil
}

// Waiter is a registered wait on a shim (see Wait).
type Waiter struct {
	c net.Conn
	// State is the shim's state when the wait was registered.
	State *State
	last  *Exit
}

// Wait registers a waiter with the shim on socket. Every exit after this
// call is seen by it: register before sending the signal that ends the
// container. ErrNoShim when no shim answers.
func Wait(socket string) (*Waiter, error) {
	c, r, err := dial(socket, Request{Op: OpWait})
	if err != nil {
		return nil, err
	}
	return &Waiter{c: c, State: r.State}, nil
}

// Exit blocks until the container's last exit (one the restart policy
// does not follow with a start) and returns it; timeout 0 waits without
// limit. ErrShimGone when the shim ended without telling one (it was
// killed: its record on disk is the truth).
func (w *Waiter) Exit(timeout time.Duration) (*Exit, error) {
	if w.last != nil && !w.last.Restarting {
		return w.last, nil
	}
	setDeadline(w.c, timeout)
	for {
		r, err := readReply(w.c)
		if err != nil {
			return nil, timeoutErr(err, timeout)
		}
		if r.Exit == nil {
			continue
		}
		w.last = r.Exit
		if !r.Exit.Restarting {
			return r.Exit, nil
		}
	}
}

// Next blocks until the container's next exit and returns it, one the
// restart policy follows with a start ("restarting") or the last; timeout
// 0 waits without limit. The daemon's event stream reads every exit with
// it (a die event per exit, as dockerd sends one per restart). After the
// last exit, Next answers ErrShimGone at the shim's hang-up.
func (w *Waiter) Next(timeout time.Duration) (*Exit, error) {
	setDeadline(w.c, timeout)
	for {
		r, err := readReply(w.c)
		if err != nil {
			return nil, timeoutErr(err, timeout)
		}
		if r.Exit != nil {
			w.last = r.Exit
			return r.Exit, nil
		}
	}
}

// Done blocks until the shim hangs up (timeout 0: without limit), which
// it does last: its container's record is final, its rootfs unmounted, a
// --rm container removed. Call it after Exit.
func (w *Waiter) Done(timeout time.Duration) error {
	setDeadline(w.c, timeout)
	var b [64]byte
	for {
		if _, err := w.c.Read(b[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				return nil
			}
			return timeoutErr(err, timeout)
		}
	}
}

// Close hangs up.
func (w *Waiter) Close() error { return w.c.Close() }

func setDeadline(c net.Conn, timeout time.Duration) {
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
	} else {
		c.SetReadDeadline(time.Time{})
	}
}

// ErrTimeout is returned by a Waiter whose timeout passed first.
var ErrTimeout = errors.New("timed out")

func timeoutErr(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
	return err
}
