package container

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/minirun/minirun/shim"
)

// LogOpts are `logs`' flags.
type LogOpts struct {
	Follow     bool
	Tail       int // -1: all
	Timestamps bool
	Since      time.Time
	// Done, when set, ends a Follow early: the daemon closes it when its
	// client hangs up, which a follower that only writes when a line
	// comes would notice no sooner than the next line.
	Done <-chan struct{}
}

// Logs prints a container's json-file log, stdout lines to stdout and
// stderr lines to stderr; with Follow it keeps reading new lines until the
// container has exited and its shim is gone.
func (m *Manager) Logs(meta *Meta, o LogOpts, stdout, stderr io.Writer) error {
	f, err := os.Open(meta.LogPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never started with a shim: nothing was logged
	}
	if err != nil {
		return err
	}
	defer f.Close()
	print := func(e shim.LogEntry) error {
		if !o.Since.IsZero() && e.Time.Before(o.Since) {
			return nil
		}
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if o.Timestamps {
			io.WriteString(w, e.Time.Format(time.RFC3339Nano)+" ")
		}
		_, err := io.WriteString(w, e.Log)
		return err
	}
	if o.Tail >= 0 {
		var all []shim.LogEntry
		if err := shim.ReadLogs(f, func(e shim.LogEntry) error { all = append(all, e); return nil }); err != nil {
			return err
		}
		if len(all) > o.Tail {
			all = all[len(all)-o.Tail:]
		}
		for _, e := range all {
			if err := print(e); err != nil {
				return err
			}
		}
	} else if err := shim.ReadLogs(f, print); err != nil {
		return err
	}
	if !o.Follow {
		return nil
	}
	// Follow: read what the shim appends, line by line, until it is gone.
	var pending []byte
	buf := make([]byte, 32*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				line := pending[:i+1]
				pending = pending[i+1:]
				shim.ReadLogs(bytes.NewReader(line), print)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return err
		}
		cur, gerr := m.Get(meta.ID)
		if gerr != nil || (cur.State.Status == "exited" && !shimAlive(m.Socket(meta.ID))) {
			return nil
		}
		select {
		case <-o.Done:
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}
