package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteTar writes the directory dir as a layer tar to w: what `docker
// export` writes for a container's files and what a build step commits
// from a container's upper directory.
//
// The archive is deterministic: entries in lexical order (a directory
// before its contents), times rounded to the second, no user or group
// names, no access or change times; the same tree always gives the same
// bytes, so the same diff ID. The root directory itself is not an entry.
//
// overlayfs's own markers are turned into the image format (the reverse
// of Extract): a character device 0/0 becomes an empty ".wh.NAME" entry,
// and a directory with trusted.overlay.opaque=y (or user.overlay.opaque=y,
// used by unprivileged mounts) gets a ".wh..wh..opq" entry inside it. Other
// trusted.overlay.* attributes are overlayfs's bookkeeping and are left out.
func WriteTar(w io.Writer, dir string) error {
	a := NewArchive(w)
	if err := a.AddTree(dir, TreeOptions{Overlay: true}); err != nil {
		return err
	}
	return a.Close()
}

// Owner is a numeric owner for TreeOptions.
type Owner struct{ UID, GID int }

// TreeOptions change how Archive.AddTree and Archive.AddFile describe
// files.
type TreeOptions struct {
	// Prefix goes before every name in the archive, e.g. "app/".
	Prefix string
	// Owner, when set, replaces every entry's uid and gid (COPY --chown).
	Owner *Owner
	// IDs, when set, maps every entry's uid and gid from the host's to
	// the archive's (a --userns-remap container's files, as its root sees
	// them, for docker cp).
	IDs func(uid, gid int) (int, int)
	// Skip, when set, is asked about every path below the tree's root
	// ("a/b", no leading "./"); true leaves it out, and everything below
	// it when it is a directory (.dockerignore).
	Skip func(rel string, isDir bool) bool
	// Overlay turns overlayfs whiteouts and opaque directories into
	// ".wh." entries (see WriteTar).
	Overlay bool
}

// Archive writes files from disk into a tar stream. It remembers the
// regular files it wrote, so a second name of the same inode becomes a
// hard link entry, as tar(1) does.
type Archive struct {
	tw    *tar.Writer
	links map[fileID]string
	buf   []byte
}

type fileID struct{ dev, ino uint64 }

// NewArchive starts an archive written to w.
func NewArchive(w io.Writer) *Archive {
	return &Archive{tw: tar.NewWriter(w), links: map[fileID]string{}, buf: make([]byte, copyBufSize)}
}

// Close writes the end-of-archive marker.
func (a *Archive) Close() error {
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	return nil
}

// WriteHeader adds an entry that does not come from disk (a directory
// created by COPY, an entry of an archive ADD unpacks), with its content
// read from r when it is a regular file.
func (a *Archive) WriteHeader(hdr *tar.Header, r io.Reader) error {
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar header %q: %w", hdr.Name, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if _, err := io.CopyBuffer(a.tw, io.LimitReader(r, hdr.Size), a.buf); err != nil {
			return fmt.Errorf("write %q: %w", hdr.Name, err)
		}
	}
	return nil
}

// AddTree adds what is inside dir (not dir itself), recursively, named
// o.Prefix + the path below dir.
//
// The walk holds a descriptor of each directory and opens every name in
// it with O_NOFOLLOW, so a symlink in the tree (a container's upper dir
// is written by the container) is archived as a link and never followed
// out of dir.
func (a *Archive) AddTree(dir string, o TreeOptions) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	return a.walk(fd, "", o)
}

// AddFile adds the single entry at path (a file, a symlink, a device; a
// directory without its contents) under the archive name name.
func (a *Archive) AddFile(path, name string, o TreeOptions) error {
	parent, base := splitPath(path)
	fd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", parent, err)
	}
	defer unix.Close(fd)
	o.Prefix = ""
	_, err = a.entry(fd, base, name, o)
	return err
}

func splitPath(p string) (dir, base string) {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		return ".", p
	case i == 0:
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// walk adds the entries of the directory open as fd, whose path below the
// tree's root is rel ("" for the root).
func (a *Archive) walk(fd int, rel string, o TreeOptions) error {
	names, err := readNames(fd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	slices.Sort(names)
	for _, n := range names {
		childRel := n
		if rel != "" {
			childRel = rel + "/" + n
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("stat %q: %w", childRel, err)
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if o.Skip != nil && o.Skip(childRel, isDir) {
			continue
		}
		isDir, err := a.entry(fd, n, o.Prefix+childRel, o)
		if err != nil {
			return err
		}
		if !isDir {
			continue
		}
		cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open directory %q: %w", childRel, err)
		}
		err = a.walk(cfd, childRel, o)
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// readNames lists a directory open as fd, without "." and "..".
func readNames(fd int) ([]string, error) {
	// A duplicate descriptor: os.File's Close would close fd otherwise.
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return f.Readdirnames(-1)
}

// entry writes the header (and content) of the name base in the directory
// parent, archived as name. It reports whether it was a directory to
// descend into.
func (a *Archive) entry(parent int, base, name string, o TreeOptions) (isDir bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, fmt.Errorf("stat %q: %w", name, err)
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec).Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	if o.Owner != nil {
		hdr.Uid, hdr.Gid = o.Owner.UID, o.Owner.GID
	} else if o.IDs != nil {
		hdr.Uid, hdr.Gid = o.IDs(hdr.Uid, hdr.Gid)
	}
	var content *os.File
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name = strings.TrimSuffix(name, "/") + "/"
		isDir = true
	case unix.S_IFREG:
		id := fileID{st.Dev, st.Ino}
		if first, ok := a.links[id]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			break
		}
		a.links[id] = name
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		if afterStat != nil {
			afterStat(name)
		}
		f, err := openRegular(parent, base, &st)
		if err != nil {
			return false, fmt.Errorf("open %q: %w", name, err)
		}
		content = os.NewFile(uintptr(f), name)
		defer content.Close()
	case unix.S_IFLNK:
		target, err := readlinkat(parent, base)
		if err != nil {
			return false, fmt.Errorf("readlink %q: %w", name, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR:
		if o.Overlay && st.Rdev == 0 {
			// An overlayfs whiteout: NAME was deleted in this layer.
			dir, b := splitName(name)
			hdr.Name = dir + whiteoutPrefix + b
			hdr.Typeflag, hdr.Mode = tar.TypeReg, 0o600
			return false, a.writeHeader(hdr, nil)
		}
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return false, nil // a socket: tar has no type for it, and tar(1) skips it too
	}
	opaque, err := a.xattrs(parent, base, hdr, o.Overlay)
	if err != nil {
		return false, fmt.Errorf("%q: %w", name, err)
	}
	if err := a.writeHeader(hdr, content); err != nil {
		return false, err
	}
	if opaque && isDir {
		// The directory hides what the layers below have in it.
		wh := &tar.Header{
			Name: hdr.Name + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o600,
			Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime, Format: tar.FormatPAX,
		}
		if err := a.writeHeader(wh, nil); err != nil {
			return false, err
		}
	}
	return isDir, nil
}

// afterStat, when set (by tests only), runs between the stat of a regular
// file and its open: the window in which a container can swap the file.
var afterStat func(name string)

// errChanged says the entry stat(2) saw is not the one open(2) found.
var errChanged = errors.New("file changed between stat and open")

// openRegular opens the regular file base in parent that st describes,
// for reading. The tree may belong to a running container, which can
// rename a FIFO or a device node over the file between the stat and the
// open: a FIFO would block the open (fifo(7): a read open waits for a
// writer) and the daemon with it, and a device would be read as the host's
// root. So, in order: O_NONBLOCK (a FIFO opens at once), fstat(2) of the
// opened descriptor, which must be a regular file with st's device and
// inode; only then is O_NONBLOCK cleared (fcntl F_SETFL), so reads
// behave as usual.
func openRegular(parent int, base string, st *unix.Stat_t) (int, error) {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if got.Mode&unix.S_IFMT != unix.S_IFREG || got.Dev != st.Dev || got.Ino != st.Ino {
		unix.Close(fd)
		return -1, errChanged
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	return name[:i+1], name[i+1:]
}

func (a *Archive) writeHeader(hdr *tar.Header, content *os.File) error {
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar header %q: %w", hdr.Name, err)
	}
	if content == nil {
		return nil
	}
	// Exactly the size in the header: a file that grew or shrank since the
	// stat would corrupt the archive.
	n, err := io.CopyBuffer(a.tw, io.LimitReader(struct{ io.Reader }{content}, hdr.Size), a.buf)
	if err != nil {
		return fmt.Errorf("write %q: %w", hdr.Name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("write %q: the file shrank from %d to %d bytes while archived", hdr.Name, hdr.Size, n)
	}
	return nil
}

// xattrs copies the entry's extended attributes into PAX records and
// reports whether it carries overlayfs's opaque marker.
func (a *Archive) xattrs(parent int, base string, hdr *tar.Header, overlay bool) (opaque bool, err error) {
	p := procPath(parent, base)
	names, err := listXattrs(p)
	if err != nil {
		return false, err
	}
	for _, n := range names {
		val, err := getXattr(p, n)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("getxattr %s: %w", n, err)
		}
		if strings.HasPrefix(n, "trusted.overlay.") || strings.HasPrefix(n, "user.overlay.") {
			if overlay && (n == OpaqueXattr || n == "user.overlay.opaque") && string(val) == "y" {
				opaque = true
			}
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[xattrPrefix+n] = string(val)
	}
	return opaque, nil
}

func listXattrs(p string) ([]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil || size == 0 {
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("listxattr: %w", err)
	}
	var names []string
	for _, n := range strings.Split(string(buf[:size]), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

func getXattr(p, name string) ([]byte, error) {
	size, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Lgetxattr(p, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:size], nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
