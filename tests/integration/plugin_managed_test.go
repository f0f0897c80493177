//go:build integration

package integration

// Managed plugins (`minirun plugin`): examples/volume-dirs shipped as a
// plugin (config.json + rootfs) that minirun runs itself, in its own
// namespaces, with its socket in the discovery directory and its volumes
// reaching the host through the propagated mount.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const managedConfig = `{
  "Description": "volumes as directories (examples/volume-dirs)",
  "Documentation": "https://example.invalid/volume-dirs",
  "Entrypoint": ["/volume-dirs", "-socket", "/run/docker/plugins/vd.sock", "-base", "/data"],
  "Interface": {"Socket": "vd.sock", "Types": ["docker.volumedriver/1.0"]},
  "Network": {"Type": "none"},
  "PropagatedMount": "/data",
  "Env": [{"Name": "DEBUG", "Description": "unused", "Settable": ["value"], "Value": "0"}],
  "Args": {"Name": "args", "Description": "", "Settable": null, "Value": null},
  "Linux": {"Capabilities": null, "AllowAllDevices": false, "Devices": null},
  "Mounts": null, "WorkDir": "", "IpcHost": false, "PidHost": false
}`

// managedPluginDir makes a plugin directory: config.json and a rootfs
// holding only the static volume-dirs binary and the directories the
// runtime mounts on.
func managedPluginDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "sys", "dev", "tmp", "data", "run/docker/plugins", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	buildExample(t, "volume-dirs", filepath.Join(rootfs, "volume-dirs"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestManagedPlugin(t *testing.T) {
	socks := filepath.Join(t.TempDir(), "plugins")
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", socks)
	t.Setenv("MINIRUN_PLUGIN_SPECS", filepath.Join(socks, "specs"))
	src := managedPluginDir(t, managedConfig)
	t.Cleanup(func() {
		mr(t, "rm", "-f", "mpc1", "mpc2")
		mr(t, "volume", "rm", "mpvol")
		mr(t, "plugin", "rm", "-f", "vd")
	})
	ok(t, "plugin", "create", "vd", src)
	fails(t, "already exists", "plugin", "create", "vd", src)
	if out := ok(t, "plugin", "ls"); !strings.Contains(out, "vd") || !strings.Contains(out, "false") {
		t.Fatalf("plugin ls after create: %q", out)
	}
	// Settings change while disabled; unknown ones are refused.
	ok(t, "plugin", "set", "vd", "DEBUG=1")
	fails(t, "not found", "plugin", "set", "vd", "NOPE=1")
	ok(t, "plugin", "enable", "vd")
	fails(t, "cannot set on an active plugin", "plugin", "set", "vd", "DEBUG=2")
	fails(t, "enabled", "plugin", "rm", "vd")

	var insp []struct {
		ID       string `json:"Id"`
		Enabled  bool
		Settings struct{ Env []string }
	}
	if err := json.Unmarshal([]byte(ok(t, "plugin", "inspect", "vd")), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("plugin inspect: %v", err)
	}
	if !insp[0].Enabled || strings.Join(insp[0].Settings.Env, " ") != "DEBUG=1" {
		t.Fatalf("plugin inspect: %+v", insp[0])
	}
	// The plugin runs in the OCI runtime, in namespaces of its own.
	rid := "plugin-" + insp[0].ID[:12]
	var st struct{ Pid int }
	json.Unmarshal([]byte(ok(t, "state", rid)), &st)
	if st.Pid <= 0 || nsOf(t, st.Pid, "mnt") == nsOf(t, os.Getpid(), "mnt") || nsOf(t, st.Pid, "net") == nsOf(t, os.Getpid(), "net") {
		t.Fatalf("plugin container %s: pid %d not in namespaces of its own", rid, st.Pid)
	}

	// Through discovery, by its name: two containers share a file.
	ok(t, "volume", "create", "--driver", "vd", "mpvol")
	ok(t, "run", "--rm", "--name", "mpc1", "-v", "mpvol:/m", "busybox", "sh", "-c", "echo ola > /m/f")
	if out := ok(t, "run", "--rm", "--name", "mpc2", "-v", "mpvol:/m", "busybox", "cat", "/m/f"); strings.TrimSpace(out) != "ola" {
		t.Fatalf("second container read %q", out)
	}
	// The file lives in the plugin's /data, which the host sees through
	// the propagated mount.
	host := filepath.Join(dataRoot, "plugins", insp[0].ID, "propagated-mount", "mpvol", "f")
	if b, err := os.ReadFile(host); err != nil || strings.TrimSpace(string(b)) != "ola" {
		t.Fatalf("the host does not see the volume's file at %s: %v %q", host, err, b)
	}
	// Its volume's data lives in the plugin's propagated mount: neither
	// disable nor rm may pull it away while the volume exists.
	fails(t, "in use", "plugin", "disable", "vd")
	fails(t, "in use", "plugin", "rm", "vd")
	ok(t, "volume", "rm", "mpvol")

	pm := filepath.Join(dataRoot, "plugins", insp[0].ID, "propagated-mount")
	ok(t, "plugin", "disable", "vd")
	if _, err := os.Lstat(filepath.Join(socks, "vd.sock")); err == nil {
		t.Fatal("disable left the discovery link")
	}
	if isMountPoint(pm) {
		t.Fatalf("disable left %s mounted", pm)
	}
	if r := mr(t, "state", rid); r.code == 0 {
		t.Fatalf("disable left the plugin's container: %s", r.stdout)
	}
	fails(t, "vd", "volume", "create", "--driver", "vd", "mpvol2")
	ok(t, "plugin", "rm", "vd")
	if out := ok(t, "plugin", "ls"); strings.Contains(out, "vd") {
		t.Fatalf("plugin ls after rm: %q", out)
	}
}

// A plugin whose program does not listen: enable fails in one line and
// leaves no container, mount or link.
func TestManagedPluginBroken(t *testing.T) {
	socks := filepath.Join(t.TempDir(), "plugins")
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", socks)
	src := managedPluginDir(t, strings.Replace(managedConfig, `"/volume-dirs", "-socket"`, `"/nonexistent", "-socket"`, 1))
	t.Cleanup(func() { mr(t, "plugin", "rm", "-f", "vdbad") })
	ok(t, "plugin", "create", "vdbad", src)
	r := mr(t, "plugin", "enable", "vdbad")
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Fatalf("enable of a broken plugin: exit %d, %q", r.code, r.stderr)
	}
	var insp []struct {
		ID      string `json:"Id"`
		Enabled bool
	}
	json.Unmarshal([]byte(ok(t, "plugin", "inspect", "vdbad")), &insp)
	if len(insp) != 1 || insp[0].Enabled {
		t.Fatalf("after a failed enable: %+v", insp)
	}
	if isMountPoint(filepath.Join(dataRoot, "plugins", insp[0].ID, "propagated-mount")) {
		t.Fatal("a failed enable left the propagated mount")
	}
	if r := mr(t, "state", "plugin-"+insp[0].ID[:12]); r.code == 0 {
		t.Fatal("a failed enable left the plugin's container")
	}
	if ents, _ := os.ReadDir(socks); len(ents) != 0 {
		t.Fatalf("a failed enable left %v in the plugin directory", ents)
	}
	fails(t, "invalid", "plugin", "create", "a/b", src)
	fails(t, "no such file", "plugin", "create", "nocfg", t.TempDir())
}

func nsOf(t *testing.T, pid int, ns string) string {
	l, err := os.Readlink(filepath.Join("/proc", itoa(pid), "ns", ns))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// isMountPoint reports whether mountinfo lists path as a mount point (a
// bind of a directory onto itself keeps its device number, so stat(2)
// cannot tell).
func isMountPoint(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
