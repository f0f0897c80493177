package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/plugins"
)

// A plugin found by its spec file, activated, asked about the request and
// then about the response: it refuses requests to /forbidden and responses
// whose body holds "secret".
func TestAuthZReqAndRes(t *testing.T) {
	var calls []string
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.URL.Path)
		var req plugins.AuthZRequest
		json.NewDecoder(r.Body).Decode(&req)
		switch r.URL.Path {
		case "/Plugin.Activate":
			json.NewEncoder(w).Encode(map[string][]string{"Implements": {"authz"}})
		case "/AuthZPlugin.AuthZReq":
			json.NewEncoder(w).Encode(plugins.AuthZResponse{Allow: req.RequestURI != "/forbidden", Msg: "no " + req.RequestURI})
		case "/AuthZPlugin.AuthZRes":
			ok := !strings.Contains(string(req.ResponseBody), "secret") && req.ResponseStatusCode == 200
			json.NewEncoder(w).Encode(plugins.AuthZResponse{Allow: ok, Msg: "the answer holds a secret"})
		}
	}))
	defer plugin.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.spec"), []byte("tcp://"+strings.TrimPrefix(plugin.URL, "http://")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirs := plugins.Dirs{Sockets: dir, Specs: []string{dir}}
	p, err := plugins.AuthZ(dirs, "p")
	if err != nil {
		t.Fatal(err)
	}
	h := authzHandler([]*plugins.AuthZPlugin{p}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer to "+r.URL.Path+" "+r.URL.Query().Get("x"))
	}))
	for _, c := range []struct {
		uri, want string
		code      int
	}{
		{"/ok", "answer to /ok", 200},
		{"/forbidden", `{"message":"authorization denied by plugin p: no /forbidden"}`, 403},
		{"/ok?x=secret", `{"message":"authorization denied by plugin p: the answer holds a secret"}`, 403},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", c.uri, nil))
		if rec.Code != c.code || strings.TrimSpace(rec.Body.String()) != c.want {
			t.Errorf("GET %s: %d %q, want %d %q", c.uri, rec.Code, rec.Body.String(), c.code, c.want)
		}
	}
	if want := "/Plugin.Activate /AuthZPlugin.AuthZReq /AuthZPlugin.AuthZRes /AuthZPlugin.AuthZReq /AuthZPlugin.AuthZReq /AuthZPlugin.AuthZRes"; strings.Join(calls, " ") != want {
		t.Errorf("plugin calls: %v, want %s", calls, want)
	}
	if _, err := plugins.AuthZ(dirs, "../p"); err == nil {
		t.Error("a plugin name with a slash was accepted")
	}
}
