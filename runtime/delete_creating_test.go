package runtime

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A forced delete of a container whose create is still at work (a shim
// whose `run -d` was killed, a `create` the user gave up on) kills the
// creator, checked by pid and start time, and removes the state: it used
// to answer "cannot delete: container is creating", and the user's
// `rm -f` failed. A sleep stands for the creator.
func TestDeleteForceKillsLiveCreator(t *testing.T) {
	root := t.TempDir()
	creator := exec.Command("sleep", "100")
	if err := creator.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { creator.Wait(); close(exited) }()
	t.Cleanup(func() { creator.Process.Kill(); <-exited })
	ps, err := readProcStat(creator.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := &savedState{ID: "c1", Created: time.Now().UTC(), Config: &specs.Spec{Version: specs.Version},
		Creating: true, Creator: creator.Process.Pid, CreatorStart: ps.StartTime}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	if s, _ := StatusOf(root, "c1"); s != Creating {
		t.Fatalf("status %q, want creating", s)
	}
	var te *TransitionError
	if err := DeleteByID(root, "c1", false, nil); !errors.As(err, &te) {
		t.Fatalf("delete without force: %v, want a transition error", err)
	}
	if err := DeleteByID(root, "c1", true, nil); err != nil {
		t.Fatalf("delete --force of a creating container: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the creator still runs after delete --force")
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("state dir left: %v", err)
	}
}

// A creator pid that now belongs to another process (start time differs)
// is never signalled.
func TestDeleteForceSparesReusedCreatorPid(t *testing.T) {
	root := t.TempDir()
	other := exec.Command("sleep", "100")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	ps, err := readProcStat(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "c2")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := &savedState{ID: "c2", Created: time.Now().UTC(), Config: &specs.Spec{Version: specs.Version},
		Creating: true, Creator: other.Process.Pid, CreatorStart: ps.StartTime + 1}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	if err := DeleteByID(root, "c2", true, nil); err != nil {
		t.Fatalf("delete --force: %v", err)
	}
	if !alive(other.Process.Pid, ps.StartTime) {
		t.Fatal("delete --force killed a process that only reused the creator's pid")
	}
}
