package container

import (
	"os"
	"strings"
	"testing"
	"time"
)

// refresh must not declare dead (exit 137) a container whose record it
// read just before the shim recorded the exit and went away: it reads the
// record again. Under load `docker run --rm busybox true` exited 137 in
// ~2% of the runs through the daemon when it did not.
func TestRefreshRereadsTheRecordBeforeDeclaringDeath(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir+"/lib", dir+"/run")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	if err := os.MkdirAll(m.dir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	// The shim saved the exit after the reader loaded "running"; no
	// runtime state and no shim socket are left.
	disk := &Meta{ID: id, State: State{Status: "exited", ExitCode: 0, FinishedAt: time.Now().UTC()}}
	if err := disk.save(m.dir(id)); err != nil {
		t.Fatal(err)
	}
	stale := &Meta{ID: id, State: State{Status: "running", Running: true, Pid: 12345}}
	m.refresh(stale)
	if stale.State.Status != "exited" || stale.State.ExitCode != 0 {
		t.Fatalf("refreshed: %+v, want exited 0 (the shim's record)", stale.State)
	}
	// Removed meanwhile (--rm): not declared dead; the next read finds
	// nothing.
	gone := &Meta{ID: strings.Repeat("cd", 32), State: State{Status: "running", Running: true, Pid: 12345}}
	m.refresh(gone)
	if gone.State.ExitCode == 137 {
		t.Fatalf("a removed container was declared killed: %+v", gone.State)
	}
	// A record that still says running with no runtime and no shim: the
	// shim died (SIGKILL, OOM), and the container with it.
	dead := &Meta{ID: id, State: State{Status: "running", Running: true, Pid: 12345, StartedAt: time.Now().UTC()}}
	if err := dead.save(m.dir(id)); err != nil {
		t.Fatal(err)
	}
	m.refresh(dead)
	if dead.State.Status != "exited" || dead.State.ExitCode != 137 {
		t.Fatalf("dead: %+v, want exited 137", dead.State)
	}
}
