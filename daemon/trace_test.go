package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
)

// order records Begin and End of each step, in the order they come.
type order struct {
	mu  sync.Mutex
	log []string
	evs []explain.Event
}

func (o *order) Begin(ev *explain.Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log = append(o.log, "begin "+ev.Step.Title.EN)
	return nil
}

func (o *order) End(ev *explain.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev2 := *ev
	o.evs = append(o.evs, ev2)
	s := "end " + ev.Step.Title.EN
	if ev.EvidenceText != nil {
		s += ": " + ev.EvidenceText.EN
	}
	o.log = append(o.log, s)
}

func (o *order) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.log, "\n")
}

// serveTraced serves d over a unix socket in a temp dir and returns an
// HTTP client for it.
func serveTraced(t *testing.T, d *Daemon) (*http.Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(l) }()
	t.Cleanup(func() { l.Close(); <-done })
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	return c, sock
}

// A traced daemon narrates each request as a step (method, path as the
// client sent it, status), including a refused one, and the curl line
// names the socket.
func TestTraceNarratesEachRequest(t *testing.T) {
	dir := t.TempDir()
	m, err := container.Open(dir+"/lib", dir+"/run")
	if err != nil {
		t.Fatal(err)
	}
	rec := &order{}
	d := New(Config{Containers: m, Version: "test", Trace: explain.New(rec)})
	c, sock := serveTraced(t, d)
	for _, p := range []string{"/v1.41/_ping", "/v1.41/containers/nope/json", "/v1.40/version"} {
		resp, err := c.Get("http://docker" + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{
		"begin HTTP request: GET /v1.41/_ping", "end HTTP request: GET /v1.41/_ping: response 200 (OK)",
		"begin HTTP request: GET /v1.41/containers/nope/json", "end HTTP request: GET /v1.41/containers/nope/json: response 404 (Not Found)",
		"begin HTTP request: GET /v1.40/version", "end HTTP request: GET /v1.40/version: response 400 (Bad Request)",
	}
	if got := rec.String(); got != strings.Join(want, "\n") {
		t.Fatalf("narration:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, ev := range rec.evs {
		if ev.Step.ID != RequestStepID || ev.Anchor != "docs/components.md#components-api-request" ||
			!strings.Contains(ev.Step.Shell, "--unix-socket "+sock) || ev.Step.Why.PT == "" || ev.Step.Why.EN == "" {
			t.Errorf("step %+v", ev.Step)
		}
	}
}

// The daemon's own steps for a request stand beneath it: between its
// Begin and its End. A request that arrives meanwhile waits to be
// narrated until the first has its status; a stream's step ends when it
// opens (a hijack: 101), not when it closes.
func TestTraceNestsStepsAndSerializes(t *testing.T) {
	rec := &order{}
	tr := explain.New(rec)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		tr.Do(explain.Step{ID: "inner", Chapter: explain.ChapterComponents,
			Title: explain.Text{PT: "dentro", EN: "inside"}, Do: func() error { <-release; return nil }}, nil)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /attach", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		rw.Flush()
		<-release // the stream lasts; its step has ended already
	})
	sock := filepath.Join(t.TempDir(), "t.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: traceRequests(tr, nil, sock, mux)}
	go srv.Serve(l)
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}

	// The stream: its step ends at the hijack, while the stream goes on.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /attach HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n")
	if line, _ := bufio.NewReader(conn).ReadString('\n'); !strings.Contains(line, "101") {
		t.Fatalf("attach: %q", line)
	}
	waitFor(t, rec, "end HTTP request: POST /attach: response 101 (Switching Protocols)")

	slow := make(chan error, 1)
	go func() {
		resp, err := c.Post("http://d/slow", "", nil)
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	waitFor(t, rec, "begin inside")
	fast := make(chan error, 1)
	go func() {
		resp, err := c.Get("http://d/fast")
		if err == nil {
			resp.Body.Close()
		}
		fast <- err
	}()
	time.Sleep(100 * time.Millisecond) // /fast has arrived, and waits
	if strings.Contains(rec.String(), "/fast") {
		t.Fatalf("a request was narrated inside another:\n%s", rec)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if err := <-fast; err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"begin HTTP request: POST /attach", "end HTTP request: POST /attach: response 101 (Switching Protocols)",
		"begin HTTP request: POST /slow", "begin inside", "end inside", "end HTTP request: POST /slow: response 201 (Created)",
		"begin HTTP request: GET /fast", "end HTTP request: GET /fast: response 200 (OK)",
	}, "\n")
	if got := rec.String(); got != want {
		t.Fatalf("narration:\n%s\nwant:\n%s", got, want)
	}
}

func waitFor(t *testing.T, rec *order, line string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if strings.Contains(rec.String(), line) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q in:\n%s", line, rec)
}

// Without a tracer the daemon serves as before: no narration hook.
func TestTraceOffByDefault(t *testing.T) {
	d := newTestDaemon(t)
	c, _ := serveTraced(t, d)
	resp, err := c.Get("http://docker/_ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestRouteWhy(t *testing.T) {
	for _, c := range []struct{ method, target, want string }{
		{"POST", "/v1.41/containers/create?name=x", "docker run's first request"},
		{"POST", "/v1.41/containers/abc/start", "starts the shim"},
		{"POST", "/v1.41/containers/abc/wait?condition=removed", "exit code"},
		{"HEAD", "/_ping", "checks the daemon"},
		{"GET", "/v1.41/networks", "A request of Docker's API"},
	} {
		if got := routeWhy(c.method, c.target).EN; !strings.Contains(got, c.want) {
			t.Errorf("%s %s: %q, want …%s…", c.method, c.target, got, c.want)
		}
	}
}

// A --rm container's record may be gone before its exit code reaches the
// exit book (the attach records it a moment after the shim removed the
// container): the waiter waits for the code instead of failing with
// "removed before its exit was seen", which `docker run --rm` printed
// for ~5% of the runs under load.
func TestWaitRemovedHearsALateExit(t *testing.T) {
	d := newTestDaemon(t)
	meta := &container.Meta{ID: strings.Repeat("ab", 32)}
	since := time.Now()
	go func() {
		time.Sleep(100 * time.Millisecond)
		d.exits.record(meta.ID, 3)
	}()
	code, err := d.waitFor(context.Background(), meta, "removed", since)
	if err != nil || code != 3 {
		t.Fatalf("waitFor: %d, %v; want 3, nil", code, err)
	}
	// No code ever: the waiter gives up after the grace, with the error.
	meta = &container.Meta{ID: strings.Repeat("cd", 32)}
	start := time.Now()
	if _, err := d.waitFor(context.Background(), meta, "removed", time.Now()); err == nil || !strings.Contains(err.Error(), "removed before its exit was seen") {
		t.Fatalf("waitFor without an exit: %v", err)
	}
	if el := time.Since(start); el < exitGrace || el > exitGrace+time.Second {
		t.Errorf("gave up after %v, want about %v", el, exitGrace)
	}
}
