package runtime

// The parent (minirun create) and the child (minirun init, inside the new
// namespaces) talk over a socketpair(AF_UNIX, SOCK_SEQPACKET): every send is
// one message, so no framing is needed, and a peer that dies closes its end,
// which the other side reads as EOF. The child has its end as fd 3.
//
//	parent (create)                           child (init)
//	───────────────                           ────────────
//	clone(CLONE_NEW*) ───────────────────────▶ starts, waits for config
//	place pid in cgroups
//	msgConfig ───────────────────────────────▶ mounts, pivot_root, hostname…
//	          ◀─────────────────────────────── msgStepBegin (only when narrating)
//	narrate, maybe wait for Enter
//	msgAck ──────────────────────────────────▶ runs the step
//	          ◀─────────────────────────────── msgStepEnd (outcome, evidence)
//	          ◀─────────────────────────────── msgHooks (before pivot_root)
//	prestart + createRuntime hooks
//	msgAck ──────────────────────────────────▶ createContainer hooks, pivot_root
//	          ◀─────────────────────────────── msgConsole + pty master fd
//	          ◀─────────────────────────────── msgReady
//	save state.json, exit                      open(exec.fifo, O_WRONLY) blocks…
//	          (minirun start opens the fifo)   …returns: execve(user program)
//
// On any failure the child sends msgError and exits 1; the parent returns
// "container init: <error>" and rolls back. If the parent dies, the child
// reads EOF while waiting and exits: nothing is left half-made.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/minirun/minirun/explain"
	"golang.org/x/sys/unix"
)

type msgType string

const (
	msgConfig    msgType = "config"
	msgStepBegin msgType = "step-begin"
	msgStepEnd   msgType = "step-end"
	msgAck       msgType = "ack"
	msgHooks     msgType = "hooks"
	msgConsole   msgType = "console"
	msgReady     msgType = "ready"
	msgError     msgType = "error"
)

// message is one datagram of the protocol, JSON-encoded.
type message struct {
	Type   msgType        `json:"type"`
	Config *initConfig    `json:"config,omitempty"`
	Event  *explain.Event `json:"event,omitempty"`
	Error  string         `json:"error,omitempty"`
	// Code is the exit code the CLI should use for an msgError that is
	// about the user's command (127 not found, 126 not executable).
	Code int `json:"code,omitempty"`
}

// maxMessage bounds one datagram; a config.json is a few KiB.
const maxMessage = 4 << 20

// syncConn is one end of the socketpair.
type syncConn struct {
	fd int
}

// newSyncPair creates the socketpair. Both ends are close-on-exec: the
// child's end survives only because exec.Cmd dup2s it to fd 3.
func newSyncPair() (parent *syncConn, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return &syncConn{fd: fds[0]}, os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

func (c *syncConn) close() error {
	if c == nil || c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// send writes one message, with an optional file descriptor passed as
// SCM_RIGHTS ancillary data (unix(7)).
func (c *syncConn) send(m message, fd ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fd) > 0 {
		oob = unix.UnixRights(fd...)
	}
	if err := unix.Sendmsg(c.fd, b, oob, nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// recv reads one message and any file descriptors that came with it.
// A zero-length read is the peer closing its end: io.EOF.
//
// The buffer is as long as the message: a peek with MSG_TRUNC returns the
// real length of the next record of a SOCK_SEQPACKET socket (unix(7),
// recv(2)) without taking it. A buffer of maxMessage for every message
// cost the shim and the init about a thousand page faults each per
// create (4 MiB cleared and touched for a few KiB of JSON).
func (c *syncConn) recv() (message, []int, error) {
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		size, _, err := unix.Recvfrom(c.fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return message{}, nil, fmt.Errorf("receive: %w", err)
		}
		if size == 0 {
			return message{}, nil, io.EOF
		}
		if size > maxMessage {
			return message{}, nil, fmt.Errorf("receive: a message of %d bytes is over the %d allowed", size, maxMessage)
		}
		buf := make([]byte, size)
		n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return message{}, nil, fmt.Errorf("receive: %w", err)
		}
		if n == 0 {
			return message{}, nil, io.EOF
		}
		var fds []int
		if oobn > 0 {
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return message{}, nil, fmt.Errorf("parse control message: %w", err)
			}
			for _, cm := range cmsgs {
				got, err := unix.ParseUnixRights(&cm)
				if err == nil {
					fds = append(fds, got...)
				}
			}
		}
		var m message
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return message{}, nil, fmt.Errorf("decode message: %w", err)
		}
		return m, fds, nil
	}
}

// expect waits for one message of type want; an msgError is returned as
// an error.
func (c *syncConn) expect(want msgType) (message, error) {
	m, _, err := c.recv()
	if err != nil {
		return m, err
	}
	if m.Type == msgError {
		return m, errors.New(m.Error)
	}
	if m.Type != want {
		return m, fmt.Errorf("protocol: got %s, want %s", m.Type, want)
	}
	return m, nil
}

// remoteSink is the child's explain.Sink: each step is sent to the parent,
// which narrates it; Begin waits for the parent's ack, so --pause in the
// CLI holds the child before the step runs. If the parent is gone (plain
// `create` exits before `start`), narration silently stops: it must never
// break the container.
type remoteSink struct {
	c    *syncConn
	gone bool
}

func (r *remoteSink) Begin(ev *explain.Event) error {
	if r.gone {
		return nil
	}
	if err := r.c.send(message{Type: msgStepBegin, Event: ev}); err != nil {
		r.gone = true
		return nil
	}
	if _, err := r.c.expect(msgAck); err != nil {
		r.gone = true
	}
	return nil
}

func (r *remoteSink) End(ev *explain.Event) {
	if r.gone {
		return
	}
	if err := r.c.send(message{Type: msgStepEnd, Event: ev}); err != nil {
		r.gone = true
	}
}
