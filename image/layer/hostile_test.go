package layer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExtractRejectsBreakouts feeds archives that try to write outside the
// target. Each must fail with ErrBreakout and leave everything outside the
// target exactly as it was.
func TestExtractRejectsBreakouts(t *testing.T) {
	cases := []struct {
		name string
		// setup may plant things in root before extraction ("already in
		// the dir"); sentinel is the absolute path of the sentinel dir.
		setup   func(t *testing.T, root, sentinel string)
		entries func(sentinel string) []entry
	}{
		{name: "dotdot file", entries: func(string) []entry {
			return []entry{fileE("../sentinel/evil", "x", 0o644)}
		}},
		{name: "dotdot deep", entries: func(string) []entry {
			return []entry{dirE("a/", 0o755), fileE("a/../../sentinel/evil", "x", 0o644)}
		}},
		{name: "absolute name", entries: func(s string) []entry {
			return []entry{fileE(s+"/evil", "x", 0o644)}
		}},
		{name: "dotdot dir", entries: func(string) []entry {
			return []entry{dirE("../sentinel/evil/", 0o755)}
		}},
		{name: "symlink relative escape then file", entries: func(string) []entry {
			return []entry{symlinkE("link", "../sentinel"), fileE("link/evil", "x", 0o644)}
		}},
		{name: "symlink absolute then file", entries: func(s string) []entry {
			return []entry{symlinkE("link", s), fileE("link/evil", "x", 0o644)}
		}},
		{name: "symlink to / then dir", entries: func(s string) []entry {
			return []entry{symlinkE("link", "/"), dirE("link"+s+"/evil/", 0o755)}
		}},
		{name: "symlink chain escape", entries: func(string) []entry {
			return []entry{
				symlinkE("a", "b"), dirE("c/", 0o755), symlinkE("b", "c/../.."),
				fileE("a/sentinel/evil", "x", 0o644),
			}
		}},
		{name: "symlink escape then chmod dir", entries: func(string) []entry {
			// containerd CVE-2021-32760: a directory entry whose parent
			// is a symlink out, with a mode to apply.
			return []entry{symlinkE("link", "../sentinel"), dirE("link/x/", 0o777)}
		}},
		{name: "symlink escape then whiteout", entries: func(string) []entry {
			return []entry{symlinkE("link", "../sentinel"), fileE("link/.wh.secret", "", 0o644)}
		}},
		{name: "symlink escape then opaque", entries: func(string) []entry {
			return []entry{symlinkE("link", "../sentinel"), fileE("link/.wh..wh..opq", "", 0o644)}
		}},
		{name: "whiteout of dotdot", entries: func(string) []entry {
			return []entry{fileE(".wh..", "", 0o644)}
		}},
		{name: "hard link dotdot target", entries: func(string) []entry {
			return []entry{hardlinkE("h", "../sentinel/secret")}
		}},
		{name: "hard link absolute target", entries: func(s string) []entry {
			return []entry{hardlinkE("h", s+"/secret")}
		}},
		{name: "hard link through escaping symlink", entries: func(string) []entry {
			return []entry{symlinkE("link", "../sentinel"), hardlinkE("h", "link/secret")}
		}},
		{name: "root entry as symlink", entries: func(s string) []entry {
			return []entry{symlinkE("./", s)}
		}},
		{name: "planted symlink in dir", setup: func(t *testing.T, root, sentinel string) {
			if err := os.Symlink(sentinel, filepath.Join(root, "planted")); err != nil {
				t.Fatal(err)
			}
		}, entries: func(string) []entry {
			return []entry{fileE("planted/evil", "x", 0o644)}
		}},
		{name: "planted relative symlink in dir", setup: func(t *testing.T, root, _ string) {
			if err := os.Symlink("../sentinel", filepath.Join(root, "planted")); err != nil {
				t.Fatal(err)
			}
		}, entries: func(string) []entry {
			return []entry{dirE("planted/sub/", 0o755), fileE("planted/sub/evil", "x", 0o644)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, root, sentinel := sandbox(t)
			if tc.setup != nil {
				tc.setup(t, root, sentinel)
			}
			before := snapshot(t, base, root)
			_, err := Extract(mkTar(t, tc.entries(sentinel)...), root)
			if !errors.Is(err, ErrBreakout) {
				t.Errorf("Extract: got %v, want an error wrapping ErrBreakout", err)
			}
			diffSnap(t, before, snapshot(t, base, root))
		})
	}
}

// TestExtractReplacesPlantedLinks covers names that already exist as links
// to the outside: the entry must replace the link, not write through it.
// These archives are legitimate, so Extract succeeds.
func TestExtractReplacesPlantedLinks(t *testing.T) {
	base, root, sentinel := sandbox(t)
	secret := filepath.Join(sentinel, "secret")
	// A symlink and a hard link to the sentinel's file, as if left by an
	// earlier layer or an attacker.
	if err := os.Symlink(secret, filepath.Join(root, "viasym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(root, "vialink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sentinel, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, base, root)
	_, err := Extract(mkTar(t,
		fileE("viasym", "overwritten?", 0o777),
		fileE("vialink", "overwritten?", 0o777),
		dirE("dirlink/", 0o777), // must become a real dir, not chmod the sentinel
	), root)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	diffSnap(t, before, snapshot(t, base, root))
	for _, n := range []string{"viasym", "vialink"} {
		b, err := os.ReadFile(filepath.Join(root, n))
		if err != nil || string(b) != "overwritten?" {
			t.Errorf("%s: got %q, %v; want the new content in a new file", n, b, err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "dirlink")); err != nil || !fi.IsDir() {
		t.Errorf("dirlink: want a real directory, got %v, %v", fi, err)
	}
}

// TestExtractSymlinkTargetsAreData checks that an absolute or climbing
// symlink is fine as content: only following it during extraction is
// refused. Images are full of links like /bin/sh -> busybox or
// /etc/mtab -> /proc/mounts.
func TestExtractSymlinkTargetsAreData(t *testing.T) {
	base, root, _ := sandbox(t)
	before := snapshot(t, base, root)
	_, err := Extract(mkTar(t,
		symlinkE("mtab", "/proc/mounts"),
		symlinkE("up", "../../.."),
		hardlinkE("mtab2", "mtab"), // hard link to the symlink itself
	), root)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	diffSnap(t, before, snapshot(t, base, root))
	if got := readlink(t, filepath.Join(root, "mtab2")); got != "/proc/mounts" {
		t.Errorf("mtab2 -> %q, want a hard link to the symlink /proc/mounts", got)
	}
	if got := readlink(t, filepath.Join(root, "up")); got != "../../.." {
		t.Errorf("up -> %q", got)
	}
}
