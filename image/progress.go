package image

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/term"
)

// ProgressEvent is one line of a pull's report, the fields of one of
// dockerd's JSON progress messages (jsonstream.Message): ID is the layer
// (12 hex digits) or the tag the line is about, "" for a line about the
// whole pull; Status is its text ("Pulling fs layer", "Downloading",
// "Digest: sha256:…"); Current and Total count a download's bytes.
type ProgressEvent struct {
	ID      string
	Status  string
	Current int64
	Total   int64
}

// progress reports a pull, as text or as events. As text it is Docker's
// CLI output: on a terminal the layer being downloaded gets a bar redrawn
// in place ("\r"); elsewhere (a log, a pipe, a test) only whole lines are
// written, so the output reads well in a file. As events (the daemon's
// POST /images/create) each line is one ProgressEvent, and a download
// sends its byte counts, which the client draws as its own bar.
type progress struct {
	w      io.Writer
	events func(ProgressEvent)
	tty    bool
	mu     sync.Mutex
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// newEventProgress reports to events when it is set, else as text to w.
func newEventProgress(w io.Writer, events func(ProgressEvent)) *progress {
	if events != nil {
		return &progress{events: events}
	}
	return newProgress(w)
}

// status reports one line: "id: text", or "text" for the whole pull.
func (p *progress) status(id, text string) {
	if p == nil {
		return
	}
	if p.events != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.events(ProgressEvent{ID: id, Status: text})
		return
	}
	if id != "" {
		p.printf("%s: %s\n", id, text)
		return
	}
	p.printf("%s\n", text)
}

func (p *progress) printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// bar returns the writer that counts one layer's downloaded bytes.
func (p *progress) bar(id string, total int64) *layerBar {
	return &layerBar{p: p, id: id, total: total}
}

// layerBar draws "id: Downloading [=====>      ]  1.2MB/2.2MB", at most
// ten times a second.
type layerBar struct {
	p     *progress
	id    string
	total int64
	n     int64
	last  time.Time
	drawn bool
}

func (b *layerBar) Write(q []byte) (int, error) {
	b.n += int64(len(q))
	if b.p != nil && b.p.events != nil {
		if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond || b.n == b.total {
			b.last = now
			b.p.mu.Lock()
			b.p.events(ProgressEvent{ID: b.id, Status: "Downloading", Current: b.n, Total: b.total})
			b.p.mu.Unlock()
		}
		return len(q), nil
	}
	if b.p == nil || !b.p.tty || b.p.w == nil {
		return len(q), nil
	}
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond {
		b.last = now
		b.draw()
	}
	return len(q), nil
}

func (b *layerBar) draw() {
	const width = 50
	filled := 0
	if b.total > 0 {
		filled = int(float64(width) * float64(b.n) / float64(b.total))
		filled = min(filled, width)
	}
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	b.p.printf("\r%s: Downloading [%s] %8s/%s\x1b[K", b.id, bar, size(b.n), size(b.total))
	b.drawn = true
}

// done ends the bar's line; off a terminal it prints one plain line.
func (b *layerBar) done() {
	if b.p == nil || b.p.w == nil { // events: the last count was sent
		return
	}
	if b.p.tty {
		b.draw()
		b.p.printf("\n")
		return
	}
	b.p.printf("%s: Downloading %s\n", b.id, size(b.n))
}

// size prints a byte count as Docker does (decimal units).
func size(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.3gkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

// insecureTransport accepts any TLS certificate: PullOptions.Insecure, for
// a registry of the course with a self-signed certificate.
func insecureTransport() http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // #nosec G402: asked for with --insecure
	return t
}
