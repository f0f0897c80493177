package plugins

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeVolumePlugin serves the volume protocol on a unix socket in dir and
// records each call with its Accept header.
type fakeVolumePlugin struct {
	calls   []string
	accepts []string
	mounts  map[string]int
}

func serveFake(t *testing.T, sock string, implements []string) *fakeVolumePlugin {
	f := &fakeVolumePlugin{mounts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var req VolumeRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.calls = append(f.calls, strings.TrimSpace(r.URL.Path+" "+req.Name+" "+req.ID))
		f.accepts = append(f.accepts, r.Header.Get("Accept"))
		resp := map[string]interface{}{"Err": ""}
		switch r.URL.Path {
		case "/Plugin.Activate":
			resp = map[string]interface{}{"Implements": implements}
		case "/VolumeDriver.Create":
			if req.Opts["bad"] != "" {
				resp["Err"] = "bad option\nsecond line"
			}
		case "/VolumeDriver.Mount":
			f.mounts[req.Name]++
			resp["Mountpoint"] = "/srv/" + req.Name
		case "/VolumeDriver.Unmount":
			f.mounts[req.Name]--
		case "/VolumeDriver.Get":
			resp["Volume"] = map[string]interface{}{"Name": req.Name, "Mountpoint": "/srv/" + req.Name}
		case "/VolumeDriver.List":
			resp["Volumes"] = []map[string]string{{"Name": "a"}, {"Name": "b"}}
		case "/VolumeDriver.Capabilities":
			http.NotFound(w, r) // an old plugin
			return
		case "/VolumeDriver.Path":
			resp["Mountpoint"] = "/srv/" + req.Name
		}
		json.NewEncoder(w).Encode(resp)
	})
	l := listen(t, sock)
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

func TestVolumeProtocol(t *testing.T) {
	dir := t.TempDir()
	d := Dirs{Sockets: dir}
	f := serveFake(t, filepath.Join(dir, "fake.sock"), []string{"VolumeDriver"})
	v, err := VolumePlugin(d, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Create("v1", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	mp, err := v.Mount("v1", "id1")
	if err != nil || mp != "/srv/v1" {
		t.Fatalf("Mount = %q, %v", mp, err)
	}
	if _, err := v.Mount("v1", "id2"); err != nil {
		t.Fatal(err)
	}
	if err := v.Unmount("v1", "id1"); err != nil {
		t.Fatal(err)
	}
	if f.mounts["v1"] != 1 {
		t.Errorf("plugin counts %d mounts, want 1", f.mounts["v1"])
	}
	if p, err := v.Path("v1"); err != nil || p != "/srv/v1" {
		t.Errorf("Path = %q, %v", p, err)
	}
	if g, err := v.Get("v1"); err != nil || g.Mountpoint != "/srv/v1" {
		t.Errorf("Get = %+v, %v", g, err)
	}
	if l, err := v.List(); err != nil || len(l) != 2 {
		t.Errorf("List = %v, %v", l, err)
	}
	if s, err := v.Capabilities(); err != nil || s != "local" {
		t.Errorf("Capabilities of a plugin without it = %q, %v; want local", s, err)
	}
	if err := v.Remove("v1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"/Plugin.Activate", "/VolumeDriver.Create v1", "/VolumeDriver.Mount v1 id1", "/VolumeDriver.Mount v1 id2",
		"/VolumeDriver.Unmount v1 id1", "/VolumeDriver.Path v1", "/VolumeDriver.Get v1", "/VolumeDriver.List",
		"/VolumeDriver.Capabilities", "/VolumeDriver.Remove v1"}
	if strings.Join(f.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range f.accepts {
		if a != MediaType {
			t.Errorf("Accept %q, want %q", a, MediaType)
		}
	}

	// An Err answer is the error, on one line.
	err = v.Create("v2", map[string]string{"bad": "1"})
	var pe *PluginError
	if !errors.As(err, &pe) || err.Error() != "volume plugin fake: Create: bad option second line" {
		t.Errorf("Create with Err = %v", err)
	}
}

func TestNotAVolumePlugin(t *testing.T) {
	dir := t.TempDir()
	serveFake(t, filepath.Join(dir, "net.sock"), []string{"NetworkDriver"})
	_, err := VolumePlugin(Dirs{Sockets: dir}, "net")
	if err == nil || !strings.Contains(err.Error(), "does not implement VolumeDriver") {
		t.Errorf("err = %v", err)
	}
}

// A socket nobody serves fails at once, and one that accepts and never
// answers fails after CallTimeout: never a hang, always one line.
func TestDeadPlugin(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, filepath.Join(dir, "dead.sock"))
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the socket file stays, nobody listens
	start := time.Now()
	_, err := VolumePlugin(Dirs{Sockets: dir}, "dead")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "\n") {
		t.Errorf("dead plugin: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("dead plugin took %s", time.Since(start))
	}

	old := CallTimeout
	CallTimeout = 300 * time.Millisecond
	defer func() { CallTimeout = old }()
	listen(t, filepath.Join(dir, "stuck.sock")) // accepts (backlog), never answers
	start = time.Now()
	_, err = VolumePlugin(Dirs{Sockets: dir}, "stuck")
	if err == nil || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("stuck plugin: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stuck plugin took %s", d)
	}
}
