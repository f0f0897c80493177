//go:build integration

package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildExample builds examples/NAME into bin, static (CGO_ENABLED=0), so
// it also runs in a container's rootfs that has nothing else.
func buildExample(t *testing.T, name, bin string) {
	t.Helper()
	build := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	build.Dir = repoPath("")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v: %s", name, err, out)
	}
}

// startExamplePlugin builds examples/NAME into top and serves it with
// -socket TOP/plugins/NAME.sock and args, in the plugin directory minirun
// is pointed at (MINIRUN_PLUGIN_SOCKETS, and MINIRUN_PLUGIN_SPECS at
// TOP/specs); it returns once the socket answers. It returns the plugin's
// log (its stdout and stderr, TOP/plugin.log); the plugin is stopped
// (SIGTERM) and the log closed when the test ends.
func startExamplePlugin(t *testing.T, top, name string, args ...string) (logf *os.File) {
	t.Helper()
	bin := filepath.Join(top, name)
	buildExample(t, name, bin)
	socks := filepath.Join(top, "plugins")
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", socks)
	t.Setenv("MINIRUN_PLUGIN_SPECS", filepath.Join(top, "specs"))
	sock := filepath.Join(socks, name+".sock")
	logf = startLogged(t, exec.Command(bin, append([]string{"-socket", sock}, args...)...), filepath.Join(top, "plugin.log"))
	eventually(t, "the plugin's socket", 5*time.Second, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return logf
}

// startVolumeDirs serves examples/volume-dirs (startExamplePlugin); it
// returns the plugin's base and its log.
func startVolumeDirs(t *testing.T) (base string, logf *os.File) {
	t.Helper()
	top := t.TempDir()
	base = filepath.Join(top, "base")
	return base, startExamplePlugin(t, top, "volume-dirs", "-base", base)
}

func pluginLog(t *testing.T, f *os.File) string {
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// A volume plugin found by discovery: two containers share a file through
// it, each gets its own Mount/Unmount, volume rm calls Remove, and the
// plugin's Err reaches the user in one line.
func TestVolumePlugin(t *testing.T) {
	base, logf := startVolumeDirs(t)
	ok(t, "volume", "create", "--driver", "volume-dirs", "-o", "mode=0777", "plugvol")
	removed := false
	t.Cleanup(func() {
		if !removed {
			mr(t, "volume", "rm", "plugvol")
		}
	})
	if st, err := os.Stat(filepath.Join(base, "plugvol")); err != nil || st.Mode().Perm() != 0o777 {
		t.Fatalf("the plugin's directory: %v %v", st, err)
	}
	if ls := ok(t, "volume", "ls"); !strings.Contains(ls, "volume-dirs") || !strings.Contains(ls, "plugvol") {
		t.Fatalf("volume ls: %q", ls)
	}
	ok(t, "run", "--rm", "--network", "none", "-v", "plugvol:/data", "busybox", "sh", "-c", "echo hi > /data/f")
	if out := ok(t, "run", "--rm", "--network", "none", "-v", "plugvol:/data", "busybox", "cat", "/data/f"); strings.TrimSpace(out) != "hi" {
		t.Fatalf("second container read %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(base, "plugvol", "f")); err != nil || string(b) != "hi\n" {
		t.Fatalf("the file is not in the plugin's directory: %q %v", b, err)
	}
	log := pluginLog(t, logf)
	if n, u := strings.Count(log, "Mount plugvol "), strings.Count(log, "Unmount plugvol "); n != 2 || u != 2 {
		t.Fatalf("want 2 Mounts and 2 Unmounts, got %d and %d:\n%s", n, u, log)
	}
	// Mount IDs are unique per container.
	ids := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		if f := strings.Fields(l); len(f) >= 5 && f[3] == "Mount" {
			ids[f[5]] = true
		}
	}
	if len(ids) != 2 {
		t.Fatalf("mount IDs not unique: %v\n%s", ids, log)
	}
	// While a container runs, the plugin holds the mount: its Remove
	// refuses, and minirun refuses first.
	runD(t, "plugholder", "--network", "none", "-v", "plugvol:/data", "busybox", "sleep", "60")
	if out := ok(t, "volume", "inspect", "plugvol"); !strings.Contains(out, filepath.Join(base, "plugvol")) || !strings.Contains(out, `"mounts": "1"`) {
		t.Fatalf("inspect of a mounted plugin volume: %s", out)
	}
	fails(t, "in use", "volume", "rm", "plugvol")
	ok(t, "rm", "-f", "plugholder")
	if !strings.Contains(pluginLog(t, logf), "Unmount plugvol ") {
		t.Fatal("rm -f did not Unmount")
	}
	ok(t, "volume", "rm", "plugvol")
	removed = true
	if _, err := os.Stat(filepath.Join(base, "plugvol")); err == nil {
		t.Fatal("volume rm did not call the plugin's Remove")
	}
	if !strings.Contains(pluginLog(t, logf), "Remove plugvol") {
		t.Fatal("no Remove in the plugin's log")
	}
	if strings.Contains(ok(t, "volume", "ls"), "plugvol") {
		t.Fatal("volume ls still lists plugvol")
	}

	// The plugin's Err, word for word, one line, exit 1, no record left.
	r := fails(t, `unknown option "bogus"`, "volume", "create", "--driver", "volume-dirs", "-o", "bogus=1", "plugbad")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if strings.Contains(ok(t, "volume", "ls"), "plugbad") {
		t.Fatal("a refused volume has a record")
	}
	// --volume-driver: a volume created on first use belongs to the plugin.
	ok(t, "run", "--rm", "--network", "none", "--volume-driver", "volume-dirs", "-v", "plugauto:/d", "busybox", "touch", "/d/x")
	t.Cleanup(func() { mr(t, "volume", "rm", "plugauto") })
	if _, err := os.Stat(filepath.Join(base, "plugauto", "x")); err != nil {
		t.Fatalf("--volume-driver: %v", err)
	}
}

// A plugin that is not running: its socket is there, nobody listens. The
// error is one line and comes at once, and nothing is left behind.
func TestVolumePluginDead(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", dir)
	t.Setenv("MINIRUN_PLUGIN_SPECS", filepath.Join(dir, "specs"))
	l, err := net.Listen("unix", filepath.Join(dir, "dead.sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	start := time.Now()
	fails(t, "connection refused", "volume", "create", "--driver", "dead", "deadvol")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a dead plugin took %s", d)
	}
	fails(t, "plugin not found", "volume", "create", "--driver", "nosuchplugin", "deadvol")
	fails(t, "plugin not found", "run", "--rm", "--network", "none", "--volume-driver", "nosuchplugin", "-v", "deadvol:/d", "busybox", "true")
	if strings.Contains(ok(t, "volume", "ls"), "deadvol") {
		t.Fatal("a failed create left a record")
	}
}
