package container

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The State is written in place into the preallocated record, and wins
// over a meta.json that missed the save (a full disk): the record's inode
// and size never change, so the write needs no new block.
func TestStateRecordWinsAndStaysInPlace(t *testing.T) {
	dir := t.TempDir()
	meta := &Meta{ID: strings.Repeat("a", 64), Name: "x", State: State{Status: "created"}}
	if err := meta.save(dir); err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, stateRecordFile), &before); err != nil {
		t.Fatal(err)
	}
	if before.Size != stateRecordSize || before.Blocks*512 < stateRecordSize {
		t.Fatalf("record is %d bytes in %d blocks: not preallocated", before.Size, before.Blocks)
	}
	// The exit is recorded, but meta.json cannot be (simulated: only the
	// record is written).
	if err := writeStateRecord(dir, State{Status: "exited", ExitCode: 0, Error: strings.Repeat("e", 10000)}, 2); err != nil {
		t.Fatal(err)
	}
	var after syscall.Stat_t
	syscall.Stat(filepath.Join(dir, stateRecordFile), &after)
	if after.Ino != before.Ino || after.Size != before.Size {
		t.Fatalf("the record was replaced (inode %d -> %d, size %d -> %d)", before.Ino, after.Ino, before.Size, after.Size)
	}
	got, err := loadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Status != "exited" || got.RestartCount != 2 || got.Name != "x" {
		t.Fatalf("loadMeta = %+v", got)
	}
	// A torn record (checksum mismatch) is ignored: meta.json's State.
	b, _ := os.ReadFile(filepath.Join(dir, stateRecordFile))
	b[10] ^= 1
	os.WriteFile(filepath.Join(dir, stateRecordFile), b, 0o600)
	if got, err := loadMeta(dir); err != nil || got.State.Status != "created" {
		t.Fatalf("with a torn record: %+v, %v; want meta.json's created", got, err)
	}
}

// ps lists what is a container and nothing else: a directory being made
// (.new-) or removed (.rm-) is hidden, one that lost its meta.json is
// "dead", so rm can reach it; a foreign directory is ignored.
func TestRecordsHiddenAndDead(t *testing.T) {
	m := &Manager{DataRoot: t.TempDir()}
	base := filepath.Join(m.DataRoot, "containers")
	live, dead := strings.Repeat("1", 64), strings.Repeat("2", 64)
	for _, d := range []string{live, dead, ".new-" + strings.Repeat("3", 64), ".rm-" + strings.Repeat("4", 64) + "-1", "lost+found"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{live, ".new-" + strings.Repeat("3", 64)} {
		if err := (&Meta{ID: d, Name: "n" + d[:3]}).save(filepath.Join(base, d)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := m.records()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range all {
		got[r.ID] = r.State.Status
	}
	if len(got) != 2 || got[live] != "" || got[dead] != "dead" {
		t.Fatalf("records = %v; want the live one and the dead one", got)
	}
	if meta, err := m.Get(dead[:12]); err != nil || meta.Rootfs() != filepath.Join(base, dead, "merged") {
		t.Fatalf("Get of the dead one: %+v, %v", meta, err)
	}
}
