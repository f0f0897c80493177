package layer

import (
	"archive/tar"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestExtractKeepsFilesModesTimes(t *testing.T) {
	root := t.TempDir()
	t.Cleanup(func() { makeWritable(root) })
	later := testTime.Add(time.Hour)
	link := hardlinkE("bin/ls", "bin/busybox")
	size, err := Extract(mkTar(t,
		dirE("./", 0o755),
		dirE("bin/", 0o755),
		fileE("bin/busybox", "#!fake busybox\n", 0o755),
		symlinkE("bin/sh", "busybox"),
		link,
		fileE("usr/bin/su", "setuid", 0o4755), // parent dirs not in the archive
		dirE("ro/", 0o555),
		fileE("ro/inside", "x", 0o444), // written before ro's mode is applied
		entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "late", Mode: 0o600, ModTime: later}},
		entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o620, ModTime: testTime}},
	), root)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if want := int64(len("#!fake busybox\n") + len("setuid") + 1); size != want {
		t.Errorf("size = %d, want %d", size, want)
	}
	mode := func(p string) fs.FileMode {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	checks := []struct {
		path string
		want fs.FileMode
	}{
		{"bin", fs.ModeDir | 0o755},
		{"bin/busybox", 0o755},
		{"usr/bin", fs.ModeDir | 0o755},
		{"usr/bin/su", fs.ModeSetuid | 0o755},
		{"ro", fs.ModeDir | 0o555},
		{"ro/inside", 0o444},
		{"late", 0o600},
		{"fifo", fs.ModeNamedPipe | 0o620},
	}
	for _, c := range checks {
		if got := mode(c.path); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
	}
	if got := readlink(t, filepath.Join(root, "bin/sh")); got != "busybox" {
		t.Errorf("bin/sh -> %q, want busybox", got)
	}
	var a, b unix.Stat_t
	unix.Lstat(filepath.Join(root, "bin/busybox"), &a)
	unix.Lstat(filepath.Join(root, "bin/ls"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("bin/ls: inode %d nlink %d, want a hard link to bin/busybox (inode %d)", b.Ino, b.Nlink, a.Ino)
	}
	// Times: files as in the archive, and directories too, although files
	// were created inside them afterwards.
	for p, want := range map[string]time.Time{"bin/busybox": testTime, "late": later, "bin": testTime, "ro": testTime, "bin/sh": testTime} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(want) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), want)
		}
	}
}

// TestExtractLaterEntryWins checks tar's rule that a later entry replaces
// an earlier one of the same name, whatever the types.
func TestExtractLaterEntryWins(t *testing.T) {
	root := t.TempDir()
	_, err := Extract(mkTar(t,
		fileE("a", "first", 0o644),
		fileE("a", "second", 0o644),
		dirE("b/", 0o755), fileE("b/child", "x", 0o644),
		symlinkE("b", "a"), // a directory replaced by a symlink
		symlinkE("c", "a"),
		dirE("c/", 0o700),                    // and the reverse
		dirE("d/", 0o700), dirE("d/", 0o711), // a directory declared twice: merged, last mode wins
	), root)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a")); string(b) != "second" {
		t.Errorf("a = %q, want second", b)
	}
	if got := readlink(t, filepath.Join(root, "b")); got != "a" {
		t.Errorf("b -> %q, want a", got)
	}
	for p, want := range map[string]fs.FileMode{"c": fs.ModeDir | 0o700, "d": fs.ModeDir | 0o711} {
		if fi, err := os.Lstat(filepath.Join(root, p)); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, want)
		}
	}
}

// TestExtractWhiteout checks the AUFS → overlayfs whiteout conversion.
// A whiteout (char device 0/0) needs no privilege since Linux 5.8.
func TestExtractWhiteout(t *testing.T) {
	root := t.TempDir()
	_, err := Extract(mkTar(t,
		dirE("etc/", 0o755),
		fileE("etc/.wh.motd", "", 0o644),
		fileE("gone", "x", 0o644), fileE(".wh.gone", "", 0o644), // whiteout replaces an entry of this layer
		fileE("var/.wh..wh.plnk", "", 0o644), // AUFS bookkeeping: ignored
	), root)
	if errors.Is(err, unix.EPERM) {
		t.Skipf("this kernel does not let an unprivileged user create a whiteout: %v", err)
	}
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	for _, p := range []string{"etc/motd", "gone"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want char device 0/0", p, st.Mode, st.Rdev)
		}
	}
	for _, p := range []string{"etc/.wh.motd", ".wh.gone", "var/.wh..wh.plnk"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the AUFS name itself must not be created (%v)", p, err)
		}
	}
}

func TestExtractRejectsGarbage(t *testing.T) {
	root := t.TempDir()
	_, err := Extract(strings.NewReader(strings.Repeat("not a tar archive ", 100)), root)
	if err == nil {
		t.Fatal("Extract of garbage succeeded")
	}
	if _, err := Extract(mkTar(t, fileE("x", "", 0)), filepath.Join(root, "missing")); err == nil {
		t.Fatal("Extract into a missing directory succeeded")
	}
}

func TestExtractUserXattr(t *testing.T) {
	root := t.TempDir()
	probe := filepath.Join(root, "probe")
	os.WriteFile(probe, nil, 0o644)
	if err := unix.Lsetxattr(probe, "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("no user xattrs on %s: %v", root, err)
	}
	e := fileE("f", "x", 0o644)
	e.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.mime_type": "text/plain"}
	if _, err := Extract(mkTar(t, e), root); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(root, "f"), "user.mime_type", buf)
	if err != nil || string(buf[:n]) != "text/plain" {
		t.Errorf("user.mime_type = %q, %v; want text/plain", buf[:n], err)
	}
}

// TestExtractAsRoot covers what only root may do: owners, device nodes,
// trusted.* xattrs (the opaque marker), and the refusal of overlay xattrs
// forged by the archive.
func TestExtractAsRoot(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	own := func(e entry, uid, gid int) entry { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }
	caps := fileE("bin/ping", "ping", 0o755)
	// security.capability for cap_net_raw+ep, as getcap would show it.
	caps.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.security.capability":      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"SCHILY.xattr.trusted.overlay.redirect": "/etc", // forged: must be dropped
	}
	caps = own(caps, 0, 0)
	_, err := Extract(mkTar(t,
		own(dirE("home/user/", 0o700), 1000, 1000),
		own(fileE("home/user/.profile", "x", 0o644), 1000, 100),
		own(symlinkE("home/user/link", "/nowhere"), 1000, 1000),
		entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: testTime}},
		own(fileE("setgid", "x", 0o2755), 0, 50),
		caps,
		dirE("opaque/", 0o755), fileE("opaque/.wh..wh..opq", "", 0o644),
	), root)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	owner := func(p string) (int, int) {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid), int(st.Gid)
	}
	for p, want := range map[string][2]int{"home/user": {1000, 1000}, "home/user/.profile": {1000, 100}, "home/user/link": {1000, 1000}, "setgid": {0, 50}} {
		if u, g := owner(p); u != want[0] || g != want[1] {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, u, g, want[0], want[1])
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "setgid")); fi.Mode()&fs.ModeSetgid == 0 {
		t.Errorf("setgid lost its bit after chown: %v", fi.Mode())
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "dev/null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Mode&0o777 != 0o666 {
		t.Errorf("dev/null: mode %o rdev %d:%d, want char 1:3 0666", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(root, "opaque"), OpaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque: %s = %q, %v; want y", OpaqueXattr, buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "bin/ping"), "security.capability", buf); err != nil {
		t.Errorf("bin/ping lost security.capability: %v", err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "bin/ping"), "trusted.overlay.redirect", buf); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("bin/ping: forged trusted.overlay.redirect must be dropped, got %v", err)
	}
}
