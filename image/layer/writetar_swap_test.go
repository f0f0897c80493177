package layer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestArchiveFileSwappedAfterStat: a running container can rename a FIFO
// (or a device, or another file) over a regular file between the stat
// that makes it "a regular file" and its open. The archive must neither
// block on the FIFO (the open used to wait for a writer forever) nor read
// what is not the file it stat'ed.
func TestArchiveFileSwappedAfterStat(t *testing.T) {
	for _, c := range []struct {
		name string
		swap func(p string) error
	}{
		{"fifo", func(p string) error { os.Remove(p); return unix.Mkfifo(p, 0o644) }},
		{"other file", func(p string) error { return os.WriteFile(p+".new", []byte("other"), 0o644) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
			afterStat = func(name string) {
				if err := c.swap(p); err != nil {
					t.Error(err)
				}
				if _, err := os.Stat(p + ".new"); err == nil {
					os.Rename(p+".new", p)
				}
			}
			t.Cleanup(func() {
				afterStat = nil
				// Let a blocked reader go.
				if f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
			done := make(chan error, 1)
			go func() {
				a := NewArchive(io.Discard)
				err := a.AddTree(dir, TreeOptions{})
				if err == nil {
					err = a.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, errChanged) {
					t.Errorf("archive of a swapped file: %v, want errChanged", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("archiving blocked on a FIFO swapped in after the stat")
			}
		})
	}
}
