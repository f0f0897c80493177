package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The spec is saved beside state.json, not inside it, and comes back only
// when asked for: StatusOf reads the small file alone.
func TestStateKeepsTheSpecBeside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{Version: specs.Version, Hostname: "beside",
		Process: &specs.Process{Args: []string{"sh"}}}
	st := &savedState{ID: "c1", Bundle: "/b", Pid: 0, Config: spec}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "beside") || strings.Contains(string(b), `"config"`) {
		t.Fatalf("state.json holds the spec:\n%s", b)
	}
	c, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec() == nil || c.Spec().Hostname != "beside" {
		t.Fatalf("Load lost the spec: %+v", c.Spec())
	}
	if s, err := StatusOf(root, "c1"); err != nil || s != Stopped {
		t.Fatalf("StatusOf = %v, %v; want stopped (pid 0)", s, err)
	}
	// With config.json gone, Load fails; StatusOf does not need it.
	if err := os.Remove(filepath.Join(dir, configFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root, "c1"); err == nil {
		t.Fatal("Load without config.json succeeded")
	}
	if _, err := StatusOf(root, "c1"); err != nil {
		t.Fatalf("StatusOf without config.json: %v", err)
	}
	if _, err := StatusOf(root, "nope"); err == nil {
		t.Fatal("StatusOf of a missing container succeeded")
	}
}
