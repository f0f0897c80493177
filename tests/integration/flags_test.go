//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A list flag's value keeps its commas (issue #13, item 12): urfave/cli
// split them, so -e X=a,b gave X=a, --mount type=tmpfs,target=/t could not
// work, --tmpfs lost its options and -v /dir,with,comma:/c made a volume
// named "comma".
func TestCommasInListFlags(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		out := ok(t, "run", "--rm", "-e", "X=a,b", "busybox", "sh", "-c", `echo "$X"`)
		if strings.TrimSpace(out) != "a,b" {
			t.Fatalf("-e X=a,b gives X=%q", out)
		}
	})
	t.Run("mount tmpfs", func(t *testing.T) {
		out := ok(t, "run", "--rm", "--mount", "type=tmpfs,target=/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts")
		if !strings.Contains(out, "tmpfs /t tmpfs") {
			t.Fatalf("--mount type=tmpfs,target=/t: %q", out)
		}
	})
	t.Run("tmpfs options", func(t *testing.T) {
		out := ok(t, "run", "--rm", "--tmpfs", "/t:size=1m,mode=1777", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts; stat -c %a /t")
		if !strings.Contains(out, "size=1024k") || !strings.Contains(out, "\n1777") {
			t.Fatalf("--tmpfs /t:size=1m,mode=1777: %q", out)
		}
	})
	t.Run("bind with commas", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "dir,with,comma")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "f"), []byte("from the host\n"), 0o644)
		before := ok(t, "volume", "ls", "-q")
		out := ok(t, "run", "--rm", "-v", dir+":/c", "busybox", "cat", "/c/f")
		if strings.TrimSpace(out) != "from the host" {
			t.Fatalf("-v %s:/c: %q", dir, out)
		}
		if after := ok(t, "volume", "ls", "-q"); after != before {
			t.Fatalf("-v with commas made a volume: %q, before %q", after, before)
		}
	})
	t.Run("label", func(t *testing.T) {
		rmAtEnd(t, "commalabel")
		ok(t, "run", "--name", "commalabel", "--label", "k=a,b", "busybox", "true")
		labels := inspect(t, "commalabel")["Config"].(map[string]interface{})["Labels"].(map[string]interface{})
		if labels["k"] != "a,b" || len(labels) != 1 {
			t.Fatalf("--label k=a,b: %v", labels)
		}
	})
}

// A reference is a full id first, then a name, then an id prefix; a name
// in the form of an id is refused (issue #13, item 10: a container named
// after another's full id was the one `rm -f ID` removed). A removed
// container's name is free again.
func TestNameIsNeverAnID(t *testing.T) {
	rmAtEnd(t, "realone")
	id := strings.TrimSpace(ok(t, "run", "-d", "--name", "realone", "busybox", "sleep", "60"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	r := mr(t, "run", "-d", "--name", id, "busybox", "sleep", "60")
	if r.code == 0 {
		mr(t, "rm", "-f", strings.TrimSpace(r.stdout))
		t.Fatalf("a container was named %s, the id of another", id)
	}
	fails(t, "form of a container id", "run", "--name", id, "busybox", "true")
	fails(t, "form of a container id", "rename", "realone", id)
	fails(t, "start of container "+id[:12], "run", "--name", id[:12], "busybox", "true")
	ok(t, "rm", "-f", id)
	if r := mr(t, "inspect", "realone"); r.code == 0 {
		t.Fatal("rm -f ID left the container with that id")
	}
	// Its name is free again.
	ok(t, "run", "--rm", "--name", "realone", "busybox", "true")
}

// Issue #13, item 14: build honours --pull never / MINIRUN_PULL=never (the
// suite sets it), flags come in any order, and a relative -w is refused up
// front with an error that names no file the rollback removed.
func TestPullNeverFlagOrderWorkdir(t *testing.T) {
	t.Run("build pull never", func(t *testing.T) {
		dir := t.TempDir()
		// A registry on a closed loopback port: a pull attempt would say
		// "connection refused" instead.
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM 127.0.0.1:1/nada:1\nRUN true\n"), 0o644)
		r := fails(t, "pulling is off", "build", "-t", "nopull:1", dir)
		if strings.Contains(r.stderr+r.stdout, "refused") || strings.Contains(r.stderr+r.stdout, "Pulling") {
			t.Fatalf("build tried to pull: %q %q", r.stdout, r.stderr)
		}
		fails(t, "pulling is off", "build", "--pull", "never", dir)
		fails(t, `--pull "sometimes"`, "build", "--pull", "sometimes", dir)
	})
	t.Run("ps flag order", func(t *testing.T) {
		rmAtEnd(t, "exitedone")
		ok(t, "run", "--name", "exitedone", "busybox", "true")
		id := inspect(t, "exitedone")["Id"].(string)
		for _, args := range [][]string{
			{"ps", "-a", "--filter", "status=exited", "-q"},
			{"ps", "--filter", "status=exited", "-aq"},
			{"ps", "-q", "--filter", "name=exitedone", "-a"},
		} {
			if out := ok(t, args...); !strings.Contains(out, id[:12]) || strings.Contains(out, "CONTAINER") {
				t.Fatalf("%v: %q, want %s", args, out, id[:12])
			}
		}
	})
	t.Run("relative workdir", func(t *testing.T) {
		before := listDir(t, filepath.Join(dataRoot, "containers"))
		r := fails(t, "the working directory 'rel' is invalid, it needs to be an absolute path", "run", "-w", "rel", "busybox", "true")
		if strings.Contains(r.stderr, "shim.log") {
			t.Fatalf("the error names a deleted file: %q", r.stderr)
		}
		fails(t, "needs to be an absolute path", "run", "-d", "-w", "rel", "busybox", "true")
		if after := listDir(t, filepath.Join(dataRoot, "containers")); len(after) != len(before) {
			t.Fatalf("left %v", after)
		}
	})
}
