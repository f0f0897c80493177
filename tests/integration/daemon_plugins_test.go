//go:build integration

package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// docker plugin against the daemon: create from a directory (sent as a
// tar), ls, inspect, set, enable — the plugin then serves a volume through
// discovery — disable, rm; with the same store `minirun plugin` uses.
func TestDaemonPlugins(t *testing.T) {
	socks := t.TempDir()
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", socks)
	t.Setenv("MINIRUN_PLUGIN_SPECS", socks+"/specs")
	d := startDaemon(t)
	src := managedPluginDir(t, managedConfig)
	t.Cleanup(func() {
		d.docker(t, "volume", "rm", "dpvol")
		d.docker(t, "plugin", "rm", "-f", "vd")
	})
	d.dockerOK(t, "plugin", "create", "vd", src)
	// A directory without config.json is refused, and the unpacked
	// context never outlives the request.
	if r := d.docker(t, "plugin", "create", "bad", t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "config.json") {
		t.Fatalf("create from an empty directory: exit %d %q", r.code, r.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dataRoot, "plugins", ".context-*")); len(left) != 0 {
		t.Fatalf("plugin create left %v", left)
	}
	if r := d.docker(t, "plugin", "create", "vd", src); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("a second create: exit %d %q", r.code, r.stderr)
	}
	if out := d.dockerOK(t, "plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"); !strings.Contains(out, "vd") || !strings.Contains(out, "false") {
		t.Fatalf("plugin ls: %q", out)
	}
	d.dockerOK(t, "plugin", "set", "vd", "DEBUG=1")
	if r := d.docker(t, "plugin", "set", "vd", "NOPE=1"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("set of an unknown setting: exit %d %q", r.code, r.stderr)
	}
	d.dockerOK(t, "plugin", "enable", "vd")
	if out := strings.TrimSpace(d.dockerOK(t, "plugin", "inspect", "-f", "{{.Enabled}} {{.Settings.Env}}", "vd")); out != "true [DEBUG=1]" {
		t.Fatalf("plugin inspect: %q", out)
	}
	// The enabled plugin serves volumes, found by its name.
	d.dockerOK(t, "volume", "create", "-d", "vd", "dpvol")
	if out := strings.TrimSpace(d.dockerOK(t, "run", "--rm", "-v", "dpvol:/m", "busybox", "sh", "-c", "echo ola > /m/f; cat /m/f")); out != "ola" {
		t.Fatalf("a container on the plugin's volume read %q", out)
	}
	if r := d.docker(t, "plugin", "disable", "vd"); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("disable with a volume: exit %d %q", r.code, r.stderr)
	}
	d.dockerOK(t, "volume", "rm", "dpvol")
	d.dockerOK(t, "plugin", "disable", "vd")
	d.dockerOK(t, "plugin", "rm", "vd")
	if r := d.docker(t, "plugin", "inspect", "vd"); r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "no such plugin") {
		t.Fatalf("inspect after rm: exit %d %q", r.code, r.stderr)
	}
}
