//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bad input gets a one-line error, a non-zero exit, and leaves nothing.
func TestBadInput(t *testing.T) {
	before := listDir(t, filepath.Join(dataRoot, "containers"))
	fails(t, "unable to find image", "run", "--rm", "nao-existe:1.0", "true")
	fails(t, "invalid container name", "run", "--name", "../fuga", "busybox", "true")
	fails(t, "invalid container name", "run", "--name", "a/b", "busybox", "true")
	fails(t, "invalid container id", "create", "--bundle", "/tmp", "../x")
	fails(t, "invalid container id", "create", "--bundle", "/tmp", "a/b")
	fails(t, "no command specified", "run", "--entrypoint", "", "busybox")
	if after := listDir(t, filepath.Join(dataRoot, "containers")); len(after) != len(before) {
		t.Fatalf("a failed run left %v (before %v)", after, before)
	}
	if ents := listDir(t, stateRoot); len(ents) != 0 {
		t.Fatalf("a failed create left state: %v", ents)
	}
}

func TestInvalidConfig(t *testing.T) {
	cases := map[string]struct {
		edit func(*specs.Spec)
		raw  string
		want string
	}{
		"not json":       {raw: "{nope", want: "invalid config"},
		"bad version":    {edit: func(s *specs.Spec) { s.Version = "banana" }, want: "invalid ociVersion"},
		"unknown rlimit": {edit: func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BANANA"}} }, want: "unknown rlimit"},
		"unknown cap":    {edit: func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_BANANA"} }, want: "unknown capability"},
		"no args":        {edit: func(s *specs.Spec) { s.Process.Args = nil }, want: "process.args"},
		"missing rootfs": {edit: func(s *specs.Spec) { s.Root.Path = "nao-existe" }, want: "root.path"},
		"unknown ns": {edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "banana"})
		}, want: "unknown namespace"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := bundle(t, c.edit)
			if c.raw != "" {
				os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.raw), 0o644)
			}
			fails(t, c.want, "create", "--bundle", dir, "bad1")
			if ents := listDir(t, stateRoot); len(ents) != 0 {
				t.Fatalf("state left: %v", ents)
			}
		})
	}
}

// Unknown properties are accepted (config.md "Extensibility").
func TestUnknownPropertiesAccepted(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"true"} })
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	b = []byte(strings.Replace(string(b), "{", `{"minirunFutureField": {"x": 1},`, 1))
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	r := mr(t, "run", "--bundle", dir, "unk1")
	if r.code != 0 {
		t.Fatalf("unknown property rejected: %s", r.stderr)
	}
}

func TestNotRoot(t *testing.T) {
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, "--root", stateRoot, "--data-root", dataRoot, "run", "busybox", "true")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs root") {
		t.Fatalf("as nobody: %v %q", err, out)
	}
}

// A failure in the middle of create (here: a createRuntime hook) rolls
// back every step before it: no state, no process.
func TestCreateRollback(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	})
	fails(t, "createRuntime hook", "create", "--bundle", dir, "rollback1")
	if ents := listDir(t, stateRoot); len(ents) != 0 {
		t.Fatalf("state left: %v", ents)
	}
	out, _ := exec.Command("pgrep", "-f", "minirun init").Output()
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("an init process was left: %s", out)
	}
}
