package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	"github.com/moby/moby/api/types/plugin"
)

// storeWith saves an enabled plugin NAME with the given propagated mount
// in a store of a temp dir, as Create and Enable would leave it.
func storeWith(t *testing.T, name, propagated string) (*Store, *plugin.Plugin) {
	t.Helper()
	s := &Store{Dir: t.TempDir()}
	p := &plugin.Plugin{ID: strings.Repeat("ab", 32), Name: name, Enabled: true}
	p.Config.PropagatedMount = propagated
	for _, d := range []string{"rootfs/etc", "propagated-mount/vols"} {
		if err := os.MkdirAll(filepath.Join(s.dir(p.ID), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.save(p); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// A managed plugin's answer is a path of its own namespace: it never
// names a host directory, whatever it says and whatever links it made.
func TestScopedPathStaysInThePlugin(t *testing.T) {
	s, p := storeWith(t, "vd", "/data")
	root, pm := filepath.Join(s.dir(p.ID), "rootfs"), s.propagated(p)
	// A link the plugin made in its propagated mount, pointing at "/".
	if err := os.Symlink("/", filepath.Join(pm, "vols", "escape")); err != nil {
		t.Fatal(err)
	}
	for answer, want := range map[string]string{
		"/data/vols/v1":         filepath.Join(pm, "vols/v1"),
		"/data":                 pm,
		"/etc":                  filepath.Join(root, "etc"),
		"/data/../etc":          filepath.Join(root, "etc"),
		"/data/vols/escape/etc": filepath.Join(pm, "etc"),
		"relative/x":            filepath.Join(root, "relative/x"),
	} {
		got, managed, err := s.ScopedPath("vd", answer)
		if err != nil || !managed || got != want {
			t.Errorf("ScopedPath(%q) = %q, %v, %v; want %q", answer, got, managed, err, want)
		}
	}
	if _, managed, _ := s.ScopedPath("other", "/etc"); managed {
		t.Error("a plugin the store does not have counted as managed")
	}
	p.Enabled = false
	s.save(p)
	if _, managed, _ := s.ScopedPath("vd", "/data/x"); managed {
		t.Error("a disabled plugin's answer was translated")
	}
}

func TestCheckConfigRefusesWhatItCannotApply(t *testing.T) {
	ok := plugin.Config{Entrypoint: []string{"/p"}, Interface: plugin.Interface{Socket: "p.sock", Types: []plugin.CapabilityID{{Capability: "volumedriver", Prefix: "docker", Version: "1.0"}}}}
	if err := checkConfig(ok); err != nil {
		t.Fatalf("a plain config: %v", err)
	}
	for what, edit := range map[string]func(*plugin.Config){
		"no entrypoint":  func(c *plugin.Config) { c.Entrypoint = nil },
		"socket with /":  func(c *plugin.Config) { c.Interface.Socket = "../x.sock" },
		"no types":       func(c *plugin.Config) { c.Interface.Types = nil },
		"bridge network": func(c *plugin.Config) { c.Network.Type = "bridge" },
		"relative mount": func(c *plugin.Config) { c.PropagatedMount = "data" },
		"a user":         func(c *plugin.Config) { c.User.UID = 1000 },
		"host pid":       func(c *plugin.Config) { c.PidHost = true },
		"host ipc":       func(c *plugin.Config) { c.IpcHost = true },
		"devices":        func(c *plugin.Config) { fuse := "/dev/fuse"; c.Linux.Devices = []plugin.Device{{Path: &fuse}} },
		"all devices":    func(c *plugin.Config) { c.Linux.AllowAllDevices = true },
	} {
		c := ok
		c.Interface.Types = append([]plugin.CapabilityID(nil), ok.Interface.Types...)
		edit(&c)
		if err := checkConfig(c); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
}

func TestGetAndSet(t *testing.T) {
	s, p := storeWith(t, "vd", "")
	p.Enabled = false
	v := "0"
	p.Config.Env = []plugin.Env{{Name: "DEBUG", Settable: []string{"value"}, Value: &v}, {Name: "FIXED", Value: &v}}
	s.save(p)
	for _, ref := range []string{"vd", p.ID, p.ID[:5]} {
		if got, err := s.Get(ref); err != nil || got.ID != p.ID {
			t.Errorf("Get(%q): %v", ref, err)
		}
	}
	if _, err := s.Get("ab"); err == nil {
		t.Error("a two-digit prefix found a plugin")
	}
	if err := s.Set("vd", []string{"DEBUG=1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("vd"); strings.Join(got.Settings.Env, " ") != "DEBUG=1" {
		t.Errorf("after set: %v", got.Settings.Env)
	}
	for _, bad := range []string{"FIXED=1", "NOPE=1", "novalue"} {
		if err := s.Set("vd", []string{bad}); err == nil {
			t.Errorf("set %s: accepted", bad)
		}
	}
	p, _ = s.Get("vd")
	p.Enabled = true
	s.save(p)
	if err := s.Set("vd", []string{"DEBUG=2"}); err == nil {
		t.Error("set on an enabled plugin: accepted")
	}
}

// Set, Enable, Disable and Remove of a plugin that does not exist say so
// (ErrPluginNotFound) and let the store's lock go: lockedGet releases it
// when the lookup fails, or the next command would wait on it forever.
func TestUnknownPluginLeavesTheLockFree(t *testing.T) {
	s, _ := storeWith(t, "vd", "")
	for name, op := range map[string]func() error{
		"set":     func() error { return s.Set("nope", []string{"DEBUG=1"}) },
		"enable":  func() error { return s.Enable("nope") },
		"disable": func() error { return s.Disable("nope", false) },
		"rm":      func() error { return s.Remove("nope", true) },
	} {
		if err := op(); !errors.Is(err, ErrPluginNotFound) {
			t.Errorf("%s of an unknown plugin: %v, want ErrPluginNotFound", name, err)
		}
		testutil.RequireLockFree(t, filepath.Join(s.Dir, ".lock"), name+" of an unknown plugin")
	}
}

func TestImplements(t *testing.T) {
	vd := plugin.CapabilityID{Capability: "volumedriver", Prefix: "docker", Version: "1.0"}
	if !implements([]string{"VolumeDriver"}, vd) || implements([]string{"NetworkDriver"}, vd) {
		t.Error("implements does not map docker.volumedriver/1.0 to VolumeDriver alone")
	}
}
