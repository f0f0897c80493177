package container

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	"golang.org/x/sys/unix"
)

// On a data root full to the last byte (a 4 MiB tmpfs), the shim still
// records the real exit code of a container, and rm removes it. No other
// process touches this tmpfs, so nothing can free a page behind the test's
// back. (Root: it mounts the tmpfs.)
func TestExitRecordedAndRemovedOnFullDisk(t *testing.T) {
	testutil.RequireRoot(t)
	lib := t.TempDir()
	if err := unix.Mount("minirun-test-full", lib, "tmpfs", 0, "size=4m,mode=0711"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(lib, unix.MNT_DETACH) })
	m := &Manager{DataRoot: lib, StateRoot: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(lib, "containers"), 0o711); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("c", 64)
	dir := m.dir(id)
	os.Mkdir(dir, 0o711)
	meta := &Meta{ID: id, Name: "filler", State: State{Status: "running", Running: true, Pid: 1}}
	if err := meta.save(dir); err != nil {
		t.Fatal(err)
	}
	for _, bs := range []string{"64k", "4k", "1"} {
		exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(lib, "fill"+bs), "bs="+bs).Run()
	}
	var st unix.Statfs_t
	if unix.Statfs(lib, &st); st.Bavail != 0 {
		t.Fatalf("the tmpfs is not full: %d blocks free", st.Bavail)
	}
	(&shimEvents{m: m, id: id}).Exited(0, false, false)
	got, err := m.Get("filler")
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Status != "exited" || got.State.ExitCode != 0 {
		t.Fatalf("recorded on a full disk: %+v; want exited with 0", got.State)
	}
	if err := m.RemoveWithVolumes("filler", true, false); err != nil {
		t.Fatalf("rm -f on a full disk: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("the container's directory is still there")
	}
}
