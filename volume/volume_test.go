package volume

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/testutil"
)

// A dry run of a volume with driver options takes the steps a run takes:
// the volume it described creating is found by the container's mounts,
// mounted for its first user, unmounted after its last, then removed; and
// it writes nothing.
func TestDryRunTakesTheRunsSteps(t *testing.T) {
	dir := t.TempDir()
	rec := &explain.Recorder{}
	tr := explain.NewDryRun(rec)
	s, err := Open(dir, tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("dados", "local", map[string]string{"type": "tmpfs", "device": "tmpfs"}, nil); err != nil {
		t.Fatal(err)
	}
	// What the run's prepareMounts and acquireVolumes do, in another
	// store of the same dry run.
	s2, _ := Open(dir, tr)
	if _, err := s2.Get("dados"); err != nil {
		t.Fatalf("the dry run does not find the volume it described: %v", err)
	}
	if err := s2.Acquire("dados", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Acquire("dados", "c2"); err != nil {
		t.Fatal(err)
	}
	s2.Release("dados", "c1")
	s2.Release("dados", "c2")
	if err := s.Remove("dados", func(string) []string { return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"volumes-create", "volumes-mount", "volumes-unmount", "volumes-remove"}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a dry run wrote %v", ents)
	}
	if _, err := s.Get("dados"); err == nil {
		t.Error("the dry run still finds the volume it removed")
	}
}

// The unmount's evidence is the volume's own lines of mountinfo, not the
// table: a host with containers has hundreds.
func TestMountinfoLinesAreTheVolumes(t *testing.T) {
	vol := "/var/lib/minirun/volumes/dados/_data"
	table := strings.Join([]string{
		"22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
		"98 22 0:50 / " + vol + " rw,relatime shared:40 - tmpfs tmpfs rw,size=16384k",
		"99 22 0:51 / /var/lib/minirun/volumes/dados/_data2 rw - tmpfs tmpfs rw",
		"100 22 0:52 / /var/lib/minirun/containers/x/merged" + " rw - overlay overlay rw,lowerdir=" + vol,
	}, "\n")
	got := mountinfoLines(strings.NewReader(table), vol)
	want := []string{"  " + vol + " tmpfs tmpfs rw,relatime"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := mountinfoLines(strings.NewReader(table), filepath.Join(vol, "x")); len(got) != 0 {
		t.Errorf("lines for a path nothing is mounted on: %q", got)
	}
	if txt := mountLines(filepath.Join(t.TempDir(), "nada")); !strings.Contains(txt.EN, "nothing mounted there") || strings.Contains(txt.EN, "nada montado") {
		t.Errorf("evidence of no mount: %+v", txt)
	}
}

// A driver is in use while a volume of it exists, and only a volume of
// that driver counts.
func TestDriverInUse(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("local1", "local", nil, nil); err != nil {
		t.Fatal(err)
	}
	// A plugin's volume as createPlugin records it, without the plugin.
	if err := os.MkdirAll(s.path("pv"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(filepath.Join(s.path("pv"), "volume.json"), &Volume{Name: "pv", Driver: "vd"}); err != nil {
		t.Fatal(err)
	}
	for driver, want := range map[string]bool{"vd": true, "local": true, "vd2": false, "v": false} {
		if got, err := s.DriverInUse(driver); err != nil || got != want {
			t.Errorf("DriverInUse(%q) = %v, %v; want %v", driver, got, err, want)
		}
	}
	if err := os.RemoveAll(s.path("pv")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DriverInUse("vd"); err != nil || got {
		t.Errorf("DriverInUse(vd) after its volume went: %v, %v; want false", got, err)
	}
}

// Remove and the reference count of a volume that does not exist say so
// (ErrNotFound) and let the store's lock go: lockedGet releases it when
// the record is missing, or the next command would wait on it forever.
func TestUnknownVolumeLeavesTheLockFree(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"rm":      func() error { return s.Remove("nope", func(string) []string { return nil }) },
		"acquire": func() error { return s.Acquire("nope", "c1") },
		"release": func() error { return s.Release("nope", "c1") },
	} {
		if err := op(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of an unknown volume: %v, want ErrNotFound", name, err)
		}
		testutil.RequireLockFree(t, filepath.Join(s.dir, ".lock"), name+" of an unknown volume")
	}
}
