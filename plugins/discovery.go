package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNotFound means no socket or spec file has the plugin's name.
var ErrNotFound = errors.New("plugin not found")

// Dirs are where discovery looks: Sockets for NAME.sock and
// NAME/NAME.sock, Specs for NAME.spec and NAME.json.
type Dirs struct {
	Sockets string
	Specs   []string
}

// DefaultDirs are Docker's directories (pkg/plugins/discovery_unix.go).
func DefaultDirs() Dirs {
	return Dirs{Sockets: "/run/docker/plugins", Specs: []string{"/etc/docker/plugins", "/usr/lib/docker/plugins"}}
}

// DirsFromEnv is DefaultDirs with MINIRUN_PLUGIN_SOCKETS and
// MINIRUN_PLUGIN_SPECS (colon-separated) put in place of the defaults when
// set.
func DirsFromEnv() Dirs {
	d := DefaultDirs()
	if v := os.Getenv("MINIRUN_PLUGIN_SOCKETS"); v != "" {
		d.Sockets = v
	}
	if v := os.Getenv("MINIRUN_PLUGIN_SPECS"); v != "" {
		d.Specs = filepath.SplitList(v)
	}
	return d
}

func (d Dirs) String() string {
	return strings.Join(append([]string{d.Sockets}, d.Specs...), ", ")
}

// validName keeps a plugin name from walking out of the plugin
// directories: it becomes a file name.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") && len(name) <= 255
}

// Lookup finds the plugin called name and returns its address (not yet
// activated): a socket in d.Sockets first, then NAME.spec and NAME.json in
// each of d.Specs, the order Docker's LocalRegistry.Plugin uses.
func (d Dirs) Lookup(name string) (Addr, error) {
	if !validName(name) {
		return Addr{}, fmt.Errorf("plugin %q: invalid name", name)
	}
	for _, p := range []string{filepath.Join(d.Sockets, name+".sock"), filepath.Join(d.Sockets, name, name+".sock")} {
		if st, err := os.Stat(p); err == nil && st.Mode()&fs.ModeSocket != 0 {
			return Addr{Network: "unix", Address: p, Source: p}, nil
		}
	}
	for _, dir := range d.Specs {
		for _, ext := range []string{".spec", ".json"} {
			p := filepath.Join(dir, name+ext)
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return Addr{}, fmt.Errorf("plugin %s: %w", name, err)
			}
			a, err := parseSpec(ext, b)
			if err != nil {
				return Addr{}, fmt.Errorf("plugin %s: %s: %w", name, p, err)
			}
			a.Source = p
			return a, nil
		}
	}
	return Addr{}, fmt.Errorf("%w: %s (looked in %s)", ErrNotFound, name, d)
}

// Scan lists the names of every plugin the directories hold, sorted.
func (d Dirs) Scan() ([]string, error) {
	seen := map[string]bool{}
	ents, err := os.ReadDir(d.Sockets)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		n := e.Name()
		if e.Type()&fs.ModeSocket != 0 && strings.HasSuffix(n, ".sock") {
			seen[strings.TrimSuffix(n, ".sock")] = true
		} else if e.IsDir() {
			if st, err := os.Stat(filepath.Join(d.Sockets, n, n+".sock")); err == nil && st.Mode()&fs.ModeSocket != 0 {
				seen[n] = true
			}
		}
	}
	for _, dir := range d.Specs {
		ents, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			if ext := filepath.Ext(e.Name()); (ext == ".spec" || ext == ".json") && !e.IsDir() {
				seen[strings.TrimSuffix(e.Name(), ext)] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Addr is where a plugin listens: Network is "unix" or "tcp"; Source is
// the socket or spec file it was found by.
type Addr struct {
	Network, Address, Source string
}

// URL is the address as a spec file writes it.
func (a Addr) URL() string { return a.Network + "://" + a.Address }

// parseSpec reads a .spec file (one URL) or a .json file (Docker's
// plugins.Plugin: {"Name", "Addr", "TLSConfig"}).
func parseSpec(ext string, b []byte) (Addr, error) {
	raw := strings.TrimSpace(string(b))
	if ext == ".json" {
		var j struct {
			Name      string
			Addr      string
			TLSConfig *struct{ InsecureSkipVerify bool }
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return Addr{}, fmt.Errorf("bad JSON: %w", err)
		}
		if j.TLSConfig != nil {
			return Addr{}, errors.New("TLSConfig is not supported by minirun")
		}
		raw = j.Addr
	}
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return Addr{}, fmt.Errorf("bad address %q: want unix:///path or tcp://host:port", raw)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return Addr{}, fmt.Errorf("bad address %q: unix:// needs a path", raw)
		}
		return Addr{Network: "unix", Address: u.Path}, nil
	case "tcp", "http":
		if u.Host == "" {
			return Addr{}, fmt.Errorf("bad address %q: tcp:// needs host:port", raw)
		}
		return Addr{Network: "tcp", Address: u.Host}, nil
	default:
		return Addr{}, fmt.Errorf("bad address %q: scheme %q (want unix or tcp)", raw, u.Scheme)
	}
}
