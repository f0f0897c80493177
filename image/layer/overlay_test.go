package layer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestWhiteoutsUnderOverlayfs extracts two layers and mounts them with
// overlayfs, read-only (two lowerdirs, no upperdir), to check that the
// kernel reads the converted whiteouts as intended: a deleted file is gone
// and an opaque directory hides what the lower layer had in it.
func TestWhiteoutsUnderOverlayfs(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	lower, upper, merged := filepath.Join(base, "l1"), filepath.Join(base, "l2"), filepath.Join(base, "merged")
	for _, d := range []string{lower, upper, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Extract(mkTar(t,
		fileE("etc/motd", "old", 0o644),
		fileE("etc/keep", "kept", 0o644),
		fileE("cache/a", "1", 0o644),
		fileE("cache/b", "2", 0o644),
	), lower); err != nil {
		t.Fatalf("extract lower: %v", err)
	}
	if _, err := Extract(mkTar(t,
		fileE("etc/.wh.motd", "", 0o644),
		dirE("cache/", 0o755),
		fileE("cache/.wh..wh..opq", "", 0o644),
		fileE("cache/c", "3", 0o644),
	), upper); err != nil {
		t.Fatalf("extract upper: %v", err)
	}
	// lowerdir lists the top layer first.
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+lower); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
		}
	})
	if _, err := os.Lstat(filepath.Join(merged, "etc/motd")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("etc/motd: whited out in the upper layer, but: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "etc/keep")); err != nil || string(b) != "kept" {
		t.Errorf("etc/keep: %q, %v", b, err)
	}
	ents, err := os.ReadDir(filepath.Join(merged, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"c"}) {
		t.Errorf("cache/ shows %v; the opaque upper directory must hide a and b", names)
	}
}
