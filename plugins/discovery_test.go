package plugins

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// listen makes a real unix socket at path (discovery checks the file
// type, so a plain file would not do).
func listen(t *testing.T, path string) net.Listener {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLookup(t *testing.T) {
	root := t.TempDir()
	d := Dirs{Sockets: filepath.Join(root, "run"), Specs: []string{filepath.Join(root, "etc"), filepath.Join(root, "usr")}}
	listen(t, filepath.Join(d.Sockets, "flat.sock"))
	listen(t, filepath.Join(d.Sockets, "nested", "nested.sock"))
	os.MkdirAll(d.Specs[0], 0o755)
	os.MkdirAll(d.Specs[1], 0o755)
	os.WriteFile(filepath.Join(d.Specs[0], "spec.spec"), []byte("unix:///run/x.sock\n"), 0o644)
	os.WriteFile(filepath.Join(d.Specs[1], "tcp.spec"), []byte("tcp://127.0.0.1:8080"), 0o644)
	os.WriteFile(filepath.Join(d.Specs[1], "js.json"), []byte(`{"Name":"js","Addr":"unix:///run/js.sock"}`), 0o644)
	os.WriteFile(filepath.Join(d.Specs[0], "bad.spec"), []byte("ftp://x"), 0o644)
	os.WriteFile(filepath.Join(d.Specs[0], "tls.json"), []byte(`{"Addr":"tcp://h:1","TLSConfig":{}}`), 0o644)
	os.WriteFile(filepath.Join(d.Sockets, "plain.sock"), nil, 0o644) // not a socket
	// A socket wins over a spec of the same name, as in Docker.
	os.WriteFile(filepath.Join(d.Specs[0], "flat.spec"), []byte("tcp://127.0.0.1:1"), 0o644)

	for _, c := range []struct {
		name, want, err string
	}{
		{"flat", "unix://" + filepath.Join(d.Sockets, "flat.sock"), ""},
		{"nested", "unix://" + filepath.Join(d.Sockets, "nested", "nested.sock"), ""},
		{"spec", "unix:///run/x.sock", ""},
		{"tcp", "tcp://127.0.0.1:8080", ""},
		{"js", "unix:///run/js.sock", ""},
		{"bad", "", "scheme"},
		{"tls", "", "TLSConfig"},
		{"plain", "", "plugin not found"},
		{"none", "", "plugin not found"},
		{"../etc", "", "invalid name"},
	} {
		a, err := d.Lookup(c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Lookup(%s) = %v, %v; want error with %q", c.name, a, err, c.err)
			}
			continue
		}
		if err != nil || a.URL() != c.want {
			t.Errorf("Lookup(%s) = %s, %v; want %s", c.name, a.URL(), err, c.want)
		}
	}
	if _, err := d.Lookup("none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("not found error %v is not ErrNotFound", err)
	}
	names, err := d.Scan()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bad", "flat", "js", "nested", "spec", "tcp", "tls"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Scan = %v, want %v", names, want)
	}
}

func TestDirsFromEnv(t *testing.T) {
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", "/a")
	t.Setenv("MINIRUN_PLUGIN_SPECS", "/b:/c")
	d := DirsFromEnv()
	if d.Sockets != "/a" || !reflect.DeepEqual(d.Specs, []string{"/b", "/c"}) {
		t.Errorf("DirsFromEnv = %+v", d)
	}
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", "")
	t.Setenv("MINIRUN_PLUGIN_SPECS", "")
	if d := DirsFromEnv(); !reflect.DeepEqual(d, DefaultDirs()) {
		t.Errorf("DirsFromEnv without env = %+v", d)
	}
}
