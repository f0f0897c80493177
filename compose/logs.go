package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/minirun/minirun/container"
	"golang.org/x/sys/unix"
)

// LogOptions are the flags of `compose logs`.
type LogOptions struct {
	Follow     bool
	Tail       int // -1: every line
	Timestamps bool
	// CurrentRun shows only what each container printed since it last
	// started (up's attached view), not earlier runs.
	CurrentRun bool
}

// Logs prints the logs of the project's containers (or some services'),
// each line prefixed with its container's name as Compose does
// ("contador-redis-1  | Ready to accept connections"). With Follow it
// returns once every container has exited.
func (e *Engine) Logs(p *Project, services []string, o LogOptions, stdout, stderr io.Writer) error {
	cs, err := e.serviceContainers(p, services)
	if err != nil {
		return err
	}
	return e.logs(cs, o, stdout, stderr)
}

func (e *Engine) logs(cs []*container.Meta, o LogOptions, stdout, stderr io.Writer) error {
	width := 0
	for _, c := range cs {
		width = max(width, len(c.Name))
	}
	var mu sync.Mutex // one line at a time, whichever container it is from
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		prefix := fmt.Sprintf("%-*s | ", width, c.Name)
		out := &prefixWriter{mu: &mu, w: stdout, prefix: prefix}
		errOut := &prefixWriter{mu: &mu, w: stderr, prefix: prefix}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := container.LogOpts{Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps}
			if o.CurrentRun {
				lo.Since = currentRunSince(c)
			}
			errs[i] = e.Containers.Logs(c, lo, out, errOut)
			out.flush()
			errOut.flush()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// currentRunSince is when the container's current (or last) run began, as
// far as its log can tell: a running container's previous run ended at
// FinishedAt (zero on the first run); StartedAt is recorded a moment after
// the program began printing, so an exited one gets a second of slack.
func currentRunSince(c *container.Meta) time.Time {
	if c.State.Status == "running" || c.State.Status == "restarting" {
		return c.State.FinishedAt
	}
	if c.State.StartedAt.IsZero() {
		return time.Time{}
	}
	return c.State.StartedAt.Add(-time.Second)
}

// prefixWriter writes whole lines, each after a prefix, under a mutex
// shared by every container's writers, so lines never interleave.
type prefixWriter struct {
	mu      *sync.Mutex
	w       io.Writer
	prefix  string
	pending []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.pending[:i+1]
		p.mu.Lock()
		_, err := io.WriteString(p.w, p.prefix+string(line))
		p.mu.Unlock()
		p.pending = p.pending[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}

func (p *prefixWriter) flush() {
	if len(p.pending) > 0 {
		p.Write([]byte("\n"))
	}
}

// Attach is `compose up` without -d: it follows every container's log
// until they have all exited or interrupt delivers a signal (Ctrl-C); then
// it stops the project's containers, as Compose does ("Gracefully
// stopping..."), and keeps them for the next up.
func (e *Engine) Attach(p *Project, stdout, stderr io.Writer, interrupt <-chan os.Signal, timeout time.Duration) error {
	cs, err := e.ProjectContainers(p)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- e.logs(cs, LogOptions{Follow: true, Tail: -1, CurrentRun: true}, stdout, stderr) }()
	select {
	case err := <-done:
		// Every container exited by itself.
		return err
	case <-interrupt:
	}
	fmt.Fprintln(stderr, "Gracefully stopping... (press Ctrl+C again to force)")
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(p, nil, timeout) }()
	select {
	case err := <-stopped:
		return err
	case <-interrupt:
		// A second Ctrl-C: kill, as Compose does.
		var errs []error
		for _, c := range cs {
			if err := e.Containers.Kill(c.ID, unix.SIGKILL); err != nil && !isNotFound(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}
