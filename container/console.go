package container

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/minirun/minirun/runtime"
	"golang.org/x/term"
)

// ConsoleCopier connects the caller's terminal to the container's pty:
// raw mode on our side (the container's pty does the line editing), bytes
// copied both ways, and the window size passed on at start and on SIGWINCH.
type ConsoleCopier struct {
	master  *os.File
	restore func()
	out     sync.WaitGroup
	stop    chan struct{}
}

// AttachConsole starts copying between the caller's terminal and master.
func AttachConsole(master *os.File, stdio IO) (*ConsoleCopier, error) {
	c := &ConsoleCopier{master: master, restore: func() {}, stop: make(chan struct{})}
	in, out := stdio.Stdin, stdio.Stdout
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	if term.IsTerminal(int(in.Fd())) {
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return nil, err
		}
		c.restore = func() { term.Restore(int(in.Fd()), old) }
		resize := func() {
			if w, h, err := term.GetSize(int(in.Fd())); err == nil {
				runtime.SetWinsize(master, runtime.Winsize{Rows: uint16(h), Cols: uint16(w)})
			}
		}
		resize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		go func() {
			for {
				select {
				case <-winch:
					resize()
				case <-c.stop:
					signal.Stop(winch)
					return
				}
			}
		}()
	}
	go io.Copy(master, in)
	c.out.Add(1)
	go func() {
		defer c.out.Done()
		io.Copy(out, master)
	}()
	return c, nil
}

// Close waits for the container's last output, then gives the terminal back.
func (c *ConsoleCopier) Close() {
	c.out.Wait()
	close(c.stop)
	c.master.Close()
	c.restore()
}
