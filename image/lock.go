package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lock takes the store's flock(2): exclusive (LOCK_EX) for a change,
// shared (LOCK_SH) for a read that must see a consistent store. It returns
// the function that releases it.
//
// flock belongs to an open file description, not to a process, so two
// goroutines that each call lock exclude each other exactly as two minirun
// processes do. That also means a goroutine holding the lock must not call
// lock again: the second open would wait for the first forever. The
// exported methods lock; the unexported helpers they call do not.
func (s *Store) lock(how int) (unlock func(), err error) {
	path := filepath.Join(s.root, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	// Closing the descriptor releases the lock.
	return func() { f.Close() }, nil
}

// writeFileAtomic replaces path with data so that a reader, or a crash,
// sees either the old content or the new, never a half-written file: write
// a temporary file in the same directory, fsync it, rename(2) it over path
// (atomic within one filesystem), then fsync the directory so the rename
// itself survives a power cut.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (retErr error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	defer func() {
		if retErr != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp.Name(), path, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// removeTree deletes path and everything below it; a missing path is
// success. A layer may hold read-only directories (a rootfs's /proc is
// 0555), which stop an unprivileged os.RemoveAll; then the tree is made
// writable by its owner and removed again.
func removeTree(path string) error {
	err := os.RemoveAll(path)
	if err == nil || os.Geteuid() == 0 {
		return err
	}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700) //minirun:nostep unprivileged only: the owner's own tree, being deleted, made writable so RemoveAll can; the deletion is the change
		}
		return nil
	})
	return os.RemoveAll(path)
}
