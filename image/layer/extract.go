package layer

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// copyBufSize is the buffer used to copy file contents: large enough that a
// big file costs few read/write pairs, small enough to stay in cache.
const copyBufSize = 256 << 10

// extract applies the layer tar read from r to dir, which must exist, and
// returns the number of bytes of file content it wrote; when rec is not
// nil it also records the archive (see ExtractRecorded, its one exported
// door). There is no plain exported Extract: extraction makes device nodes
// and whiteouts (mknod), so it is reached only from the
// images-layer-extract step's Do (explain's spine test checks that; the
// tests use the Extract of export_test.go).
//
// It keeps what an image layer carries: regular files, directories,
// symlinks, hard links, device nodes and fifos, modes (with setuid, setgid
// and sticky bits), modification times, extended attributes (PAX
// "SCHILY.xattr." records) and, when running as root, owners. Like tar(1)
// run by an ordinary user (--no-same-owner), a non-root caller keeps its own
// uid and gid on the files.
//
// Whiteouts become overlayfs whiteouts (see the package comment).
//
// Every name is checked before anything is written, and every parent
// directory is resolved by the kernel beneath dir (openat2(2)
// RESOLVE_BENEATH), so an entry that would land outside dir fails with an
// error wrapping ErrBreakout. Entries before the bad one stay extracted: the
// caller extracts into a scratch directory and removes it on error.
//
// The archive is streamed: only one entry is in flight, and file contents go
// from r to disk through a fixed buffer.
//
// NOTE: the guarantee assumes nobody else changes dir while Extract runs
// (minirun extracts into a fresh private directory). With a concurrent
// attacker, the final chmod of a directory (done at the end, see
// finishDirs) is the one step that re-opens a name.
func extract(r io.Reader, dir string, rec *recorder) (size int64, err error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open layer dir %s: %w", dir, err)
	}
	defer unix.Close(root)

	x := &extractor{
		root:     root,
		owners:   os.Geteuid() == 0,
		buf:      make([]byte, copyBufSize),
		parentFD: -1,
	}
	defer x.dropParent()
	// tar.Reader reads each 512-byte header on its own; a buffer turns
	// those into a few large reads (GNU tar reads 10 KiB records). Large
	// file contents bypass it: bufio hands big reads straight through.
	var src io.Reader = bufio.NewReaderSize(r, 64<<10)
	if rec != nil {
		// The recorder sits between the buffer and tar.Reader, which
		// reads exactly the bytes of each header and content, no more:
		// what it sees, in order, is the archive.
		rec.r = src
		src = rec
	}
	x.rec = rec
	tr := tar.NewReader(src)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.size, fmt.Errorf("read layer tar: %w", err)
		}
		if err := x.extractEntry(hdr, tr); err != nil {
			return x.size, fmt.Errorf("extract %q: %w", hdr.Name, err)
		}
	}
	if err := x.finishDirs(); err != nil {
		return x.size, err
	}
	if rec != nil {
		// The zero blocks that end the archive, and any padding after
		// them, belong to the tar too: its diff ID covers them.
		if _, err := io.Copy(io.Discard, rec); err != nil {
			return x.size, fmt.Errorf("read layer tar: %w", err)
		}
		if err := rec.flush(); err != nil {
			return x.size, err
		}
	}
	return x.size, nil
}

// extractor holds the state of one Extract call.
type extractor struct {
	root   int  // O_PATH descriptor of the target directory
	owners bool // apply uid/gid from the archive (only root may)
	buf    []byte
	size   int64
	rec    *recorder // nil unless ExtractRecorded
	// parentFD is the open parent directory of the previous entry, named
	// parentRel. Archives list a directory's files one after another, so
	// reusing it saves an openat2 and a close per entry. It cannot go
	// stale: an entry that replaced this directory (or one above it)
	// would have had a different parent, and replaced the cache.
	parentRel string
	parentFD  int
	// dirs are the directories whose mode and times are applied at the
	// end: creating entries inside a directory changes its mtime, and a
	// read-only mode would stop a non-root extraction from filling it.
	// GNU tar delays them for the same two reasons.
	dirs []dirMeta
}

type dirMeta struct {
	rel   string
	mode  uint32
	atime time.Time
	mtime time.Time
}

// extractEntry applies one tar header (and its content, read from tr).
func (x *extractor) extractEntry(hdr *tar.Header, tr io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	parentRel, base := split(rel)

	// Whiteouts are recognised by name, whatever their tar type.
	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.extractWhiteout(hdr, parentRel, base)
	}

	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // archive-wide PAX defaults; nothing to create
	case tar.TypeDir, tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse,
		tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if rel == "" && hdr.Typeflag != tar.TypeDir {
		return fmt.Errorf("%w: the root can only be a directory", ErrBreakout)
	}

	parent, err := x.parent(parentRel)
	if err != nil {
		return err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(hdr, parent, base, rel)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return x.file(hdr, tr, parent, base, rel)
	case tar.TypeSymlink:
		err := create(parent, base, func() error { return unix.Symlinkat(hdr.Linkname, parent, base) })
		if err != nil {
			return fmt.Errorf("symlink -> %q: %w", hdr.Linkname, err)
		}
		return x.meta(hdr, parent, base, false)
	case tar.TypeLink:
		return x.hardlink(hdr, parent, base)
	default: // char, block, fifo
		return x.node(hdr, parent, base)
	}
}

// parent returns a descriptor of the directory rel (see parentDir), from
// the one-entry cache when the previous entry had the same parent. The
// extractor owns it: callers must not close it.
func (x *extractor) parent(rel string) (int, error) {
	if x.parentFD >= 0 && x.parentRel == rel {
		return x.parentFD, nil
	}
	x.dropParent()
	fd, err := x.parentDir(rel)
	if err != nil {
		return -1, err
	}
	x.parentRel, x.parentFD = rel, fd
	return fd, nil
}

func (x *extractor) dropParent() {
	if x.parentFD >= 0 {
		unix.Close(x.parentFD)
		x.parentFD = -1
	}
}

// create runs mk, which makes a new entry at base in parent and fails with
// EEXIST if the name is taken. When it is, whatever sits there (an earlier
// entry, a planted symlink or hard link) is removed, not written through,
// and mk runs again. Trying first and clearing only on EEXIST, as GNU tar
// does, costs no extra syscall in the common case of a fresh name.
func create(parent int, base string, mk func() error) error {
	err := mk()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if err := clearName(parent, base, false); err != nil {
		return err
	}
	return mk()
}

// parentDir opens (creating if missing, mode 0755) the directory rel
// beneath the root. Archives made with "tar -cf x.tar a/b/c" carry no
// entries for a and a/b; tar(1) creates them, so do we.
func (x *extractor) parentDir(rel string) (int, error) {
	fd, err := openBeneath(x.root, rel)
	if !errors.Is(err, unix.ENOENT) || rel == "" {
		return fd, err
	}
	up, base := split(rel)
	pfd, err := x.parentDir(up)
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	unix.Close(pfd)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create parent %q: %w", rel, err)
	}
	return openBeneath(x.root, rel)
}

// clearName removes what exists at base in parent, unless it is a
// directory and keepDir is set. Nothing is followed: fstatat and unlinkat
// act on the name itself.
func clearName(parent int, base string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat existing %q: %w", base, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return nil
		}
		return removeAllAt(parent, base)
	}
	if err := unix.Unlinkat(parent, base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove existing %q: %w", base, err)
	}
	return nil
}

// removeAllAt removes the directory name in parent and everything below
// it, descending with O_NOFOLLOW so that a symlink inside is removed, not
// followed (os.RemoveAll does the same, but from a path string).
func removeAllAt(parent int, name string) error {
	err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("remove directory %q: %w", name, err)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory %q: %w", name, err)
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	for {
		names, err := d.Readdirnames(256)
		for _, n := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("stat %q: %w", n, err)
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = removeAllAt(fd, n)
			} else {
				err = unix.Unlinkat(fd, n, 0)
			}
			if err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %q: %w", n, err)
			}
		}
		if err == io.EOF || len(names) == 0 {
			break
		}
		if err != nil {
			return fmt.Errorf("read directory %q: %w", name, err)
		}
	}
	if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove directory %q: %w", name, err)
	}
	return nil
}

// dir creates (or keeps) a directory. Its owner and xattrs are set now; its
// mode and times at the end (finishDirs).
func (x *extractor) dir(hdr *tar.Header, parent int, base, rel string) error {
	err := unix.Mkdirat(parent, base, 0o755)
	if errors.Is(err, unix.EEXIST) {
		// A directory already there is kept: tar merges a directory
		// declared twice. Anything else at the name is replaced.
		if err = clearName(parent, base, true); err == nil {
			err = unix.Mkdirat(parent, base, 0o755)
		}
		if errors.Is(err, unix.EEXIST) {
			err = nil // it was a directory, kept by clearName
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	if err := x.owner(hdr, parent, base); err != nil {
		return err
	}
	if err := setXattrs(hdr, parent, base); err != nil {
		return err
	}
	x.dirs = append(x.dirs, dirMeta{rel, uint32(hdr.Mode) & 0o7777, hdr.AccessTime, hdr.ModTime})
	return nil
}

// file creates a regular file and streams its content.
func (x *extractor) file(hdr *tar.Header, tr io.Reader, parent int, base, rel string) error {
	// O_EXCL|O_NOFOLLOW: never open what is already at the name (a
	// symlink or a hard link to a file outside); create clears it first.
	fd := -1
	err := create(parent, base, func() (err error) {
		fd, err = unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	f := os.NewFile(uintptr(fd), base)
	if err := x.rec.beginFile(hdr); err != nil {
		f.Close()
		return err
	}
	// Hide *os.File's ReadFrom behind a plain Writer: with it, io.CopyBuffer
	// would ignore our buffer and allocate its own for each file.
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, tr, x.buf)
	x.size += n
	if err != nil {
		f.Close()
		return fmt.Errorf("write file: %w", err)
	}
	if err := x.rec.endFile(rel); err != nil {
		f.Close()
		return err
	}
	// Order matters: chown clears the setuid/setgid bits and the
	// security.capability xattr (see chown(2), capabilities(7)), so the
	// mode and the xattrs go after it.
	if x.owners {
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			f.Close()
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		f.Close()
		return fmt.Errorf("chmod: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close file: %w", err)
	}
	if err := setXattrs(hdr, parent, base); err != nil {
		return err
	}
	return setTimes(hdr, parent, base)
}

// hardlink links base to an earlier entry of the archive. The target name
// obeys the same rules as entry names, and its parent is resolved beneath
// the root, so the new name can only point at an inode inside the layer.
func (x *extractor) hardlink(hdr *tar.Header, parent int, base string) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if target == "" {
		return fmt.Errorf("hard link to the root directory")
	}
	tparentRel, tbase := split(target)
	tparent, err := openBeneath(x.root, tparentRel)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tparent)
	// Flags 0: if the target is a symlink, link the symlink itself (do not
	// follow it), as tar does.
	err = create(parent, base, func() error { return unix.Linkat(tparent, tbase, parent, base, 0) })
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// node creates a character device, block device or fifo with mknod(2).
// Devices need CAP_MKNOD: an unprivileged extraction fails here.
func (x *extractor) node(hdr *tar.Header, parent int, base string) error {
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := create(parent, base, func() error { return unix.Mknodat(parent, base, mode, dev) }); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return x.meta(hdr, parent, base, true)
}

// meta applies owner, mode (when chmod is set: never on symlinks, whose
// mode Linux ignores), xattrs and times to a freshly created entry.
func (x *extractor) meta(hdr *tar.Header, parent int, base string, chmod bool) error {
	if err := x.owner(hdr, parent, base); err != nil {
		return err
	}
	if chmod {
		// mknod's mode went through the umask; set the exact bits. The
		// entry was created a moment ago by us, so following the name
		// here reaches that same node.
		if err := unix.Fchmodat(parent, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := setXattrs(hdr, parent, base); err != nil {
		return err
	}
	return setTimes(hdr, parent, base)
}

// owner applies the archive's uid and gid without following a symlink.
func (x *extractor) owner(hdr *tar.Header, parent int, base string) error {
	if !x.owners {
		return nil
	}
	if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
	}
	return nil
}

// setTimes sets the access and modification times, on the name itself.
func setTimes(hdr *tar.Header, parent int, base string) error {
	return utimes(parent, base, hdr.AccessTime, hdr.ModTime)
}

func utimes(parent int, base string, atime, mtime time.Time) error {
	if atime.IsZero() {
		atime = mtime
	}
	// Seconds and nanoseconds separately: UnixNano overflows outside the
	// years 1678-2262, and a tar may carry any date.
	ts := []unix.Timespec{
		{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())},
		{Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())},
	}
	if err := unix.UtimesNanoAt(parent, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// finishDirs applies the delayed modes and times of directories, now that
// nothing more will be created inside them.
func (x *extractor) finishDirs() error {
	for _, d := range x.dirs {
		if err := x.finishDir(d); err != nil {
			return fmt.Errorf("finish directory %q: %w", d.rel, err)
		}
	}
	return nil
}

func (x *extractor) finishDir(d dirMeta) error {
	parentRel, base := split(d.rel)
	parent, err := openBeneath(x.root, parentRel)
	if errors.Is(err, unix.ENOENT) {
		return nil // removed by a later entry
	}
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	// O_NOFOLLOW|O_DIRECTORY: if a later entry replaced the directory by a
	// symlink, this fails instead of chmod-ing whatever the link points at
	// (containerd CVE-2021-32760 was this very chmod through a symlink).
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil // no longer a directory: a later entry replaced it
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err = unix.Fchmod(fd, d.mode)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return utimes(parent, base, d.atime, d.mtime)
}
