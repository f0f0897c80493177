package daemon

// The streaming endpoints: logs, attach (hijacked), wait.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/shim"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// stdWriter frames what it is given for one stream of a multiplexed
// stream, Docker's format for a container without a terminal (moby's
// stdcopy; the api module has the reader, StdCopy, that the client uses):
//
//	byte 0     the stream: 1 stdout, 2 stderr (stdcopy.Stdout, Stderr)
//	bytes 1-3  zero
//	bytes 4-7  the payload's length, big-endian uint32
//	then the payload
//
// A terminal has one stream, already mixed by the tty: it goes raw.
type stdWriter struct {
	mu     *sync.Mutex // one frame at a time on the shared connection
	w      io.Writer
	stream stdcopy.StdType
	flush  func()
}

func (s *stdWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hdr [8]byte
	hdr[0] = byte(s.stream)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := s.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := s.w.Write(p)
	if s.flush != nil {
		s.flush()
	}
	return n, err
}

// rawWriter is a terminal's output, flushed as it comes.
type rawWriter struct {
	mu    *sync.Mutex
	w     io.Writer
	flush func()
}

func (r *rawWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.w.Write(p)
	if r.flush != nil {
		r.flush()
	}
	return n, err
}

// outputs returns the writers for a container's stdout and stderr on w:
// framed without a terminal, raw with one; a stream not asked for is
// dropped.
func outputs(w io.Writer, flush func(), tty, stdout, stderr bool) (io.Writer, io.Writer) {
	mu := &sync.Mutex{}
	var o, e io.Writer = io.Discard, io.Discard
	if tty {
		raw := &rawWriter{mu: mu, w: w, flush: flush}
		if stdout {
			o = raw
		}
		if stderr {
			e = raw
		}
		return o, e
	}
	if stdout {
		o = &stdWriter{mu: mu, w: w, stream: stdcopy.Stdout, flush: flush}
	}
	if stderr {
		e = &stdWriter{mu: mu, w: w, stream: stdcopy.Stderr, flush: flush}
	}
	return o, e
}

// streamType is the Content-Type of a container's output: multiplexed
// without a terminal from API 1.42 on (before, dockerd called both raw).
func streamType(r *http.Request, tty bool) string {
	if !tty && !versionLess(requestVersion(r), "1.42") {
		return types.MediaTypeMultiplexedStream
	}
	return types.MediaTypeRawStream
}

// hijackStream takes the connection over from net/http and sends the
// stream's head itself, as dockerd does for attach and exec start: 101
// UPGRADED when the client asked for Upgrade: tcp, else 200, with the
// stream's Content-Type (streamType). A ResponseWriter that cannot be
// hijacked is answered 500; a head that cannot be sent means the client
// is gone. On error the connection is closed; else the caller closes it.
func hijackStream(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		err := errors.New("the connection cannot be hijacked")
		fail(w, err)
		return nil, nil, err
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	status := "HTTP/1.1 200 OK"
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") {
		status = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp"
	}
	fmt.Fprintf(rw, "%s\r\nContent-Type: %s\r\nApi-Version: %s\r\n\r\n", status, streamType(r, tty), APIVersion)
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, rw, nil
}

// containerLogs is GET /containers/{name}/logs: `docker logs`, the
// json-file log read by Manager.Logs, the code `minirun logs` runs.
func (d *Daemon) containerLogs(w http.ResponseWriter, r *http.Request) {
	stdout, stderr := boolParam(r, "stdout"), boolParam(r, "stderr")
	if !stdout && !stderr {
		fail(w, badRequest{errors.New("Bad parameters: you must choose at least one stream")}) //nolint:staticcheck // Docker's words
		return
	}
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	o := container.LogOpts{Follow: boolParam(r, "follow"), Timestamps: boolParam(r, "timestamps"), Tail: -1, Done: r.Context().Done()}
	if t := r.URL.Query().Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			fail(w, badRequest{fmt.Errorf("invalid value for tail: %q", t)})
			return
		}
		o.Tail = n
	}
	if s := r.URL.Query().Get("since"); s != "" && s != "0" {
		sec, err := strconv.ParseFloat(s, 64)
		if err != nil {
			fail(w, badRequest{fmt.Errorf("invalid value for since: %q", s)})
			return
		}
		o.Since = time.Unix(0, int64(sec*1e9))
	}
	w.Header().Set("Content-Type", streamType(r, meta.Config.Tty))
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if f, ok := w.(http.Flusher); ok {
		flush = f.Flush
		flush()
	}
	ow, ew := outputs(w, flush, meta.Config.Tty, stdout, stderr)
	// The status line is sent: an error now can only end the stream.
	d.m.Logs(meta, o, ow, ew)
}

// pendingAttach is an attach that came before its container runs: the
// start that runs it tells it to go on (nil) or why it will not run.
type pendingAttach struct{ start chan error }

func (p *pendingAttach) go_()           { p.start <- nil }
func (p *pendingAttach) fail(err error) { p.start <- err }

func (d *Daemon) addPending(id string) *pendingAttach {
	p := &pendingAttach{start: make(chan error, 1)}
	d.mu.Lock()
	d.pending[id] = append(d.pending[id], p)
	d.mu.Unlock()
	return p
}

// takePending removes and returns the attaches waiting for id's start.
func (d *Daemon) takePending(id string) []*pendingAttach {
	d.mu.Lock()
	defer d.mu.Unlock()
	ps := d.pending[id]
	delete(d.pending, id)
	return ps
}

func (d *Daemon) dropPending(id string, p *pendingAttach) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ps := d.pending[id]
	for i, q := range ps {
		if q == p {
			d.pending[id] = append(ps[:i], ps[i+1:]...)
			break
		}
	}
	if len(d.pending[id]) == 0 {
		delete(d.pending, id)
	}
}

// maxPendingAttach is how long an attach waits for its container's
// start; the shim itself holds a container for a client 30 s at most.
const maxPendingAttach = 10 * time.Minute

// containerAttach is POST /containers/{name}/attach?stream=1&stdin=1&…:
// the connection is hijacked (HTTP 101, then raw bytes both ways) and
// joined to the shim's attach socket through shim.Attach, the client
// `minirun attach` uses. Without a terminal the output is framed
// (stdWriter); with one it is raw, and Ctrl-P Ctrl-Q detaches.
func (d *Daemon) containerAttach(w http.ResponseWriter, r *http.Request) {
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if !boolParam(r, "stream") {
		fail(w, badRequest{errors.New("only stream=1 attaches are served: use GET /containers/{id}/logs for logs")})
		return
	}
	var p *pendingAttach
	if st := meta.State.Status; st != "running" && st != "restarting" {
		// Registered before the 101 goes out: the client sends start only
		// once it has read it, so the start finds this attach.
		p = d.addPending(meta.ID)
	}
	// Told before the 101 goes out: the start the client sends after it
	// comes later, as with dockerd.
	d.emitContainer(meta, events.ActionAttach, nil)
	conn, rw, err := hijackStream(w, r, meta.Config.Tty)
	if err != nil {
		if p != nil {
			d.dropPending(meta.ID, p)
		}
		return
	}
	defer conn.Close()
	ow, ew := outputs(conn, nil, meta.Config.Tty, boolParam(r, "stdout"), boolParam(r, "stderr"))
	if p != nil {
		select {
		case err := <-p.start:
			if err != nil {
				ew.Write([]byte("minirun: " + oneLine(err.Error()) + "\n"))
				return
			}
		case <-time.After(maxPendingAttach):
			d.dropPending(meta.ID, p)
			return
		}
	}
	o := shim.AttachOpts{Stdout: ow, Stderr: ew, TTY: meta.Config.Tty}
	if boolParam(r, "stdin") && meta.Config.OpenStdin {
		o.Stdin = stdinReader{rw.Reader, conn}
	}
	code, err := shim.Attach(d.m.Socket(meta.ID), o)
	if err == nil {
		d.exits.record(meta.ID, code)
	}
}

// stdinReader is the client's side of a hijacked connection: what bufio
// already read, then the connection. At the client's end of input (its
// CloseWrite) shim.Attach closes the container's stdin.
type stdinReader struct {
	buf  *bufio.Reader
	conn net.Conn
}

func (s stdinReader) Read(p []byte) (int, error) { return s.buf.Read(p) }

// exitBook keeps the exit codes the daemon heard from shims (an attach
// stream's end, a watcher's), for waiters: the record of a --rm container
// is gone by the time its waiter would read it.
type exitBook struct {
	mu      sync.Mutex
	codes   map[string]exitRecord
	changed chan struct{} // closed and replaced at each record
}

type exitRecord struct {
	code int
	at   time.Time
}

func (b *exitBook) record(id string, code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for k, v := range b.codes { // a waiter asks within moments of the exit
		if now.Sub(v.at) > time.Minute {
			delete(b.codes, k)
		}
	}
	b.codes[id] = exitRecord{code: code, at: now}
	close(b.changed)
	b.changed = make(chan struct{})
}

// since returns id's exit code when one was heard after t, and a channel
// closed at the next record.
func (b *exitBook) since(id string, t time.Time) (int, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.codes[id]
	return rec.code, ok && !rec.at.Before(t), b.changed
}

// exitGrace is how long a waiter that finds a --rm container gone waits
// for its exit code to reach the book. The shim sends its exit frame to
// the attached client and then removes the container, so the attach
// (docker run's) records the code a moment after the record may be gone:
// under load (20 clients at once, bench/daemon-load.sh) the waiter's
// poll saw the removal first in ~5% of the runs, and `docker run --rm`
// failed with "removed before its exit was seen".
const exitGrace = 2 * time.Second

// await waits up to d for a code recorded for id since t.
func (b *exitBook) await(ctx context.Context, id string, t time.Time, d time.Duration) (int, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		code, ok, changed := b.since(id, t)
		if ok {
			return code, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return 0, false
		case <-ctx.Done():
			return 0, false
		}
	}
}

// poke wakes the waiters without a new code: they read the record again.
func (b *exitBook) poke() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
}

// watch waits, once per container, on a running container's shim for its
// exits (shim.Wait, the control protocol's wait, as Manager.Wait does):
// each exit is a die event, the last one's code goes into the exit book,
// and the waiters are woken again when the shim ends (its record final, a
// --rm container's files gone: its destroy event). The waiter is
// registered before watch returns, so a start that follows it (the
// pending attaches' release) cannot end before it is heard; the rest runs
// in a goroutine. It reports false when no shim answers. While it lives,
// waitFor does not poll.
func (d *Daemon) watch(id string) bool {
	d.mu.Lock()
	if d.watching == nil {
		d.watching = map[string]bool{}
	}
	if d.watching[id] {
		d.mu.Unlock()
		return true
	}
	d.watching[id] = true
	d.mu.Unlock()
	unwatch := func() {
		d.mu.Lock()
		delete(d.watching, id)
		d.mu.Unlock()
		d.exits.poke()
	}
	meta, err := d.m.Get(id)
	if err != nil {
		unwatch()
		return false
	}
	w, err := shim.Wait(d.m.Socket(id))
	if err != nil {
		unwatch()
		return false // no shim: waitFor reads the record
	}
	go func() {
		defer unwatch()
		defer w.Close()
		// Registered: an exit before this is in the record; read it again.
		d.exits.poke()
		for {
			ex, err := w.Next(0)
			if err != nil {
				return // the shim died: its record tells
			}
			d.emitExit(meta, ex)
			if !ex.Restarting {
				d.exits.record(id, ex.Code)
				break
			}
		}
		w.Done(0)
		if _, err := d.m.Get(id); errors.Is(err, container.ErrNotFound) {
			d.emitDestroy(meta) // --rm: the shim removed it
		}
	}()
	return true
}

// awaitWatcher waits up to timeout for container id's watcher to end (it
// has emitted the die, and a --rm container's destroy), so the events
// that follow a stop or a removal come after those.
func (d *Daemon) awaitWatcher(id string, timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		_, _, changed := d.exits.since(id, time.Now())
		if !d.watched(id) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			return
		}
	}
}

// watched says a watcher listens to container id's shim.
func (d *Daemon) watched(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.watching[id]
}

// containerWait is POST /containers/{name}/wait?condition=…: `docker
// wait`, and what `docker run` reads its exit code from. The status line
// goes out at once, as dockerd sends it, so the client knows the wait is
// set before it starts the container; the body follows at the exit.
func (d *Daemon) containerWait(w http.ResponseWriter, r *http.Request) {
	cond := ctypes.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "":
		cond = ctypes.WaitConditionNotRunning
	case ctypes.WaitConditionNotRunning, ctypes.WaitConditionNextExit, ctypes.WaitConditionRemoved:
	default:
		fail(w, badRequest{fmt.Errorf("invalid condition: %q", cond)})
		return
	}
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	since := time.Now()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	resp := ctypes.WaitResponse{}
	code, err := d.waitFor(r.Context(), meta, cond, since)
	resp.StatusCode = int64(code)
	if err != nil {
		resp.Error = &ctypes.WaitExitError{Message: oneLine(err.Error())}
	}
	writeBody(w, resp)
}

func writeBody(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

// waitFor waits for cond on the container meta and returns its exit code.
// The code comes from the exit book (a shim's exit frame, heard after
// since) or from the record the shim saved; a container still running is
// watched on its shim, so its exit is heard the moment it happens.
func (d *Daemon) waitFor(ctx context.Context, meta *container.Meta, cond ctypes.WaitCondition, since time.Time) (int, error) {
	id := meta.ID
	if cond == ctypes.WaitConditionNotRunning && !running(meta) {
		return meta.State.ExitCode, nil
	}
	// Polled only while no shim watcher answers for the container (one
	// made without a shim, or removed after its shim ended).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	code, have := 0, false
	for {
		c, ok, changed := d.exits.since(id, since)
		if ok && !have {
			code, have = c, true
		}
		if !have || cond == ctypes.WaitConditionRemoved {
			cur, err := d.m.Get(id)
			switch {
			case errors.Is(err, container.ErrNotFound):
				if !have {
					code, have = d.exits.await(ctx, id, since, exitGrace)
				}
				if !have {
					return -1, fmt.Errorf("container %s was removed before its exit was seen", id[:12])
				}
				// Gone from the listings: wait for its shim to finish
				// deleting the files, as `minirun run --rm` does.
				return code, d.m.WaitRemoved(id, 10*time.Second)
			case err != nil:
				return -1, err
			}
			if !have && cur.State.Status == "exited" && !cur.State.FinishedAt.Before(since) {
				code, have = cur.State.ExitCode, true
			}
			if cur.State.Status == "running" {
				d.watch(id)
			}
		}
		if have && cond != ctypes.WaitConditionRemoved {
			return code, nil
		}
		var poll <-chan time.Time
		if !d.watched(id) {
			poll = tick.C
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-changed:
		case <-poll:
		}
	}
}

func running(m *container.Meta) bool {
	return m.State.Status == "running" || m.State.Status == "restarting"
}
