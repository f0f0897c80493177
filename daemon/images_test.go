package daemon

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	itypes "github.com/moby/moby/api/types/image"
)

func oneFileTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// Every per-image route takes a name with a registry port, slashes and a
// tag; the fixed paths (/images/json, /images/get, …) stay theirs.
func TestImageRoutesTakeSlashedNames(t *testing.T) {
	d := newTestDaemon(t)
	img, err := d.m.Images.Import(bytes.NewReader(oneFileTar(t, map[string]string{"f": "1"})), "localhost:5000/a/b:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := do(t, d, "GET", "/v1.41/images/localhost:5000/a/b:1/json", "")
	var insp struct{ Id string }
	if code != 200 || json.Unmarshal([]byte(body), &insp) != nil || insp.Id != img.ID {
		t.Fatalf("inspect: %d %s", code, body)
	}
	code, _, body = do(t, d, "GET", "/v1.41/images/localhost:5000/a/b:1/history", "")
	var hist []itypes.HistoryResponseItem
	if code != 200 || json.Unmarshal([]byte(body), &hist) != nil || len(hist) != 1 || hist[0].ID != img.ID || hist[0].CreatedBy != "minirun import" {
		t.Fatalf("history: %d %s", code, body)
	}
	if code, _, body = do(t, d, "POST", "/v1.41/images/localhost:5000/a/b:1/tag?repo=x/y&tag=2", ""); code != 201 {
		t.Fatalf("tag: %d %s", code, body)
	}
	code, _, body = do(t, d, "POST", "/v1.41/images/x/y:2/tag?repo=Bad/Name", "")
	wantDockerError(t, "tag with an upper-case repo", code, body, 400, "lowercase")
	code, _, body = do(t, d, "POST", "/v1.41/images/nope/tag?repo=x", "")
	wantDockerError(t, "tag of a missing image", code, body, 404, "No such image: nope")
	for _, p := range []string{"/v1.41/images/x/y:2/get", "/v1.41/images/get?names=x/y:2&names=localhost:5000/a/b:1"} {
		code, h, body := do(t, d, "GET", p, "")
		if code != 200 || h.Get("Content-Type") != "application/x-tar" || !strings.Contains(body, "manifest.json") {
			t.Fatalf("GET %s: %d %v", p, code, h)
		}
	}
	code, _, body = do(t, d, "GET", "/v1.41/images/get?names=nope", "")
	wantDockerError(t, "save of a missing image", code, body, 404, "No such image: nope")
	code, _, body = do(t, d, "GET", "/v1.41/images/x/y:2/frobnicate", "")
	wantDockerError(t, "unknown operation", code, body, 404, "page not found")

	var del []itypes.DeleteResponse
	code, _, body = do(t, d, "DELETE", "/v1.41/images/x/y:2", "")
	if code != 200 || json.Unmarshal([]byte(body), &del) != nil || len(del) != 1 || del[0].Untagged != "x/y:2" {
		t.Fatalf("delete of one of two names: %d %s", code, body)
	}
	code, _, body = do(t, d, "DELETE", "/v1.41/images/localhost:5000/a/b:1", "")
	if code != 200 || json.Unmarshal([]byte(body), &del) != nil || len(del) != 2 || del[1].Deleted != img.ID {
		t.Fatalf("delete of the last name: %d %s", code, body)
	}
	code, _, body = do(t, d, "DELETE", "/v1.41/images/localhost:5000/a/b:1", "")
	wantDockerError(t, "delete again", code, body, 404, "No such image")
}

// streamLines decodes a JSON progress stream.
func streamLines(t *testing.T, body string) []streamMessage {
	t.Helper()
	var out []streamMessage
	dec := json.NewDecoder(strings.NewReader(body))
	for dec.More() {
		var m streamMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("stream: %v in %s", err, body)
		}
		out = append(out, m)
	}
	return out
}

// POST /build with a context larger than a JSON body may be (the
// daemon's 1 MiB bound is for JSON), a Dockerfile that needs no RUN
// runner, --label and -t: the classic builder's stream, then the ID.
func TestBuildStream(t *testing.T) {
	d := newTestDaemon(t)
	ctx := oneFileTar(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY big /big\n",
		"big":        strings.Repeat("x", 2*maxBodyBytes),
	})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", `/v1.41/build?t=built:1&labels=%7B%22k%22%3A%22v%22%7D`, bytes.NewReader(ctx))
	d.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("POST /build: %d %s", rec.Code, rec.Body)
	}
	var text, id string
	for _, m := range streamLines(t, rec.Body.String()) {
		text += m.Stream
		if m.Error != nil {
			t.Fatalf("build failed: %s", m.Error.Message)
		}
		if m.Aux != nil {
			var res struct{ ID string }
			json.Unmarshal(*m.Aux, &res)
			id = res.ID
		}
	}
	for _, want := range []string{"Step 1/3 : FROM scratch\n", "Step 3/3 : LABEL \"k\"=\"v\"\n", "Successfully built ", "Successfully tagged built:1\n"} {
		if !strings.Contains(text, want) {
			t.Fatalf("no %q in the build's stream:\n%s", want, text)
		}
	}
	img, err := d.m.Images.Get("built:1")
	if err != nil || img.ID != id || img.Config.Config.Labels["k"] != "v" {
		t.Fatalf("built:1: %v %v (aux ID %q)", img, err, id)
	}

	// A Dockerfile that does not parse: 400 before any stream.
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/build", bytes.NewReader(oneFileTar(t, map[string]string{"Dockerfile": "FROM scratch\nFROBNICATE x\n"}))))
	wantDockerError(t, "bad Dockerfile", rec.Code, rec.Body.String(), 400, "unknown instruction")
	// A step that fails after the stream began: the error is its last
	// message, in both of Docker's fields.
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/build", bytes.NewReader(oneFileTar(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY missing /\n"}))))
	lines := streamLines(t, rec.Body.String())
	last := lines[len(lines)-1]
	if rec.Code != 200 || last.Error == nil || last.ErrorMessage != last.Error.Message || !strings.Contains(last.ErrorMessage, "missing") {
		t.Fatalf("failing COPY: %d %s", rec.Code, rec.Body)
	}
	// A flag the builder cannot honour is refused, not ignored; the
	// client's defaults pass (the build above sent none, these are them).
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/build?memory=67108864", bytes.NewReader(ctx)))
	wantDockerError(t, "build with a memory limit", rec.Code, rec.Body.String(), 400, "memory=67108864")
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/build?t=built:2&rm=1&memory=0&cpushares=0&networkmode=default&ulimits=null&cachefrom=null&version=1", bytes.NewReader(ctx)))
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "errorDetail") {
		t.Fatalf("build with the client's defaults: %d %s", rec.Code, rec.Body)
	}
	// No Dockerfile in the context.
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/build?dockerfile=other", bytes.NewReader(ctx)))
	wantDockerError(t, "missing Dockerfile", rec.Code, rec.Body.String(), 400, "Cannot locate specified Dockerfile: other")
}

func TestPullRef(t *testing.T) {
	for _, c := range [][3]string{
		{"busybox", "latest", "busybox:latest"},
		{"busybox", "", "busybox"},
		{"localhost:5000/a/b", "1", "localhost:5000/a/b:1"},
		{"localhost:5000/a/b:old", "1", "localhost:5000/a/b:1"},
		{"busybox", "sha256:" + strings.Repeat("a", 64), "busybox@sha256:" + strings.Repeat("a", 64)},
	} {
		if got := pullRef(c[0], c[1]); got != c[2] {
			t.Errorf("pullRef(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestParseUntil(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                  now.Add(-24 * time.Hour),
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.5":         time.Unix(1700000000, 5e8),
		"2025-06-01T10:00:00Z": time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC),
	} {
		got, err := parseUntil(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseUntil(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseUntil("yesterday", now); err == nil {
		t.Error("parseUntil(yesterday): no error")
	}
}

// GET /images/json hides a build's unnamed steps unless all=1, and
// applies the filters of `docker images`.
func TestImageListHidesStepsAndFilters(t *testing.T) {
	d := newTestDaemon(t)
	ctx := oneFileTar(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\nLABEL k=v\nCMD [\"x\"]\n", "f": "1"})
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/build?t=built:1", bytes.NewReader(ctx)))
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "errorDetail") {
		t.Fatalf("build: %d %s", rec.Code, rec.Body)
	}
	loose, err := d.m.Images.Import(bytes.NewReader(oneFileTar(t, map[string]string{"g": "2"})), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := func(query string) []string {
		t.Helper()
		code, _, body := do(t, d, "GET", "/v1.41/images/json"+query, "")
		var out []itypes.Summary
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("GET /images/json%s: %d %s", query, code, body)
		}
		var ids []string
		for _, s := range out {
			ids = append(ids, s.ID)
		}
		return ids
	}
	built, _ := d.m.Images.Get("built:1")
	if ids := list(""); len(ids) != 2 || !slicesContain(ids, built.ID) || !slicesContain(ids, loose.ID) {
		t.Fatalf("docker images: %v, want the built image and the dangling one only", ids)
	}
	if ids := list("?all=1"); len(ids) != 4 {
		t.Fatalf("docker images -a: %v, want the 3 steps and the dangling one", ids)
	}
	for q, want := range map[string]string{
		`{"dangling":{"true":true}}`:   loose.ID,
		`{"reference":{"built":true}}`: built.ID,
		`{"reference":{"b*:1":true}}`:  built.ID,
		`{"label":{"k=v":true}}`:       built.ID,
		`{"before":{"built:1":true}}`:  "",
		`{"since":{"built:1":true}}`:   loose.ID,
		`{"dangling":{"false":true}}`:  built.ID,
	} {
		ids := list("?filters=" + url.QueryEscape(q))
		if (want == "" && len(ids) != 0) || (want != "" && (len(ids) != 1 || ids[0] != want)) {
			t.Errorf("docker images --filter %s: %v, want %q", q, ids, want)
		}
	}
	code, _, body := do(t, d, "GET", "/v1.41/images/json?filters="+url.QueryEscape(`{"colour":{"red":true}}`), "")
	wantDockerError(t, "unknown filter", code, body, 400, "invalid filter 'colour'")
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
