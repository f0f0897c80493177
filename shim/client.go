package shim

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// AttachOpts say which of the caller's streams to connect.
type AttachOpts struct {
	Stdin          io.Reader // nil: do not send input
	Stdout, Stderr io.Writer
	// TTY puts the caller's terminal in raw mode, passes its size on and
	// watches for the detach keys, Ctrl-P Ctrl-Q (Docker's default).
	TTY bool
}

// ErrDetached is returned when the user pressed the detach keys: the
// container goes on running.
var ErrDetached = errors.New("detached from the container (Ctrl-P Ctrl-Q); it is still running")

// Attach connects to a container's shim until the container exits (its
// exit code is returned) or the user detaches. The attach request comes
// first (control.go); a shim started with --attach-first starts the
// container once it has it.
func Attach(socket string, o AttachOpts) (int, error) {
	c, _, err := dial(socket, Request{Op: OpAttach})
	if errors.Is(err, ErrShimGone) {
		return -1, ErrNoShim // it hung up before answering: it is ending
	}
	if err != nil {
		return -1, err
	}
	defer c.Close()
	var wmu chanMutex = make(chan struct{}, 1)
	send := func(typ byte, p []byte) error {
		wmu <- struct{}{}
		defer func() { <-wmu }()
		return WriteFrame(c, typ, p)
	}
	detached := make(chan struct{})
	if o.TTY {
		if f, ok := o.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			old, err := term.MakeRaw(int(f.Fd()))
			if err == nil {
				defer term.Restore(int(f.Fd()), old)
			}
			resize := func() {
				if w, h, err := term.GetSize(int(f.Fd())); err == nil {
					var b [4]byte
					binary.BigEndian.PutUint16(b[:], uint16(h))
					binary.BigEndian.PutUint16(b[2:], uint16(w))
					send(FrameResize, b[:])
				}
			}
			resize()
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			go func() {
				for range winch {
					resize()
				}
			}()
		}
	}
	if o.Stdin != nil {
		go func() {
			buf := make([]byte, 4096)
			prevCtrlP := false
			for {
				n, err := o.Stdin.Read(buf)
				p := buf[:n]
				if o.TTY {
					// Ctrl-P (0x10) then Ctrl-Q (0x11) detaches; a lone
					// Ctrl-P is held back until the next byte says which.
					var out []byte
					for _, b := range p {
						switch {
						case prevCtrlP && b == 0x11:
							close(detached)
							c.Close()
							return
						case prevCtrlP:
							out = append(out, 0x10, b)
							prevCtrlP = false
						case b == 0x10:
							prevCtrlP = true
						default:
							out = append(out, b)
						}
					}
					p = out
				}
				if len(p) > 0 && send(FrameStdin, p) != nil {
					return
				}
				if err != nil {
					send(FrameClose, nil)
					return
				}
			}
		}()
	}
	for {
		typ, p, err := ReadFrame(c)
		if err != nil {
			select {
			case <-detached:
				return -1, ErrDetached
			default:
			}
			return -1, err
		}
		switch typ {
		case FrameStdout:
			o.Stdout.Write(p)
		case FrameStderr:
			o.Stderr.Write(p)
		case FrameExit:
			if len(p) == 4 {
				return int(int32(binary.BigEndian.Uint32(p))), nil
			}
		}
	}
}

// chanMutex serialises frame writes from several goroutines.
type chanMutex chan struct{}
