package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"
)

// newTestDaemon serves an empty data root in a temp dir: no root needed
// for the requests below, which never reach a container.
func newTestDaemon(t *testing.T) *Daemon {
	t.Helper()
	dir := t.TempDir()
	m, err := container.Open(dir+"/lib", dir+"/run")
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Containers: m, Version: "test"})
}

func do(t *testing.T, d *Daemon, method, path, body string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Header(), rec.Body.String()
}

// wantDockerError checks the status and Docker's error shape.
func wantDockerError(t *testing.T, what string, code int, body string, want int, substr string) {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	if code != want || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Message, substr) {
		t.Fatalf("%s: %d %q, want %d with {\"message\": …%s…}", what, code, body, want, substr)
	}
}

func TestPingAndVersions(t *testing.T) {
	d := newTestDaemon(t)
	for _, p := range []string{"/_ping", "/v1.41/_ping", "/v1.57/_ping"} {
		code, h, body := do(t, d, "GET", p, "")
		if code != 200 || body != "OK" || h.Get("Api-Version") != APIVersion {
			t.Fatalf("GET %s: %d %q Api-Version %q", p, code, body, h.Get("Api-Version"))
		}
	}
	if code, h, body := do(t, d, "HEAD", "/_ping", ""); code != 200 || body != "" || h.Get("Api-Version") != APIVersion {
		t.Fatalf("HEAD /_ping: %d %q %v", code, body, h)
	}
	code, _, body := do(t, d, "GET", "/v1.40/version", "")
	wantDockerError(t, "1.40", code, body, 400, "too old")
	code, _, body = do(t, d, "GET", "/v1.58/version", "")
	wantDockerError(t, "1.58", code, body, 400, "too new")
	code, _, body = do(t, d, "GET", "/v1.41/version", "")
	var v struct{ APIVersion, MinAPIVersion, Version string }
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.APIVersion != "1.57" || v.MinAPIVersion != "1.41" || v.Version != "test" {
		t.Fatalf("GET /version: %d %s", code, body)
	}
}

func TestErrorsHaveDockersShape(t *testing.T) {
	d := newTestDaemon(t)
	code, _, body := do(t, d, "GET", "/v1.41/no/such/thing", "")
	wantDockerError(t, "unknown path", code, body, 404, "page not found")
	code, _, body = do(t, d, "PUT", "/v1.41/containers/json", "")
	wantDockerError(t, "known path, other method", code, body, 404, "page not found")
	code, _, body = do(t, d, "POST", "/v1.41/containers/create", `{"Image": "busybox", "Cmd": [`)
	wantDockerError(t, "malformed JSON", code, body, 400, "invalid JSON")
	code, _, body = do(t, d, "POST", "/v1.41/containers/create", `{"Image": "busybox"} {"Image": "x"}`)
	wantDockerError(t, "two values", code, body, 400, "more than one value")
	code, _, body = do(t, d, "POST", "/v1.41/containers/create", ``)
	wantDockerError(t, "empty body", code, body, 400, "empty")
	code, _, body = do(t, d, "POST", "/v1.41/containers/create", `{"Image": "x", "Labels": {"a": "`+strings.Repeat("b", 2*maxBodyBytes)+`"}}`)
	wantDockerError(t, "2 MiB body", code, body, 413, "larger than")
	code, _, body = do(t, d, "POST", "/v1.41/containers/create", `{"Image": "nosuchimage"}`)
	wantDockerError(t, "missing image", code, body, 404, "no such image")
	code, _, body = do(t, d, "GET", "/v1.41/containers/nope/json", "")
	wantDockerError(t, "missing container", code, body, 404, "No such container: nope")
	code, _, body = do(t, d, "GET", "/v1.41/images/nope:1/json", "")
	wantDockerError(t, "missing image", code, body, 404, "No such image: nope:1")
	code, _, body = do(t, d, "GET", "/v1.41/containers/json?filters=%7Bbad", "")
	wantDockerError(t, "bad filters", code, body, 400, "invalid filters")
	code, _, body = do(t, d, "POST", "/v1.41/volumes/create", `{"Name": "../x"}`)
	wantDockerError(t, "bad volume name", code, body, 400, "invalid characters")
	// Nothing was made by any of them.
	if code, _, body = do(t, d, "GET", "/v1.41/containers/json?all=1", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("containers after bad requests: %d %s", code, body)
	}
}

// Every route that acts on the container its path names answers an
// unknown one alike (namedContainer): 404, "no such container: NAME",
// and nothing else done.
func TestUnknownContainerIs404(t *testing.T) {
	d := newTestDaemon(t)
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1.41/containers/nope/export", ""},
		{"POST", "/v1.41/containers/nope/resize?h=24&w=80", ""},
		{"POST", "/v1.41/containers/nope/start", ""},
		{"POST", "/v1.41/containers/nope/stop", ""},
		{"POST", "/v1.41/containers/nope/kill", ""},
		{"POST", "/v1.41/containers/nope/exec", `{"Cmd": ["true"]}`},
		{"POST", "/v1.41/containers/nope/restart", ""},
		{"POST", "/v1.41/containers/nope/rename?name=other", ""},
		{"GET", "/v1.41/containers/nope/top", ""},
		{"GET", "/v1.41/containers/nope/stats?stream=0", ""},
		{"GET", "/v1.41/containers/nope/logs?stdout=1", ""},
		{"POST", "/v1.41/containers/nope/attach?stream=1", ""},
		{"POST", "/v1.41/containers/nope/wait", ""},
	} {
		code, _, body := do(t, d, req.method, req.path, req.body)
		wantDockerError(t, req.method+" "+req.path, code, body, 404, "no such container: nope")
	}
}

// stop's and restart's ?t: 10 s when absent, never below zero, and 400
// when it is no number.
func TestStopTimeout(t *testing.T) {
	for q, want := range map[string]time.Duration{"": 10 * time.Second, "?t=3": 3 * time.Second, "?t=0": 0, "?t=-5": 0} {
		if got, err := stopTimeout(httptest.NewRequest("POST", "/containers/c/stop"+q, nil)); err != nil || got != want {
			t.Errorf("stop%s: %v, %v; want %v", q, got, err, want)
		}
	}
	if _, err := stopTimeout(httptest.NewRequest("POST", "/containers/c/stop?t=soon", nil)); statusOf(err) != http.StatusBadRequest {
		t.Errorf("t=soon: %v, want a 400", err)
	}
}

// The all filter is for volume prune only: container and network prune
// refuse it as the client's error, before they remove anything.
func TestPruneAllIsForVolumes(t *testing.T) {
	d := newTestDaemon(t)
	all := "?filters=" + url.QueryEscape(`{"all": ["true"]}`)
	for _, p := range []string{"/v1.41/containers/prune", "/v1.41/networks/prune"} {
		code, _, body := do(t, d, "POST", p+all, "")
		wantDockerError(t, p, code, body, 400, "invalid filter 'all'")
	}
	if code, _, body := do(t, d, "POST", "/v1.41/volumes/prune"+all, ""); code != 200 {
		t.Errorf("volume prune with all: %d %s, want 200", code, body)
	}
}

// The daemon's frames are what the client's demultiplexer (moby's
// stdcopy.StdCopy) reads back, each stream to its own writer.
func TestStdWriterFramesForStdCopy(t *testing.T) {
	var conn bytes.Buffer
	o, e := outputs(&conn, nil, false, true, true)
	o.Write([]byte("out 1\n"))
	e.Write([]byte("err 1\n"))
	o.Write([]byte(strings.Repeat("x", 70000)))
	if b := conn.Bytes(); b[0] != 1 || b[1] != 0 || b[4] != 0 || b[7] != 6 {
		t.Fatalf("first frame header % x, want 01 00 00 00 00 00 00 06", b[:8])
	}
	var so, se bytes.Buffer
	if _, err := stdcopy.StdCopy(&so, &se, &conn); err != nil {
		t.Fatal(err)
	}
	if so.String() != "out 1\n"+strings.Repeat("x", 70000) || se.String() != "err 1\n" {
		t.Fatalf("demultiplexed: stdout %d bytes, stderr %q", so.Len(), se.String())
	}
	// A terminal's output is raw; a stream not asked for is dropped.
	conn.Reset()
	o, e = outputs(&conn, nil, true, true, false)
	o.Write([]byte("tty"))
	e.Write([]byte("dropped"))
	if conn.String() != "tty" {
		t.Fatalf("tty stream: %q", conn.String())
	}
}

func TestParseFilters(t *testing.T) {
	for _, s := range []string{`{"status":{"running":true,"exited":true},"name":{"web":true}}`, `{"status":["exited","running"],"name":["web"]}`} {
		f, err := parseFilters(s)
		if err != nil || strings.Join(f["status"], ",") != "exited,running" || strings.Join(f["name"], ",") != "web" {
			t.Fatalf("parseFilters(%s) = %v, %v", s, f, err)
		}
	}
}

func TestRunOptsFromCreateRequest(t *testing.T) {
	var req ctypes.CreateRequest
	body := `{"Image": "busybox", "Cmd": ["-c", "echo hi"], "Entrypoint": ["sh"], "Tty": true, "OpenStdin": true,
		"Env": ["A=1"], "Labels": {"k": "v"}, "Volumes": {"/data": {}}, "ExposedPorts": {"80/tcp": {}},
		"HostConfig": {"AutoRemove": true, "Binds": ["/src:/dst:ro"], "NetworkMode": "default", "CapAdd": ["NET_ADMIN"],
			"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Tmpfs": {"/t": "size=1m"}},
		"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["web"]}}}}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	o, err := runOpts("/web", &req)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "web" || o.Image != "busybox" || o.Entrypoint == nil || *o.Entrypoint != "sh" ||
		strings.Join(o.Cmd, " ") != "-c echo hi" || !o.TTY || !o.Interactive || !o.Remove ||
		strings.Join(o.Volumes, " ") != "/data /src:/dst:ro" || o.Net.Network != "bridge" ||
		strings.Join(o.Net.Aliases, ",") != "web" || len(o.Net.Ports) != 1 || o.Net.Ports[0].HostPort != 8080 ||
		o.Net.Ports[0].ContainerPort != 80 || strings.Join(o.Tmpfs, ",") != "/t:size=1m" ||
		strings.Join(o.Security.CapAdd, ",") != "NET_ADMIN" || strings.Join(o.Expose, ",") != "80/tcp" {
		t.Fatalf("runOpts: %+v", o)
	}
	// A memory limit is refused, not dropped.
	req.HostConfig.Memory = 1 << 20
	if _, err := runOpts("", &req); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("runOpts with Memory: %v", err)
	}
	req.HostConfig.Memory = 0
	req.HostConfig.RestartPolicy = ctypes.RestartPolicy{Name: "always"}
	if _, err := runOpts("", &req); err == nil || !strings.Contains(err.Error(), "--rm") {
		t.Fatalf("runOpts with --rm and --restart always: %v", err)
	}
}
