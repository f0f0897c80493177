package projector

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/diagram"
	"github.com/minirun/minirun/explain"
)

//go:embed assets
var assets embed.FS

// View is what the page shows of one step: one Server-Sent Event.
type View struct {
	Seq int `json:"seq"`
	// Phase is "begin" (the step is about to run: the class reads it),
	// "end" (it ran: evidence and the new diagram) or "done" (the
	// narration is over and the server is closing).
	Phase    string   `json:"phase"`
	Chapter  string   `json:"chapter,omitempty"`
	ID       string   `json:"id,omitempty"`
	Title    string   `json:"title,omitempty"`
	Why      string   `json:"why,omitempty"`
	Shell    string   `json:"shell,omitempty"`
	Evidence string   `json:"evidence,omitempty"`
	Error    string   `json:"error,omitempty"`
	Slides   []string `json:"slides,omitempty"`
	Anchor   string   `json:"anchor,omitempty"`
	Undo     bool     `json:"undo,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
	// Waiting is true while the narration waits for Next.
	Waiting bool   `json:"waiting,omitempty"`
	Lang    string `json:"lang"`
	// SVG is the diagram of the chapter's panels; SVGAll has all of them.
	SVG    string `json:"svg,omitempty"`
	SVGAll string `json:"svgAll,omitempty"`
	// Ended is when the step ended (Unix ns; phase end): the page's
	// latency is measured from it.
	Ended int64 `json:"ended,omitempty"`
}

// Projector is a Sink that shows the narration on a web page, and the
// page's HTTP handler. With Pause set, Begin waits for Next (the page's
// button or space key, or Enter in the terminal through Next(0)).
type Projector struct {
	Lang    explain.Lang
	Chapter explain.Chapter
	Pause   bool
	// Drawer draws the host after each step; nil: no diagram.
	Drawer *Drawer
	// Focus are the panels drawn large (diagram.FocusOf the chapter).
	Focus []string
	// Prompt, when set, is where the terminal's "[Enter]" prompt goes.
	Prompt io.Writer

	mu      sync.Mutex
	cur     *View
	subs    map[chan []byte]struct{}
	waiting int       // the seq Begin waits on, 0 when not waiting
	next    chan bool // true: released by Enter in the terminal
	closed  chan struct{}
	once    sync.Once
	srv     *http.Server
}

// New returns a projector for a chapter.
func New(lang explain.Lang, ch explain.Chapter, pause bool, d *Drawer) *Projector {
	return &Projector{Lang: lang, Chapter: ch, Pause: pause, Drawer: d, Focus: diagram.FocusOf(ch),
		subs: map[chan []byte]struct{}{}, next: make(chan bool, 1), closed: make(chan struct{})}
}

// ErrClosed is returned by Begin when the projector closed while the
// narration waited for Next.
var ErrClosed = errors.New("projector closed")

func (p *Projector) view(ev *explain.Event, phase string) *View {
	st := ev.Step
	v := &View{Seq: ev.Seq, Phase: phase, Chapter: string(st.Chapter), ID: st.ID,
		Title: st.Title.In(p.Lang), Why: st.Why.In(p.Lang), Shell: st.Shell, Slides: ev.Slides,
		Anchor: ev.Anchor, Undo: ev.Undo, DryRun: ev.DryRun, Lang: string(p.Lang), Error: ev.Err}
	if ev.EvidenceText != nil {
		v.Evidence = ev.EvidenceText.In(p.Lang)
	} else {
		v.Evidence = ev.Evidence
	}
	return v
}

func (p *Projector) draw(v *View, dg *diagram.Diagram) {
	if dg == nil {
		return
	}
	v.SVGAll = svgOf(dg, nil)
	if len(p.Focus) == 0 {
		v.SVG = v.SVGAll
	} else {
		v.SVG = svgOf(dg, p.Focus)
	}
}

// Begin shows the step about to run over the diagram as the previous
// step left the host and, in pause mode, waits for Next.
func (p *Projector) Begin(ev *explain.Event) error {
	v := p.view(ev, "begin")
	if p.Drawer != nil {
		p.draw(v, p.Drawer.Current())
	}
	wait := p.Pause && !ev.DryRun
	if wait {
		v.Waiting = true
		p.mu.Lock()
		p.waiting = ev.Seq
		p.mu.Unlock()
	}
	p.publish(v)
	if !wait {
		return nil
	}
	if p.Prompt != nil {
		fmt.Fprint(p.Prompt, "    [Enter | Next] ")
	}
	select {
	case enter := <-p.next:
		if !enter && p.Prompt != nil {
			// The page advanced: end the terminal's prompt line, which
			// Enter would have ended.
			fmt.Fprintln(p.Prompt)
		}
		return nil
	case <-p.closed:
		return ErrClosed
	}
}

// End reads the host, draws it and shows the step's outcome.
func (p *Projector) End(ev *explain.Event) {
	ended := time.Now()
	v := p.view(ev, "end")
	if p.Drawer != nil {
		p.draw(v, p.Drawer.Draw(ev))
	}
	v.Ended = ended.UnixNano()
	p.publish(v)
}

// Next advances the narration waiting on step seq (0: whichever step it
// waits on, as Enter in the terminal does). It reports whether a waiting
// step was released: a second press for the same step does nothing, so
// Enter and the button pressed together advance one step, not two.
func (p *Projector) Next(seq int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == 0 || (seq != 0 && seq != p.waiting) {
		return false
	}
	p.waiting = 0
	p.next <- seq == 0 // room for one: only a waiting step is released
	return true
}

func (p *Projector) publish(v *View) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := []byte("id: " + strconv.Itoa(v.Seq) + "\nevent: step\ndata: " + string(b) + "\n\n")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = v
	for ch := range p.subs {
		select {
		case ch <- msg:
		default: // a client that does not read loses events, never stalls the narration
		}
	}
}

// Current returns the view the page shows now (nil before the first step).
func (p *Projector) Current() *View {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// ServeHTTP serves the page, its script and style, the event stream, the
// current view as JSON and the Next action.
func (p *Projector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch r.URL.Path {
	case "/", "/index.html":
		p.asset(w, "index.html", "text/html; charset=utf-8")
	case "/app.js":
		p.asset(w, "app.js", "text/javascript; charset=utf-8")
	case "/style.css":
		p.asset(w, "style.css", "text/css; charset=utf-8")
	case "/events":
		p.events(w, r)
	case "/state":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.Current())
	case "/next":
		p.nextHandler(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *Projector) asset(w http.ResponseWriter, name, typ string) {
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Nothing from elsewhere: scripts, styles and images from this
	// server only, and the SVG inline.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// nextHandler is POST /next?seq=N. It wants the header X-Minirun: next,
// which the page's script sends: a form or a link on another site cannot
// send it without a CORS preflight this server never answers, so no other
// page open in the classroom's browser can advance the narration.
func (p *Projector) nextHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Minirun") != "next" {
		http.Error(w, "missing X-Minirun: next", http.StatusForbidden)
		return
	}
	seq, _ := strconv.Atoi(r.URL.Query().Get("seq"))
	if !p.Next(seq) {
		http.Error(w, "not waiting for that step", http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// events streams the views as Server-Sent Events: the current one at once
// (a page opened or reloaded mid-chapter), then each new one.
func (p *Projector) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch := make(chan []byte, 64)
	p.mu.Lock()
	p.subs[ch] = struct{}{}
	cur := p.cur
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}()
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 1000\n\n")
	if cur != nil {
		b, _ := json.Marshal(cur)
		fmt.Fprintf(w, "id: %d\nevent: step\ndata: %s\n\n", cur.Seq, b)
	}
	fl.Flush()
	for {
		select {
		case msg := <-ch:
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-p.closed:
			// Whatever was queued (the "done" view) goes out first.
			for {
				select {
				case msg := <-ch:
					w.Write(msg)
				default:
					fl.Flush()
					return
				}
			}
		}
	}
}

// Listen opens addr for the page. An address that is not loopback needs
// public: the page shows the host's pids, paths and addresses to whoever
// reaches it.
func Listen(addr string, public bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--web %s: %w", addr, err)
	}
	if !public && !loopback(host) {
		return nil, fmt.Errorf("--web %s is not a loopback address: the page shows host details; add --web-public to serve it to the network", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--web: %w", err)
	}
	return l, nil
}

// IsLoopback reports whether addr (host:port) is a loopback address.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopback(host)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves the page on l until Close.
func (p *Projector) Serve(l net.Listener) {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(l)
}

// Close tells the pages the narration is over (status: the demo's exit
// code or error), ends the event streams, releases a Begin still waiting
// and shuts the server down.
func (p *Projector) Close(status string) error {
	var err error
	p.once.Do(func() {
		p.publish(&View{Seq: p.lastSeq() + 1, Phase: "done", Lang: string(p.Lang), Evidence: status})
		close(p.closed)
		p.mu.Lock()
		srv := p.srv
		p.mu.Unlock()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = srv.Shutdown(ctx)
		}
	})
	return err
}

func (p *Projector) lastSeq() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.Seq
}
