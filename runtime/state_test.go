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

// A 'creating' state.json is "creating" while its creator lives, and
// "stopped" once the creator died: delete may then remove what it left,
// and DeleteByID --force removes a state dir that has no state.json yet.
func TestCreatingStateAndPartialDelete(t *testing.T) {
	root := t.TempDir()
	self, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{Version: specs.Version, Process: &specs.Process{Args: []string{"sh"}}}
	for _, tc := range []struct {
		id    string
		start uint64
		want  Status
	}{
		{"live", self.StartTime, Creating},
		{"dead", self.StartTime + 1, Stopped}, // another process with this pid
	} {
		dir := filepath.Join(root, tc.id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		st := &savedState{ID: tc.id, Config: spec, Creating: true, Creator: os.Getpid(), CreatorStart: tc.start}
		if err := st.save(dir); err != nil {
			t.Fatal(err)
		}
		if s, err := StatusOf(root, tc.id); err != nil || s != tc.want {
			t.Fatalf("%s: StatusOf = %v, %v; want %v", tc.id, s, err, tc.want)
		}
	}
	if err := DeleteByID(root, "live", true, nil); err == nil {
		t.Fatal("delete --force of a container whose create is at work succeeded")
	}
	if err := DeleteByID(root, "dead", false, nil); err != nil {
		t.Fatalf("delete of a container whose create died: %v", err)
	}
	partial := filepath.Join(root, "partial")
	if err := os.Mkdir(partial, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := DeleteByID(root, "partial", false, nil); err == nil {
		t.Fatal("delete without --force removed a dir without state.json")
	}
	if err := DeleteByID(root, "partial", true, nil); err != nil {
		t.Fatalf("delete --force of a dir without state.json: %v", err)
	}
	for _, id := range []string{"dead", "partial"} {
		if _, err := os.Stat(filepath.Join(root, id)); err == nil {
			t.Fatalf("%s is still there", id)
		}
	}
	if err := DeleteByID(root, "nothing", true, nil); err == nil {
		t.Fatal("delete --force of an id that never existed succeeded")
	}
}
