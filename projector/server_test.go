package projector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirun/minirun/diagram"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
)

// recorded is the probe of diagram's recorded v1 host (no netlink).
func recorded() *Drawer {
	dir := filepath.Join("..", "diagram", "testdata", "v1")
	return &Drawer{Lang: explain.EN, Probe: &diagram.Probe{
		Proc: filepath.Join(dir, "proc"), Self: "self", CgroupRoot: filepath.Join(dir, "cgroup"),
		StateRoot: filepath.Join(dir, "run"), DataRoot: "/tmp/h21web-data",
		LayerSize: func(string) int64 { return 1 << 20 },
	}}
}

// serve serves p for one test; at the end the projector closes first, so
// that its event streams end and the test server's Close does not wait on
// them.
func serve(t *testing.T, p *Projector) *httptest.Server {
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { p.Close("") })
	return srv
}

type received struct {
	v  View
	at time.Time
}

// subscribe opens /events and returns the views as they arrive.
func subscribe(t *testing.T, base string) <-chan received {
	t.Helper()
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	out := make(chan received, 256)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		var data []string
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event == "step" && len(data) > 0 {
					var v View
					if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &v); err == nil {
						out <- received{v, time.Now()}
					}
				}
				data, event = nil, ""
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return out
}

func recv(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return received{}
}

func step(id string, ran *atomic.Int32) explain.Step {
	return explain.Step{ID: id, Chapter: explain.ChapterNamespaces,
		Title: explain.Text{PT: "passo " + id, EN: "step " + id},
		Why:   explain.Text{PT: "porque sim", EN: "because"}, Shell: "echo " + id,
		Do:       func() error { ran.Add(1); return nil },
		Evidence: func() string { return "evidence of " + id }}
}

func TestSSEDeliversTheStepTheTracerEmits(t *testing.T) {
	p := New(explain.EN, explain.ChapterNamespaces, false, recorded())
	srv := serve(t, p)
	events := subscribe(t, srv.URL)
	var ran atomic.Int32
	if err := explain.New(p).Do(step("ns-clone", &ran), nil); err != nil {
		t.Fatal(err)
	}
	b := recv(t, events).v
	if b.Phase != "begin" || b.Title != "step ns-clone" || b.Why != "because" || b.Shell != "echo ns-clone" || b.Waiting {
		t.Errorf("begin view = %+v", b)
	}
	e := recv(t, events).v
	if e.Phase != "end" || e.Evidence != "evidence of ns-clone" || e.Anchor != "docs/namespaces.md#ns-clone" || e.Ended == 0 {
		t.Errorf("end view = %+v", e)
	}
	// The diagram is the namespaces panel, drawn from the recorded host.
	if !strings.Contains(e.SVG, "net:[4026532180]") || strings.Contains(e.SVG, "cgroup v1") || !strings.Contains(e.SVGAll, "cgroup v1") {
		t.Errorf("diagram: focus %d bytes, all %d bytes", len(e.SVG), len(e.SVGAll))
	}
	if err := xml.Unmarshal([]byte(e.SVG), new(struct{})); err != nil {
		t.Errorf("the step's SVG is not XML: %v", err)
	}
	// A page opened later gets the current step at once.
	late := recv(t, subscribe(t, srv.URL)).v
	if late.Seq != e.Seq || late.Phase != "end" {
		t.Errorf("late subscriber got %+v", late)
	}
}

func post(t *testing.T, url string, header bool) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if header {
		req.Header.Set("X-Minirun", "next")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPostNextAdvances(t *testing.T) {
	p := New(explain.PT, explain.ChapterNamespaces, true, nil)
	srv := serve(t, p)
	events := subscribe(t, srv.URL)
	var ran atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- explain.New(p).Run(explain.Plan{step("a", &ran), step("b", &ran)}, nil)
	}()
	v := recv(t, events).v
	if v.Seq != 1 || !v.Waiting || v.Title != "passo a" {
		t.Fatalf("first view = %+v", v)
	}
	time.Sleep(50 * time.Millisecond)
	if ran.Load() != 0 {
		t.Fatal("the step ran before Next")
	}
	if code := post(t, srv.URL+"/next?seq=1", false); code != http.StatusForbidden {
		t.Errorf("POST without X-Minirun = %d, want 403", code)
	}
	if code := post(t, srv.URL+"/next?seq=2", true); code != http.StatusConflict {
		t.Errorf("POST for a step not waiting = %d, want 409", code)
	}
	if resp, err := http.Get(srv.URL + "/next?seq=1"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /next = %v %v", resp.StatusCode, err)
	}
	if ran.Load() != 0 {
		t.Fatal("a refused Next advanced the narration")
	}
	if code := post(t, srv.URL+"/next?seq=1", true); code != http.StatusNoContent {
		t.Fatalf("POST /next = %d, want 204", code)
	}
	if v := recv(t, events).v; v.Phase != "end" || v.Seq != 1 {
		t.Fatalf("after Next: %+v", v)
	}
	if v := recv(t, events).v; v.Seq != 2 || !v.Waiting {
		t.Fatalf("second step: %+v", v)
	}
	if ran.Load() != 1 {
		t.Fatalf("steps run = %d, want 1", ran.Load())
	}
	// Enter in the terminal and the button for the same step: one step.
	if !p.Next(0) {
		t.Fatal("Enter did not release the waiting step")
	}
	if code := post(t, srv.URL+"/next?seq=2", true); code != http.StatusConflict {
		t.Errorf("the button after Enter = %d, want 409", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 2 {
		t.Fatalf("steps run = %d, want 2", ran.Load())
	}
}

func TestCloseReleasesTheNarrationAndEndsStreams(t *testing.T) {
	p := New(explain.EN, explain.ChapterRootfs, true, nil)
	l, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	p.Serve(l)
	base := "http://" + l.Addr().String()
	events := subscribe(t, base)
	var ran atomic.Int32
	done := make(chan error, 1)
	var undo cleanup.Stack
	go func() { done <- explain.New(p).Do(step("x", &ran), &undo) }()
	recv(t, events)
	if err := p.Close("exit 0"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Begin after Close = %v", err)
	}
	if v := recv(t, events).v; v.Phase != "done" || v.Evidence != "exit 0" {
		t.Fatalf("last view = %+v", v)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("an event after done")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stream did not end")
	}
	if _, err := http.Get(base + "/state"); err == nil {
		t.Fatal("the server still answers after Close")
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, a := range []string{"192.0.2.1:8080", "[2001:db8::1]:8080", "example.org:80"} {
		if _, err := Listen(a, false); err == nil || !strings.Contains(err.Error(), "--web-public") {
			t.Errorf("Listen(%s) = %v, want a refusal naming --web-public", a, err)
		}
	}
	for _, a := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		l, err := Listen(a, false)
		if err != nil {
			if a == "[::1]:0" {
				continue // no IPv6 here
			}
			t.Errorf("Listen(%s) = %v", a, err)
			continue
		}
		l.Close()
	}
	if _, err := Listen("8080", false); err == nil {
		t.Error("an address without a port accepted")
	}
}

func TestPageIsSelfContained(t *testing.T) {
	p := New(explain.EN, "", false, nil)
	srv := serve(t, p)
	for path, typ := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/style.css": "text/css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), typ) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
		// Nothing fetched from elsewhere: no absolute URL but the SVG
		// namespace.
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		if strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "//cdn") {
			t.Errorf("%s refers to another site", path)
		}
	}
	resp, _ := http.Get(srv.URL + "/")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`src="/app.js"`, `href="/style.css"`, `id="next"`, `id="hc"`, `id="diagram"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
	if resp, _ := http.Get(srv.URL + "/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nothing = %d", resp.StatusCode)
	}
}

func TestSVGSinkWritesOneFilePerStep(t *testing.T) {
	dir := t.TempDir()
	s := &SVGSink{Dir: dir, Drawer: recorded(), Lang: explain.EN}
	var ran atomic.Int32
	if err := explain.New(s).Run(explain.Plan{step("ns-clone", &ran), step("rootfs/mount", &ran)}, nil); err != nil {
		t.Fatal(err)
	}
	if s.Err != nil {
		t.Fatal(s.Err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	want := []string{filepath.Join(dir, "001-ns-clone.svg"), filepath.Join(dir, "002-rootfs_mount.svg")}
	if !slices.Equal(names, want) {
		t.Fatalf("files = %v, want %v", names, want)
	}
	for i, n := range names {
		b, _ := os.ReadFile(n)
		if err := xml.Unmarshal(b, new(struct{})); err != nil {
			t.Errorf("%s: not XML: %v", n, err)
		}
		title := []string{"[1] namespaces: step ns-clone", "[2] namespaces: step rootfs/mount"}[i]
		for _, w := range []string{title, "net:[4026532180]", "sha256:14283a0b7cd5", "cgroup v1"} {
			if !bytes.Contains(b, []byte(w)) {
				t.Errorf("%s lacks %q", n, w)
			}
		}
	}
}

// TestLatencyStepEndToPage measures, over a chapter-sized run of steps on
// the recorded host, the time from a step's end (End called) to its event
// reaching an SSE client: reading the host, drawing, rendering the SVG,
// sending. Issue #17 asks for a median of at most 200 ms.
func TestLatencyStepEndToPage(t *testing.T) {
	p := New(explain.EN, explain.ChapterNetwork, false, recorded())
	srv := serve(t, p)
	events := subscribe(t, srv.URL)
	const n = 25
	var plan explain.Plan
	var ran atomic.Int32
	for i := range n {
		plan = append(plan, step("s"+string(rune('a'+i)), &ran))
	}
	go explain.New(p).Run(plan, nil)
	var lat []time.Duration
	for len(lat) < n {
		r := recv(t, events)
		if r.v.Phase == "end" {
			lat = append(lat, r.at.Sub(time.Unix(0, r.v.Ended)))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	med := lat[n/2]
	t.Logf("step end -> SSE client: median %v, min %v, max %v over %d steps", med, lat[0], lat[n-1], n)
	if med > 200*time.Millisecond {
		t.Errorf("median latency %v > 200 ms", med)
	}
}
