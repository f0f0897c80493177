package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A recorded extraction gives back the very same archive: headers of every
// kind, long names (PAX records), hard links, whiteouts that became device
// nodes on disk, file contents, and the padding after the end marker.
func TestReassembleGivesBackTheSameBytes(t *testing.T) {
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 130)
	entries := []entry{
		dirE("etc/", 0o755),
		fileE("etc/motd", "hello\n", 0o644),
		fileE("etc/.wh.issue", "", 0o600),
		dirE("var/", 0o755),
		fileE("var/.wh..wh..opq", "", 0o600),
		symlinkE("bin/sh", "busybox"),
		fileE("bin/busybox", strings.Repeat("B", 70_000), 0o755),
		hardlinkE("bin/ls", "bin/busybox"),
		fileE(long, "deep", 0o644),
		fileE("empty", "", 0o644),
	}
	archive := mkTar(t, entries...).Bytes()
	archive = append(archive, make([]byte, 10240)...) // tar(1) pads to a record
	if !isRoot() {
		// Opaque directories need CAP_SYS_ADMIN for the trusted.* xattr.
		archive = mkTar(t, append(entries[:3:3], entries[5:]...)...).Bytes()
	}
	dir := t.TempDir()
	var rec bytes.Buffer
	if _, err := ExtractRecorded(bytes.NewReader(archive), dir, &rec); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot create whiteouts here: %v", err)
		}
		t.Fatalf("ExtractRecorded: %v", err)
	}
	if rec.Len() >= len(archive)/2 {
		t.Errorf("record of %d bytes for a %d-byte archive: contents were recorded", rec.Len(), len(archive))
	}
	var out bytes.Buffer
	n, err := Reassemble(&out, dir, bytes.NewReader(rec.Bytes()))
	if err != nil {
		t.Fatalf("Reassemble: %v", err)
	}
	if n != int64(len(archive)) || !bytes.Equal(out.Bytes(), archive) {
		t.Fatalf("reassembled %d bytes, differs from the %d-byte original", n, len(archive))
	}

	// A file changed after extraction cannot give back the archive.
	os.Chmod(filepath.Join(dir, "etc"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "etc/motd"), []byte("changed, longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Reassemble(io.Discard, dir, bytes.NewReader(rec.Bytes())); err == nil {
		t.Fatal("Reassemble of a changed file succeeded")
	}
}

// Extract without a record behaves as before: the same files.
func TestExtractRecordedSameFilesAsExtract(t *testing.T) {
	archive := mkTar(t, dirE("a/", 0o755), fileE("a/b", "bee", 0o640), symlinkE("a/c", "b")).Bytes()
	d1, d2 := t.TempDir(), t.TempDir()
	if _, err := Extract(bytes.NewReader(archive), d1); err != nil {
		t.Fatal(err)
	}
	if _, err := ExtractRecorded(bytes.NewReader(archive), d2, io.Discard); err != nil {
		t.Fatal(err)
	}
	s1, s2 := snapshot(t, d1, ""), snapshot(t, d2, "")
	if len(s1) != len(s2) {
		t.Fatalf("%v vs %v", s1, s2)
	}
	for k, v := range s1 {
		if k != "." && s2[k] != v { // the roots are two different temp dirs
			t.Errorf("%s: %s vs %s", k, v, s2[k])
		}
	}
}

// readTar lists an archive as "name type mode uid:gid size link" lines.
func readTar(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		line := h.Name + " " + string(h.Typeflag) + " " + strings.TrimLeft(os.FileMode(h.Mode).String(), "-")
		line += " " + strconv.Itoa(h.Uid) + ":" + strconv.Itoa(h.Gid) + " " + string(body) + " " + h.Linkname
		out = append(out, strings.TrimSpace(line))
	}
}

// WriteTar is deterministic, lists a directory before its contents, keeps
// links, and turns overlayfs whiteouts into ".wh." entries that Extract
// turns back into whiteouts.
func TestWriteTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "app/sub"), 0o750))
	must(os.WriteFile(filepath.Join(src, "app/main"), []byte("binary"), 0o755))
	must(os.WriteFile(filepath.Join(src, "app/sub/b.txt"), []byte("b"), 0o644))
	must(os.Link(filepath.Join(src, "app/main"), filepath.Join(src, "app/main2")))
	must(os.Symlink("../etc/passwd", filepath.Join(src, "app/pw")))
	whiteouts := unix.Mknod(filepath.Join(src, "gone"), unix.S_IFCHR, 0) == nil
	if isRoot() {
		must(unix.Setxattr(filepath.Join(src, "app/sub"), OpaqueXattr, []byte("y"), 0))
	}

	var a, b bytes.Buffer
	must(WriteTar(&a, src))
	must(WriteTar(&b, src))
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two archives of the same tree differ")
	}
	got := strings.Join(readTar(t, a.Bytes()), "\n")
	want := []string{
		"app/ 5 rwxr-x---",
		"app/main 0 rwxr-xr-x",
		"app/main2 1",
		"app/pw 2 rwxrwxrwx",
		"app/sub/ 5",
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("archive lacks %q:\n%s", w, got)
		}
	}
	if strings.Index(got, "app/ ") > strings.Index(got, "app/main ") {
		t.Errorf("directory after its contents:\n%s", got)
	}
	if whiteouts && !strings.Contains(got, ".wh.gone 0") {
		t.Errorf("the whiteout did not become .wh.gone:\n%s", got)
	}
	if isRoot() && !strings.Contains(got, "app/sub/.wh..wh..opq 0") {
		t.Errorf("the opaque directory lacks .wh..wh..opq:\n%s", got)
	}

	// Extract turns it back into the same tree.
	dst := t.TempDir()
	if _, err := Extract(bytes.NewReader(a.Bytes()), dst); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	var again bytes.Buffer
	must(WriteTar(&again, dst))
	if !bytes.Equal(again.Bytes(), a.Bytes()) {
		t.Errorf("extract + WriteTar changed the archive:\n%s\nvs\n%s",
			strings.Join(readTar(t, again.Bytes()), "\n"), got)
	}
}

// A symlink in the tree is archived, not followed, even when it points out.
func TestWriteTarDoesNotFollowLinks(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o600)
	src := t.TempDir()
	os.Symlink(outside, filepath.Join(src, "escape"))
	var buf bytes.Buffer
	if err := WriteTar(&buf, src); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("s3cret")) {
		t.Fatal("WriteTar followed a symlink out of the tree")
	}
}

// AddTree's options: prefix, owner override, skip.
func TestAddTreeOptions(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "keep"), 0o755)
	os.MkdirAll(filepath.Join(src, "node_modules/x"), 0o755)
	os.WriteFile(filepath.Join(src, "keep/a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(src, "node_modules/x/y"), []byte("y"), 0o644)
	var buf bytes.Buffer
	a := NewArchive(&buf)
	err := a.AddTree(src, TreeOptions{
		Prefix: "srv/",
		Owner:  &Owner{UID: 1000, GID: 50},
		Skip:   func(rel string, _ bool) bool { return rel == "node_modules" },
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	got := strings.Join(readTar(t, buf.Bytes()), "\n")
	if !strings.Contains(got, "srv/keep/a 0 rw-r--r-- 1000:50 a") || strings.Contains(got, "node_modules") {
		t.Errorf("archive:\n%s", got)
	}
}
