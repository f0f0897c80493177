package container

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A second container sharing the volume swaps a directory copyTree has
// just made for a symlink to a host path (the attack, made
// deterministic by the hook): nothing may land outside the volume.
func TestCopyTreeNeverFollowsASwappedDirectory(t *testing.T) {
	src, vol := t.TempDir(), t.TempDir()
	for _, d := range []string{"a", "a/b", "c"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/f1", "a/f2", "a/b/f3", "c/f4"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, swap := range []string{"a", "a/b", "c"} {
		t.Run(swap, func(t *testing.T) {
			host := t.TempDir() // stands for a host directory such as /etc
			dst := filepath.Join(vol, filepath.Base(t.Name()))
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			copyTreeHook = func(rel string) {
				if rel != swap {
					return
				}
				p := filepath.Join(dst, rel)
				if err := os.Remove(p); err != nil {
					t.Errorf("swap %s: %v", rel, err)
				}
				if err := os.Symlink(host, p); err != nil {
					t.Errorf("swap %s: %v", rel, err)
				}
			}
			defer func() { copyTreeHook = nil }()
			err := copyTree(src, dst)
			ents, _ := os.ReadDir(host)
			for _, e := range ents {
				t.Errorf("copyTree wrote %s outside the volume", filepath.Join(host, e.Name()))
			}
			if err == nil {
				t.Errorf("copyTree went on after %s became a symlink; want an error", swap)
			}
		})
	}
}

// What the copy keeps: modes with the setuid bit, owners, symlinks as
// symlinks (never followed), times; and the volume's root takes the owner
// and mode of the image's directory, as Docker's copyOwnership does.
func TestCopyTreeKeepsMetadata(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(src, "d"), 0o750); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(src, "d", "prog")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(f, 0o4755); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(f, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o701); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dst, "d", "prog"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o755|os.ModeSetuid || !fi.ModTime().Equal(old) {
		t.Errorf("prog: mode %v mtime %v; want -rwsr-xr-x %v", fi.Mode(), fi.ModTime(), old)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "d")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("d: %v %v; want 0750", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "/etc/shadow" {
		t.Errorf("link: %q %v", l, err)
	}
	if fi, err := os.Lstat(dst); err != nil || fi.Mode().Perm() != 0o701 {
		t.Errorf("volume root: %v %v; want the image directory's 0701", fi.Mode(), err)
	}
}
