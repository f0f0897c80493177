package container

// Paths inside a container's root, resolved by the kernel so that they
// cannot leave it: the ground `docker cp` (archive.go) stands on.
//
// NOTE: issue #13 item 1, and CVE-2018-15664 (docker cp's symlink-exchange
// race): a path that is checked inside the root and then opened by name
// again can be swapped for a symlink in between by the container, which
// owns those files, and the host process then follows it onto the host.
// So nothing here opens a container path by name from the host's "/":
// every lookup is openat2(2) from a descriptor of the container's root
// with RESOLVE_IN_ROOT, which makes the kernel treat that descriptor as
// "/" for the whole walk (an absolute symlink, or ".." at the top, lands
// on the container's root, never above it), and every entry is then
// created, changed or removed with a *at call on the descriptor of its
// parent directory, without following its last component.

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBreakout is returned (wrapped) for a tar entry whose name, or whose
// hard link's target, climbs out of the directory it is extracted into
// ("../x"): refused, as Docker's untar refuses it (pkg/archive
// breakoutError).
var ErrBreakout = errors.New("path escapes the extraction directory")

// ErrNotDir is returned when the directory an archive is extracted into is
// something else (dockerd: "extraction point is not a directory").
var ErrNotDir = errors.New("extraction point is not a directory")

// cleanInRoot turns a path given inside the container (absolute or not,
// with ".." or not) into the relative path openat2 takes from the root's
// descriptor: "/../../etc" becomes "etc", "/" becomes ".". Climbing above
// the root lexically is clamped at the root, as filepath.Join("/", p)
// does in dockerd (container.ResolvePath); the kernel does the same for
// what symlinks say.
func cleanInRoot(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// openInRoot opens rel (cleanInRoot's form) below the directory root with
// openat2(2) RESOLVE_IN_ROOT: ".." and absolute symlinks stop at root.
// RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd-style links, which would
// jump to whatever file they name, wherever it is (a container's /proc is
// its own, but the rule keeps the walk inside what the kernel can check).
// Mount points are crossed: a container's volumes are part of its tree.
// The last component is followed when it is a symlink, unless flags has
// O_NOFOLLOW.
func openInRoot(root int, rel string, flags int) (int, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(root, rel, how)
		// EAGAIN: a rename elsewhere raced with a ".." lookup; openat2(2)
		// asks callers to retry.
		if errors.Is(err, unix.EAGAIN) && tries < 16 {
			continue
		}
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS):
			return -1, fmt.Errorf("openat2 %q: needs Linux 5.6 or newer: %w", rel, err)
		}
		return -1, &fs.PathError{Op: "openat2", Path: "/" + strings.TrimPrefix(rel, "."), Err: err}
	}
}

// target is one path of a container, resolved: the entry base in the
// directory open as dir (O_PATH). base is "." when the path asked for its
// last symlink to be followed (a trailing "/" or "/.", Docker's rule) or
// is the root: dir is then the entry itself.
type target struct {
	dir  int
	base string
	// name is what Docker calls the entry: the last element of the path
	// as given ("." for "dir/.", "/" for the root).
	name string
}

func (t *target) close() { unix.Close(t.dir) }

// resolve finds p below root the way dockerd's ResolvePath does: the
// parent directories are resolved (symlinks followed, inside the root),
// the last element is not, unless p ends in "/" or "/.".
func resolve(root int, p string) (*target, error) {
	abs := "/" + strings.TrimLeft(p, "/")
	name := path.Base(abs)
	rel := cleanInRoot(abs)
	follow := strings.HasSuffix(abs, "/") || strings.HasSuffix(abs, "/.") || rel == "."
	if follow {
		fd, err := openInRoot(root, rel, unix.O_PATH)
		if err != nil {
			return nil, err
		}
		return &target{dir: fd, base: ".", name: name}, nil
	}
	parent, base := path.Split(rel)
	fd, err := openInRoot(root, cleanInRoot(parent), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &target{dir: fd, base: base, name: name}, nil
}

// lstat is fstatat(2) of the target without following it.
func (t *target) lstat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(t.dir, t.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		err = &fs.PathError{Op: "lstat", Path: t.name, Err: err}
	}
	return st, err
}

// fileMode turns a stat(2) mode into Go's os.FileMode (what Docker's
// PathStat carries).
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// statTime is a stat(2) time as a time.Time.
func statTime(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

// extractOpts say how extract treats an archive.
type extractOpts struct {
	// resolve are the openat2 RESOLVE_ flags entries' parents are looked
	// up with: RESOLVE_IN_ROOT in a container (its symlinks mean what
	// they mean inside it), RESOLVE_BENEATH on the host (a symlink that
	// leaves the destination, absolute or not, is refused).
	resolve uint64
	// noOverwriteDirNonDir refuses to replace a directory with a file or
	// a file with a directory (docker cp's default).
	noOverwriteDirNonDir bool
	// owner, when set, decides every entry's uid and gid from the tar's
	// (the container's user for -a, a --userns-remap shift); nil leaves
	// files to the caller, as tar(1) run by an ordinary user does.
	owner func(uid, gid int) (int, int)
	// rename, when set, renames each entry (docker cp's rebase: the
	// archive of /a/b lands as c).
	rename func(name string) string
}

// extractor applies an archive below the directory dest of the tree open
// as root. What it created is recorded, so a failure (or the step's undo)
// removes it again.
type extractor struct {
	root    int
	dest    string // cleanInRoot form
	o       extractOpts
	buf     []byte
	created []string // root-relative, in creation order
	dirs    []dirTime
}

type dirTime struct {
	rel   string
	mtime time.Time
}

// extract reads the tar r into dest below root. On error, what this call
// created is removed (what it replaced is gone: docker cp does not keep
// a copy either), so a refused archive leaves nothing of itself.
func (x *extractor) extract(r io.Reader) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, x.removeCreated())
		}
	}()
	fd, err := openInRoot(x.root, x.dest, unix.O_PATH)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("stat %s: %w", x.dest, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%w: %s", ErrNotDir, "/"+strings.TrimPrefix(x.dest, "."))
	}
	x.buf = make([]byte, 128<<10)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Directories' times last: creating their entries changed them.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		parent, base := path.Split(d.rel)
		pfd, err := x.open(cleanInRoot(parent))
		if err != nil {
			return err
		}
		err = setTimes(pfd, base, d.mtime)
		unix.Close(pfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// entryName cleans a tar entry's name into a path below dest, or refuses
// it: "/a" and "./a" are "a", "a/../b" is "b", "../a" climbs out.
func entryName(name string) (string, error) {
	c := path.Clean(strings.TrimLeft(name, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q", ErrBreakout, name)
	}
	return c, nil
}

// open opens the directory rel (root-relative) with the extractor's
// resolution flags, O_PATH.
func (x *extractor) open(rel string) (int, error) {
	if x.o.resolve&unix.RESOLVE_IN_ROOT != 0 {
		return openInRoot(x.root, rel, unix.O_PATH|unix.O_DIRECTORY)
	}
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: x.o.resolve}
	fd, err := unix.Openat2(x.root, rel, how)
	if errors.Is(err, unix.EXDEV) {
		return -1, fmt.Errorf("%w: %s leaves it (openat2: %v)", ErrBreakout, rel, err)
	}
	if err != nil {
		return -1, &fs.PathError{Op: "openat2", Path: rel, Err: err}
	}
	return fd, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeXHeader:
		return nil
	}
	name := hdr.Name
	if x.o.rename != nil {
		name = x.o.rename(name)
	}
	c, err := entryName(name)
	if err != nil {
		return err
	}
	if c == "." {
		return nil // the destination itself: it exists, and stays as it is
	}
	rel := path.Join(x.dest, c)
	parentRel, base := path.Split(rel)
	pfd, err := x.open(cleanInRoot(parentRel))
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	defer unix.Close(pfd)

	var st unix.Stat_t
	exists := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := hdr.Typeflag == tar.TypeDir
	if exists {
		oldDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case x.o.noOverwriteDirNonDir && oldDir && !isDir:
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", "/"+rel, c)
		case x.o.noOverwriteDirNonDir && !oldDir && isDir:
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q", "/"+rel, c)
		case oldDir && isDir:
			return x.meta(hdr, pfd, base, rel) // merged into: its mode and owner change
		}
		if err := removeAllAt(pfd, base); err != nil {
			return fmt.Errorf("replace %s: %w", c, err)
		}
	}
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = unix.Mkdirat(pfd, base, 0o700)
	case tar.TypeReg, tar.TypeRegA:
		err = x.file(hdr, r, pfd, base)
	case tar.TypeSymlink:
		err = unix.Symlinkat(hdr.Linkname, pfd, base)
	case tar.TypeLink:
		err = x.hardlink(hdr, pfd, base)
	case tar.TypeChar:
		err = unix.Mknodat(pfd, base, unix.S_IFCHR|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeBlock:
		err = unix.Mknodat(pfd, base, unix.S_IFBLK|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeFifo:
		err = unix.Mknodat(pfd, base, unix.S_IFIFO|mode, 0)
	default:
		return nil // what tar(1) also skips: nothing to make of it here
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", c, err)
	}
	x.created = append(x.created, rel)
	if hdr.Typeflag == tar.TypeLink {
		return nil // a second name: the inode's owner and mode are its first name's
	}
	return x.meta(hdr, pfd, base, rel)
}

// file writes a regular file's content. O_EXCL|O_NOFOLLOW: the name was
// made free just before; if the container put something there since, the
// open fails instead of writing through it.
func (x *extractor) file(hdr *tar.Header, r io.Reader, pfd int, base string) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, r, x.buf); err != nil {
		return err
	}
	return f.Close()
}

// hardlink makes base a second name of the entry hdr.Linkname names (in
// the same archive, so below dest too). linkat(2) without
// AT_SYMLINK_FOLLOW links a symlink itself, never what it points to.
func (x *extractor) hardlink(hdr *tar.Header, pfd int, base string) error {
	target := hdr.Linkname
	if x.o.rename != nil {
		target = x.o.rename(target)
	}
	c, err := entryName(target)
	if err != nil {
		return err
	}
	tparent, tbase := path.Split(path.Join(x.dest, c))
	tfd, err := x.open(cleanInRoot(tparent))
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	return unix.Linkat(tfd, tbase, pfd, base, 0)
}

// meta sets owner, mode and time of the entry base just made in pfd.
//
// NOTE: chmod(2) and chown(2) follow symlinks, and the container may swap
// the entry for one between its creation and here. So the entry is opened
// with O_PATH|O_NOFOLLOW, checked to be of the type made, and changed
// through that descriptor (chmod of /proc/self/fd/N acts on the inode the
// descriptor holds, not on a name); only a symlink's own owner is set, with
// AT_SYMLINK_NOFOLLOW.
func (x *extractor) meta(hdr *tar.Header, pfd int, base, rel string) error {
	uid, gid, chown := hdr.Uid, hdr.Gid, x.o.owner != nil
	if chown {
		uid, gid = x.o.owner(hdr.Uid, hdr.Gid)
	}
	if hdr.Typeflag == tar.TypeSymlink {
		if chown {
			if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("chown %s: %w", rel, err)
			}
		}
		return setTimes(pfd, base, hdr.ModTime)
	}
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", rel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK || (hdr.Typeflag == tar.TypeDir) != (st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		return fmt.Errorf("%s changed type while it was extracted", rel)
	}
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	if chown {
		// Before chmod: chown(2) clears the setuid and setgid bits.
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("chown %s: %w", rel, err)
		}
	}
	if err := unix.Chmod(self, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod %s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTime{rel: rel, mtime: hdr.ModTime})
		return nil
	}
	return setTimes(pfd, base, hdr.ModTime)
}

// setTimes sets the access and modification times of base in dirfd to t
// without following a symlink (utimensat(2) AT_SYMLINK_NOFOLLOW).
func setTimes(dirfd int, base string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.UtimesNanoAt(dirfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", base, err)
	}
	return nil
}

// removeCreated removes what the extraction made, last first.
func (x *extractor) removeCreated() error {
	var errs []error
	for i := len(x.created) - 1; i >= 0; i-- {
		parent, base := path.Split(x.created[i])
		pfd, err := x.open(cleanInRoot(parent))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeAllAt(pfd, base))
		unix.Close(pfd)
	}
	x.created = nil
	return errors.Join(errs...)
}

// removeAllAt removes name in the directory dirfd, and everything below it
// when it is a directory, without following symlinks, and without going
// into another mount (a volume or bind mounted below is neither emptied
// nor removed: EBUSY).
//
// A directory is opened with openat2(2) RESOLVE_NO_XDEV before anything
// is removed in it: the kernel refuses to cross any mount point, bind
// mounts included. Comparing st_dev, as this did, does not see a bind of
// a directory of the same filesystem (same st_dev). And rmdir(2) answers
// EBUSY for a mount point only in the caller's own mount namespace: seen
// through /proc/<pid>/root, a running container's bind is no mount point
// to it, so a mount point directory with files of its own below the bind
// (ENOTEMPTY) was walked into: replacing a directory through PUT archive
// emptied the host directory bound below it, and an empty one was
// removed, the bind detached with it.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	fd, oerr := unix.Openat2(dirfd, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(oerr, unix.EXDEV):
		return fmt.Errorf("remove %s: %w (a mount point)", name, unix.EBUSY)
	case errors.Is(oerr, unix.ENOENT):
		return nil
	case errors.Is(oerr, unix.ENOTDIR), errors.Is(oerr, unix.ELOOP):
		return fmt.Errorf("remove %s: %w", name, err) // a file unlink refused
	case oerr != nil:
		return fmt.Errorf("open %s: %w", name, oerr)
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			return err
		}
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}
