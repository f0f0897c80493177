package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// entry is one member of a test archive: a header and, for regular files,
// its content.
type entry struct {
	hdr  tar.Header
	body string
}

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func dirE(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: testTime}}
}

func fileE(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: testTime}, body: body}
}

func symlinkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: testTime}}
}

func hardlinkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: testTime}}
}

// mkTar builds an archive in memory. The PAX format is forced so that
// names of any length and xattrs survive.
func mkTar(t testing.TB, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatalf("tar body %q: %v", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// snapshot describes every path under base except those under skip (and
// skip itself): type, mode, size, content hash, link target and mtime. Two
// equal snapshots mean nothing outside skip was created, removed, chmod-ed,
// written or touched.
func snapshot(t testing.TB, base, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String() + " " + fi.ModTime().UTC().Format(time.RFC3339Nano)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		desc += xattrs(p)
		rel, _ := filepath.Rel(base, p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", base, err)
	}
	return out
}

// sandbox makes base/{root,sentinel} with a file in the sentinel, and
// returns base, root and sentinel. Everything an extraction into root may
// touch is under root; the sentinel is what an escape would hit.
func sandbox(t testing.TB) (base, root, sentinel string) {
	t.Helper()
	base = t.TempDir()
	root = filepath.Join(base, "root")
	sentinel = filepath.Join(base, "sentinel")
	for _, d := range []string{root, sentinel} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sentinel, "secret"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Make removal possible for a non-root test even if an extraction left
	// read-only directories behind.
	t.Cleanup(func() { makeWritable(root) })
	return base, root, sentinel
}

// xattrs lists the extended attributes of p (not following a symlink), so
// that a snapshot also sees an opaque marker or a capability set through an
// escape.
func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	out := ""
	for _, name := range names {
		val := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, name, val)
		if m < 0 {
			m = 0
		}
		out += fmt.Sprintf(" %s=%q", name, val[:m])
	}
	return out
}

func makeWritable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func diffSnap(t testing.TB, before, after map[string]string) {
	t.Helper()
	for k, v := range after {
		if before[k] != v {
			t.Errorf("outside the target: %q changed or appeared: %q (was %q)", k, v, before[k])
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("outside the target: %q disappeared", k)
		}
	}
}

func readlink(t testing.TB, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("readlink: %v", err)
	}
	return l
}

func isRoot() bool { return os.Geteuid() == 0 }

// contains reports whether s contains sub; a tiny helper for error checks.
func contains(s, sub string) bool { return strings.Contains(s, sub) }
