package container

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeRoot makes a container root in a temp dir: /etc/passwd says
// "container", /lnk is an absolute symlink to /etc/passwd, /dlnk a
// relative one that climbs above the root to etc, /tmp exists. Its "host"
// is the temp dir holding the root: the etc that the links reach when
// followed on the host is host/etc (passwd says "host"), which nothing may
// touch; the machine's own /etc is never in reach, even when resolution
// is broken.
func fakeRoot(t *testing.T) (cfs *ContainerFS, root, host string) {
	t.Helper()
	base := t.TempDir()
	root, host = filepath.Join(base, "root"), base
	for _, d := range []string{root + "/etc", root + "/tmp", host + "/etc"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(root+"/etc/passwd", []byte("container\n"), 0o644))
	must(t, os.WriteFile(host+"/etc/passwd", []byte("host\n"), 0o644))
	must(t, os.Symlink("/etc/passwd", root+"/lnk"))
	must(t, os.Symlink("../etc", root+"/dlnk"))
	// A link naming the host directory by its absolute path: on the host
	// it leads there; in the container it means root+host, which does
	// not exist.
	must(t, os.Symlink(host+"/etc", root+"/hostlink"))
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfs = &ContainerFS{Meta: &Meta{Name: "t"}, root: fd, rootPath: root}
	t.Cleanup(func() { cfs.Close() })
	return cfs, root, host
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tarOf reads back an archive: name → content (symlinks as "-> target").
func tarOf(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeSymlink {
			c = []byte("-> " + h.Linkname)
		}
		out[h.Name] = string(c)
	}
}

// TestArchivePathsStayInTheRoot: reading through symlinks and ".." gives
// the container's files, never the host's.
func TestArchivePathsStayInTheRoot(t *testing.T) {
	cfs, _, host := fakeRoot(t)
	for _, p := range []string{"/dlnk/passwd", "/../etc/passwd", "dlnk/../dlnk/passwd", "/dlnk/./passwd"} {
		var b bytes.Buffer
		if err := cfs.WriteTar(&b, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got := tarOf(t, b.Bytes())
		var content string
		for _, c := range got {
			content += c
		}
		if content != "container\n" {
			t.Errorf("%s: archive %v, want the container's passwd", p, got)
		}
	}
	// The link itself is archived as a link, not followed.
	var b bytes.Buffer
	must(t, cfs.WriteTar(&b, "/lnk"))
	if got := tarOf(t, b.Bytes()); got["lnk"] != "-> /etc/passwd" {
		t.Errorf("/lnk: %v, want the symlink itself", got)
	}
	// Stat says where the link leads, inside the container.
	st, err := cfs.Stat("/lnk")
	must(t, err)
	if st.LinkTarget != "/etc/passwd" || st.Mode&fs.ModeSymlink == 0 || st.Name != "lnk" {
		t.Errorf("stat /lnk: %+v", st)
	}
	st, err = cfs.Stat("/dlnk/")
	must(t, err)
	if !st.Mode.IsDir() {
		t.Errorf("stat /dlnk/: %+v, want the directory it leads to", st)
	}
	// A path through the absolute link to the host's directory does not
	// exist in the container: not found, and not the host's file.
	if _, err := cfs.Stat("/hostlink/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat through a link to %s: %v, want not found", host, err)
	}
}

func tarBytes(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Uid, h.Gid = os.Getuid(), os.Getgid()
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname))
			content := h.Linkname
			h.Linkname = ""
			must(t, tw.WriteHeader(h))
			tw.Write([]byte(content))
			continue
		}
		must(t, tw.WriteHeader(h))
	}
	must(t, tw.Close())
	return b.Bytes()
}

// reg is a regular file entry; its content rides in Linkname until tarBytes.
func reg(name, content string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Linkname: content}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestExtractStaysInTheRoot: a destination with "..", a destination that
// is a symlink to a host path, and an archive that plants a symlink and
// then writes through it all stay inside the container's root.
func TestExtractStaysInTheRoot(t *testing.T) {
	cfs, root, host := fakeRoot(t)
	before := listDir(t, host+"/etc")

	// ".." in the destination is clamped at the root: /tmp.
	must(t, cfs.Extract(bytes.NewReader(tarBytes(t, reg("a", "1"))), "/../../../tmp", ExtractOpts{}, nil))
	if b, err := os.ReadFile(root + "/tmp/a"); err != nil || string(b) != "1" {
		t.Errorf("/../../../tmp/a: %q %v", b, err)
	}
	// Through the container's symlink to etc: the container's etc.
	must(t, cfs.Extract(bytes.NewReader(tarBytes(t, reg("x", "2"))), "/dlnk", ExtractOpts{}, nil))
	if _, err := os.Stat(root + "/etc/x"); err != nil {
		t.Errorf("/dlnk/x did not land in the container's /etc: %v", err)
	}
	// An archive that makes a symlink to the host directory and writes
	// through it: the link means root+host inside, which does not exist.
	evil := tarBytes(t,
		&tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: host + "/etc"},
		reg("esc/owned", "pwned"),
	)
	err := cfs.Extract(bytes.NewReader(evil), "/tmp", ExtractOpts{}, nil)
	if err == nil {
		t.Errorf("write through a planted symlink succeeded")
	}
	// Its first entry was undone with it.
	if _, err := os.Lstat(root + "/tmp/esc"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed archive left /tmp/esc: %v", err)
	}
	// A relative one that climbs out: stops at the root, lands in its /etc.
	climb := tarBytes(t,
		&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../etc"},
		reg("up/climbed", "3"),
	)
	must(t, cfs.Extract(bytes.NewReader(climb), "/tmp", ExtractOpts{}, nil))
	if _, err := os.Stat(root + "/etc/climbed"); err != nil {
		t.Errorf("up/climbed: %v, want it in the container's /etc", err)
	}
	// Names with ".." that climb out of the destination are refused.
	for _, name := range []string{"../../etc/evil", "a/../../evil"} {
		err := cfs.Extract(bytes.NewReader(tarBytes(t, reg(name, "x"))), "/tmp", ExtractOpts{}, nil)
		if !errors.Is(err, ErrBreakout) {
			t.Errorf("entry %q: %v, want ErrBreakout", name, err)
		}
	}
	// A hard link to a host file by a climbing name is refused too.
	hl := tarBytes(t, &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../etc/passwd"})
	if err := cfs.Extract(bytes.NewReader(hl), "/tmp", ExtractOpts{}, nil); !errors.Is(err, ErrBreakout) {
		t.Errorf("hard link out: %v, want ErrBreakout", err)
	}
	if after := listDir(t, host+"/etc"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the host directory changed: %v → %v", before, after)
	}
	if b, _ := os.ReadFile(host + "/etc/passwd"); string(b) != "host\n" {
		t.Fatalf("the host's passwd changed: %q", b)
	}
}

// TestExtractNoOverwriteDirNonDir: docker cp's flag refuses to put a file
// where a directory is (and the reverse); without it, the file replaces.
func TestExtractNoOverwriteDirNonDir(t *testing.T) {
	cfs, root, _ := fakeRoot(t)
	must(t, os.MkdirAll(root+"/tmp/d/sub", 0o755))
	o := ExtractOpts{NoOverwriteDirNonDir: true}
	if err := cfs.Extract(bytes.NewReader(tarBytes(t, reg("d", "f"))), "/tmp", o, nil); err == nil || !strings.Contains(err.Error(), "cannot overwrite directory") {
		t.Errorf("file over directory: %v", err)
	}
	if err := cfs.Extract(bytes.NewReader(tarBytes(t, &tar.Header{Name: "etc/passwd/", Typeflag: tar.TypeDir, Mode: 0o755})), "/", o, nil); err == nil || !strings.Contains(err.Error(), "cannot overwrite non-directory") {
		t.Errorf("directory over file: %v", err)
	}
	must(t, cfs.Extract(bytes.NewReader(tarBytes(t, reg("d", "f"))), "/tmp", ExtractOpts{}, nil))
	if b, err := os.ReadFile(root + "/tmp/d"); err != nil || string(b) != "f" {
		t.Errorf("without the flag the file replaces the directory: %q %v", b, err)
	}
	// The destination must be a directory.
	if err := cfs.Extract(bytes.NewReader(tarBytes(t, reg("z", "z"))), "/etc/passwd", o, nil); !errors.Is(err, ErrNotDir) {
		t.Errorf("extract into a file: %v, want ErrNotDir", err)
	}
	if err := cfs.Extract(bytes.NewReader(tarBytes(t, reg("z", "z"))), "/nope", o, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("extract into a missing dir: %v, want not found", err)
	}
}

// TestHostExtractRefusesLinksOut: copying out of a container onto the host
// resolves beneath the destination: an archive (the container's files)
// that plants a symlink to a host path and writes through it is refused.
func TestHostExtractRefusesLinksOut(t *testing.T) {
	dst, host := t.TempDir(), t.TempDir()
	fd, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(fd)
	x := &extractor{root: fd, dest: ".", o: extractOpts{resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}}
	evil := tarBytes(t,
		&tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: host},
		reg("esc/owned", "pwned"),
	)
	if err := x.extract(bytes.NewReader(evil)); !errors.Is(err, ErrBreakout) {
		t.Errorf("write through a link out of the destination: %v, want ErrBreakout", err)
	}
	if got := listDir(t, host); len(got) != 0 {
		t.Errorf("the host directory got %v", got)
	}
}

// TestPlaceCopy: the docker CLI's rules for where a copy lands.
func TestPlaceCopy(t *testing.T) {
	for _, c := range []struct {
		src      string
		srcDir   bool
		dst      string
		d        dstInfo
		wantDir  string
		wantName string // what entry src/x becomes; "" for an error
	}{
		{"f", false, "/tmp", dstInfo{true, true}, "/tmp", "f/x"},
		{"f", false, "/tmp/g", dstInfo{}, "/tmp/", "g/x"},
		{"f", false, "/tmp/g", dstInfo{true, false}, "/tmp/", "g/x"},
		{"d", true, "/tmp/g", dstInfo{true, false}, "", ""},
		{"f", false, "/tmp/g/", dstInfo{}, "", ""},
		{"d", true, "/tmp/new", dstInfo{}, "/tmp/", "new/x"},
		{".", true, "out", dstInfo{}, ".", "out/x"},
	} {
		dir, rename, err := placeCopy(c.src, c.srcDir, c.dst, c.d)
		if c.wantName == "" {
			if err == nil {
				t.Errorf("%+v: no error", c)
			}
			continue
		}
		if err != nil || dir != c.wantDir {
			t.Errorf("%+v: dir %q err %v", c, dir, err)
			continue
		}
		name := c.src + "/x"
		if rename != nil {
			name = rename(name)
		}
		if name != c.wantName {
			t.Errorf("%+v: entry %q, want %q", c, name, c.wantName)
		}
	}
}

// TestStoppedContainerVolumes: a stopped container's path inside one of
// its volumes is the volume's own directory (the rootfs has only the
// empty mount point), and a symlink in the volume stays in the volume.
func TestStoppedContainerVolumes(t *testing.T) {
	cfs, root, host := fakeRoot(t)
	vol := filepath.Join(host, "vol")
	must(t, os.MkdirAll(vol, 0o755))
	must(t, os.MkdirAll(root+"/data", 0o755))
	must(t, os.WriteFile(vol+"/inside", []byte("volume\n"), 0o644))
	must(t, os.Symlink(host+"/etc", vol+"/esc"))
	cfs.Meta.Mounts = []MountPoint{{Type: "volume", Name: "v", Source: vol, Destination: "/data/", RW: true}}
	before := listDir(t, host+"/etc")

	st, err := cfs.Stat("/data/inside")
	if err != nil || st.Size != int64(len("volume\n")) {
		t.Fatalf("stat /data/inside: %+v %v", st, err)
	}
	if st, err := cfs.Stat("/data"); err != nil || st.Name != "data" || !st.Mode.IsDir() {
		t.Fatalf("stat /data: %+v %v", st, err)
	}
	var b bytes.Buffer
	must(t, cfs.WriteTar(&b, "/data"))
	if got := tarOf(t, b.Bytes()); got["data/inside"] != "volume\n" {
		t.Fatalf("archive of /data: %v", got)
	}
	must(t, cfs.Extract(bytes.NewReader(tarBytes(t, reg("new", "n"))), "/data", ExtractOpts{}, nil))
	if _, err := os.Stat(vol + "/new"); err != nil {
		t.Fatalf("extract into /data did not land in the volume: %v", err)
	}
	if _, err := os.Stat(root + "/data/new"); err == nil {
		t.Fatal("extract into /data landed under the rootfs' mount point")
	}
	// Through the volume's symlink to the host's etc: not there.
	if err := cfs.Extract(bytes.NewReader(tarBytes(t, reg("x", "x"))), "/data/esc", ExtractOpts{}, nil); err == nil {
		t.Error("extract through the volume's link to a host path succeeded")
	}
	if after := listDir(t, host+"/etc"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the host directory changed: %v → %v", before, after)
	}
}

// TestExtractRefusesReadOnly: a stopped container's :ro bind is its host
// Source opened directly, and its rootfs is mounted read-write for the
// copy: Extract itself must refuse a destination in a read-only mount
// (ErrVolumeReadonly), or in the rootfs of a --read-only container
// (ErrRootFSReadOnly), and leave both untouched; a read-write volume of
// that container still takes the copy.
func TestExtractRefusesReadOnly(t *testing.T) {
	cfs, root, host := fakeRoot(t)
	ro, rw := filepath.Join(host, "robind"), filepath.Join(host, "rwvol")
	must(t, os.MkdirAll(ro, 0o755))
	must(t, os.MkdirAll(rw, 0o755))
	cfs.Meta.Mounts = []MountPoint{
		{Type: "bind", Source: ro, Destination: "/hostetc", RW: false},
		{Type: "volume", Name: "v", Source: rw, Destination: "/data", RW: true},
	}
	for _, dst := range []string{"/hostetc", "/hostetc/", "/hostetc/.", "/tmp/../hostetc"} {
		err := cfs.Extract(bytes.NewReader(tarBytes(t, reg("x", "x"))), dst, ExtractOpts{}, nil)
		if !errors.Is(err, ErrVolumeReadonly) {
			t.Errorf("extract into the :ro bind at %s: %v, want ErrVolumeReadonly", dst, err)
		}
	}
	if got := listDir(t, ro); len(got) != 0 {
		t.Fatalf("the :ro bind's source got %v", got)
	}
	cfs.readonlyRoot = true
	if err := cfs.Extract(bytes.NewReader(tarBytes(t, reg("y", "y"))), "/tmp", ExtractOpts{}, nil); !errors.Is(err, ErrRootFSReadOnly) {
		t.Errorf("extract into a read-only rootfs: %v, want ErrRootFSReadOnly", err)
	}
	if _, err := os.Lstat(root + "/tmp/y"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the read-only rootfs got /tmp/y: %v", err)
	}
	must(t, cfs.Extract(bytes.NewReader(tarBytes(t, reg("z", "z"))), "/data", ExtractOpts{}, nil))
	if _, err := os.Stat(rw + "/z"); err != nil {
		t.Errorf("extract into a read-write volume of a --read-only container: %v", err)
	}
}

// TestCopyUIDGIDReadsPasswdSafely: cp -a reads the container's
// /etc/passwd through the root's descriptor and as a regular file only: a
// FIFO planted there does not block the copy (the open used to wait for a
// writer forever), and a link out of the root reads the container's
// (missing) file, not the host's.
func TestCopyUIDGIDReadsPasswdSafely(t *testing.T) {
	cfs, root, host := fakeRoot(t)
	cfs.Meta.Config.User = "alice"
	must(t, os.WriteFile(host+"/etc/passwd", []byte("alice:x:4242:4242::/:/bin/sh\n"), 0o644))
	must(t, os.Remove(root+"/etc/passwd"))
	must(t, unix.Mkfifo(root+"/etc/passwd", 0o644))
	// Whatever happens, let a blocked reader go at the end.
	t.Cleanup(func() {
		if f, err := os.OpenFile(root+"/etc/passwd", os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	done := make(chan error, 1)
	go func() { _, err := cfs.ownerIn(true); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unable to find user alice") {
			t.Errorf("passwd is a FIFO: %v, want user not found", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("reading a FIFO at /etc/passwd blocked the copy")
	}
	// An absolute link to the host's passwd: resolved inside the root,
	// where it does not exist.
	must(t, os.Remove(root+"/etc/passwd"))
	must(t, os.Symlink(host+"/etc/passwd", root+"/etc/passwd"))
	if own, err := cfs.ownerIn(true); err == nil {
		u, g := own(0, 0)
		t.Errorf("passwd links to the host's: user alice found as %d:%d", u, g)
	}
	// The container's own regular file is read.
	must(t, os.Remove(root+"/etc/passwd"))
	must(t, os.WriteFile(root+"/etc/passwd", []byte("alice:x:7:8::/:/bin/sh\n"), 0o644))
	own, err := cfs.ownerIn(true)
	must(t, err)
	if u, g := own(0, 0); u != 7 || g != 8 {
		t.Errorf("owner %d:%d, want 7:8", u, g)
	}
}

// TestPipedJoinsTheWriter: CopyFrom and CopyTo close the container's root
// when the copy returns; the tar writer must have returned by then, even
// when the reader stopped early (an extraction error).
func TestPipedJoinsTheWriter(t *testing.T) {
	var finished atomic.Bool
	err := piped(func(w io.Writer) error {
		_, err := w.Write([]byte("x")) // fails once the reader has gone
		time.Sleep(200 * time.Millisecond)
		finished.Store(true)
		return err
	}, func(r io.Reader) error { return errors.New("extract failed") })
	if err == nil || err.Error() != "extract failed" {
		t.Errorf("piped: %v, want the reader's error", err)
	}
	if !finished.Load() {
		t.Error("piped returned while the writer still ran")
	}
}
