package container

// docker cp, both ways, for the CLI (`minirun cp`) and the daemon (HEAD,
// GET and PUT /containers/{name}/archive):
//
//	OpenFS    the container's root, held as a descriptor: /proc/<pid>/root
//	          of a running container (its overlay, its volumes and binds,
//	          as mounted in its own mount namespace), or a stopped
//	          container's rootfs, mounted for the time of the copy.
//	Stat      what is at a path (dockerd's X-Docker-Container-Path-Stat).
//	WriteTar  a path as a tar (GET).
//	Extract   a tar into a directory (PUT): the one step that writes.
//
// Every path is resolved below the root's descriptor by the kernel
// (inroot.go): "../../etc" and a symlink to /etc are the container's /etc.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image/layer"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// ContainerFS is a container's filesystem opened for copying. Close it.
type ContainerFS struct {
	// Meta is the container's record.
	Meta *Meta
	// Running says the root is the running container's own view
	// (/proc/<pid>/root), with its volumes and binds.
	Running bool

	root     int    // O_PATH descriptor of the container's "/"
	rootPath string // a name of the same directory, for lexical work only
	// readonlyRoot is the spec's root.readonly (--read-only); rootErr,
	// when the spec could not be read, makes Extract refuse (it cannot
	// know whether the root may be written).
	readonlyRoot bool
	rootErr      error
	undo         cleanup.Stack
}

// OpenFS opens the filesystem of the container ref.
//
// A running (or created, or paused) container is reached through
// /proc/<pid>/root: that magic link is the root of the init's mount
// namespace, so a walk from it crosses the volumes and binds mounted in
// the container, as `docker cp` shows them. The pid is checked against
// its start time after the open (runtime's state), so a pid reused by
// another process between the two is not taken for the container.
//
// A stopped overlay container's rootfs is mounted, as `export` does,
// until Close; a path inside one of its volumes or binds is found in the
// volume's own directory (volumeOf).
//
// NOTE: a start of the container while a copy holds its rootfs mounted
// finds the overlay mounted and uses it: Close then leaves it mounted
// (the container's init is asked for first). A start in the instant
// between that check and the unmount is not excluded; the container's
// own mount namespace keeps its root either way.
func (m *Manager) OpenFS(ref string, tr *explain.Tracer) (_ *ContainerFS, retErr error) {
	meta, err := m.Get(ref)
	if err != nil {
		return nil, err
	}
	cfs := &ContainerFS{Meta: meta, root: -1}
	if spec, err := runtime.LoadSpec(m.dir(meta.ID)); err != nil {
		cfs.rootErr = err
	} else {
		cfs.readonlyRoot = spec.Root != nil && spec.Root.Readonly
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, cfs.Close())
		}
	}()
	if pid, ok := m.livePid(meta.ID); ok {
		p := "/proc/" + strconv.Itoa(pid) + "/root"
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if again, ok2 := m.livePid(meta.ID); err == nil && ok2 && again == pid {
			cfs.root, cfs.rootPath, cfs.Running = fd, p, true
			return cfs, nil
		}
		if err == nil {
			unix.Close(fd) // it ended meanwhile: its rootfs is read below
		}
	}
	root := meta.Rootfs()
	if root == "" {
		return nil, fmt.Errorf("container %s has no rootfs", meta.Name)
	}
	if err := m.mountStopped(meta, tr, &cfs.undo); err != nil {
		return nil, err
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", root, err)
	}
	cfs.root, cfs.rootPath = fd, root
	return cfs, nil
}

// livePid is the pid of the container's init when one exists (created,
// running or paused), as the runtime's state says after checking the
// kernel.
func (m *Manager) livePid(id string) (int, bool) {
	c, err := runtime.Load(m.StateRoot, id)
	if err != nil {
		return 0, false
	}
	switch c.Status() {
	case runtime.Created, runtime.Running, runtime.Paused:
		return c.Pid(), c.Pid() > 0
	}
	return 0, false
}

// mountStopped mounts a stopped overlay container's rootfs when it is not
// mounted, with the unmount on undo.
func (m *Manager) mountStopped(meta *Meta, tr *explain.Tracer, undo *cleanup.Stack) error {
	root := meta.Rootfs()
	if meta.GraphDriver.Name == "vfs" {
		return nil
	}
	if mounted, _ := overlay.Mounted(root); mounted {
		return nil
	}
	img, err := m.Images.Get(meta.Image)
	if err != nil {
		return err
	}
	layers, err := m.Images.LayerDirs(img)
	if err != nil {
		return err
	}
	d := m.dir(meta.ID)
	var mounted cleanup.Stack
	if err := tr.Do(overlay.MountStep(overlay.Options{Lower: layers, Upper: filepath.Join(d, "diff"), Work: filepath.Join(d, "work"), Target: root}), &mounted); err != nil {
		return err
	}
	// A start while the rootfs is mounted here finds it mounted and uses
	// it (Start mounts only what is not): then it is the container's, and
	// stays.
	undo.Add("unmount rootfs", func() error {
		if _, live := m.livePid(meta.ID); live {
			mounted.Release()
			return nil
		}
		return mounted.Run()
	})
	return nil
}

// Close lets the root go, and unmounts a rootfs OpenFS mounted.
func (c *ContainerFS) Close() error {
	if c.root >= 0 {
		unix.Close(c.root)
		c.root = -1
	}
	return c.undo.Run()
}

// resolve is resolve (inroot.go) in the container's root, or in the
// volume or bind a stopped container's path lies in.
func (c *ContainerFS) resolve(p string) (*target, error) {
	root, sub, done, err := c.volumeOf(p)
	if err != nil {
		return nil, err
	}
	defer done()
	t, err := resolve(root, sub)
	if err == nil && sub != p && cleanInRoot(sub) == "." && !strings.HasSuffix(p, "/.") {
		t.name = path.Base(path.Clean("/" + p)) // the volume's mount point, by its name
	}
	return t, err
}

// volumeOf finds where the path p of a stopped container is: in a
// volume or bind (its Source opened as the root, p made relative to its
// mount point, a trailing "/" or "/." kept), or in the rootfs. A running
// container needs none of this: its mounts are in its own tree. The
// mount point is matched by name, as the container would meet it first;
// a symlink in the rootfs that leads into a mount point is resolved in
// the rootfs, under the mount point (what a stopped container shows).
func (c *ContainerFS) volumeOf(p string) (root int, sub string, done func(), err error) {
	none := func() {}
	if c.Running {
		return c.root, p, none, nil
	}
	rel := cleanInRoot(p)
	var best *MountPoint
	for i := range c.Meta.Mounts {
		mp := &c.Meta.Mounts[i]
		d := cleanInRoot(mp.Destination)
		if mp.Source == "" || mp.Type == "tmpfs" || d == "." {
			continue
		}
		if (rel == d || strings.HasPrefix(rel, d+"/")) && (best == nil || len(d) > len(cleanInRoot(best.Destination))) {
			best = mp
		}
	}
	if best == nil {
		return c.root, p, none, nil
	}
	fd, err := unix.Open(best.Source, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", none, fmt.Errorf("open the source of %s: %w", best.Destination, err)
	}
	sub = "/" + strings.TrimPrefix(strings.TrimPrefix(rel, cleanInRoot(best.Destination)), "/")
	switch {
	case strings.HasSuffix(p, "/."):
		sub = strings.TrimSuffix(sub, "/") + "/."
	case strings.HasSuffix(p, "/"):
		sub = strings.TrimSuffix(sub, "/") + "/"
	}
	return fd, sub, func() { unix.Close(fd) }, nil
}

// ErrPathNotFound is returned (wrapped, with fs.ErrNotExist) for a path the
// container does not have.
var ErrPathNotFound = errors.New("could not find the file")

func (c *ContainerFS) notFound(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w %s in container %s: %w", ErrPathNotFound, p, c.Meta.Name, fs.ErrNotExist)
	}
	return err
}

// Stat describes the entry at p without following it when it is a
// symlink (unless p ends in "/" or "/."), as dockerd's statPath does;
// LinkTarget is then where the link leads, resolved inside the container.
func (c *ContainerFS) Stat(p string) (ctypes.PathStat, error) {
	t, err := c.resolve(p)
	if err != nil {
		return ctypes.PathStat{}, c.notFound(p, err)
	}
	defer t.close()
	st, err := t.lstat()
	if err != nil {
		return ctypes.PathStat{}, c.notFound(p, err)
	}
	out := ctypes.PathStat{Name: t.name, Size: st.Size, Mode: fileMode(st.Mode), Mtime: statTime(st.Mtim)}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// Only a name for the client (docker cp -L asks for it next,
		// and that request is resolved in the root again): securejoin's
		// lexical walk never leaves rootPath, and nothing is opened by it.
		full, err := securejoin.SecureJoin(c.rootPath, "/"+cleanInRoot(p))
		if err == nil {
			if rel, err := filepath.Rel(c.rootPath, full); err == nil {
				out.LinkTarget = path.Clean("/" + rel)
			}
		}
	}
	return out, nil
}

// WriteTar writes the entry at p (resolved as Stat does) as a tar to w,
// named as Docker names it: the last element of p, a directory with all
// below it. A running container's kernel filesystems (its /proc, /sys,
// cgroups) are left out, as they are absent from dockerd's view of the
// container's files.
func (c *ContainerFS) WriteTar(w io.Writer, p string) error {
	t, err := c.resolve(p)
	if err != nil {
		return c.notFound(p, err)
	}
	defer t.close()
	st, err := t.lstat()
	if err != nil {
		return c.notFound(p, err)
	}
	name := t.name
	if name == "/" {
		name = "."
	}
	o := layer.TreeOptions{IDs: c.idsOut()}
	a := layer.NewArchive(w)
	// The names given to the archive are /proc/self/fd/N: the kernel
	// takes that link straight to the directory the descriptor holds, so
	// no container path is looked up again by name.
	self := "/proc/self/fd/" + strconv.Itoa(t.dir)
	if err := a.AddFile(self+"/"+t.base, name, o); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		dfd, err := unix.Openat(t.dir, t.base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(dfd)
		o.Prefix = strings.TrimSuffix(name, "/") + "/"
		o.Skip = func(rel string, isDir bool) bool { return isDir && kernelFS(dfd, rel) }
		if err := a.AddTree("/proc/self/fd/"+strconv.Itoa(dfd), o); err != nil {
			return err
		}
	}
	return a.Close()
}

// kernelFS reports whether the directory rel below dirfd is the root of a
// kernel filesystem (proc, sysfs, cgroup, …): files that describe the
// running kernel, not the container's.
func kernelFS(dirfd int, rel string) bool {
	fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var s unix.Statfs_t
	if unix.Fstatfs(fd, &s) != nil {
		return false
	}
	switch s.Type {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC,
		unix.DEVPTS_SUPER_MAGIC, mqueueMagic, unix.DEBUGFS_MAGIC, unix.TRACEFS_MAGIC,
		unix.SECURITYFS_MAGIC, unix.BPF_FS_MAGIC:
		return true
	}
	return false
}

// mqueueMagic is mqueue's statfs f_type (linux/magic.h MQUEUE_MAGIC),
// which x/sys/unix does not name.
const mqueueMagic = 0x19800202

// idsOut maps host ids to the container's for a --userns-remap container
// (its root is a host user); nil otherwise.
func (c *ContainerFS) idsOut() func(int, int) (int, int) {
	r := c.Meta.HostConfig.UsernsRemap
	if r == nil {
		return nil
	}
	const overflow = 65534 // what the kernel shows for an unmapped id
	un := func(id int, rg IDRange) int {
		if id >= rg.Start && id < rg.Start+rg.Size {
			return id - rg.Start
		}
		return overflow
	}
	return func(uid, gid int) (int, int) { return un(uid, r.UID), un(gid, r.GID) }
}

// ExtractOpts are PUT /containers/{name}/archive's flags.
type ExtractOpts struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a file, or
	// a file with a directory (docker cp sends it).
	NoOverwriteDirNonDir bool
	// CopyUIDGID gives every file the container's user (its Config.User)
	// instead of the archive's owners (docker cp -a).
	CopyUIDGID bool
	// Rename, when set, renames entries (docker cp's rebase).
	Rename func(string) string
}

// Extract unpacks the tar r into the directory dst of the container,
// which must exist (a symlink to a directory will do, resolved inside
// the container). What the archive says about owners is kept, unless
// CopyUIDGID; in a --userns-remap container they are shifted into its
// range. A failure removes what the archive had created.
func (c *ContainerFS) Extract(r io.Reader, dst string, o ExtractOpts, tr *explain.Tracer) error {
	if err := c.writable(dst); err != nil {
		return err
	}
	owner, err := c.ownerIn(o.CopyUIDGID)
	if err != nil {
		return err
	}
	root, sub, done, err := c.volumeOf(dst)
	if err != nil {
		return c.notFound(dst, err)
	}
	defer done()
	x := &extractor{root: root, dest: cleanInRoot(sub), o: extractOpts{
		resolve: unix.RESOLVE_IN_ROOT, noOverwriteDirNonDir: o.NoOverwriteDirNonDir, owner: owner, rename: o.Rename,
	}}
	var undo cleanup.Stack
	err = tr.Do(withExtract(explain.Step{
		ID: "container-cp-in", Chapter: explain.ChapterRootfs,
		Title: explain.Text{PT: "Copia um tar para dentro do contêiner (docker cp)", EN: "Copy a tar into the container (docker cp)"},
		Shell: "tar -x -C /proc/$PID/root" + path.Clean("/"+dst),
	}, x, r), &undo)
	if err != nil {
		return c.notFound(dst, err)
	}
	undo.Release() // copied: the files are the container's now
	return nil
}

// ErrVolumeReadonly and ErrRootFSReadOnly refuse a copy into a read-only
// volume or bind, or into the rootfs of a --read-only container: dockerd's
// errors, with its words.
var (
	ErrVolumeReadonly = errors.New("mounted volume is marked read-only")
	ErrRootFSReadOnly = errors.New("container rootfs is marked read-only")
)

// writable refuses a copy into dst when the mount dst lies in is
// read-only (dockerd's checkIfPathIsInAVolume, then its ReadonlyRootfs
// check). It matters most for a stopped container: volumeOf opens the
// bind's host Source (say the host's /etc for -v /etc:/hostetc:ro), where
// no read-only mount stands in the way, and the rootfs is mounted
// read-write for the copy. In a running container the kernel refuses too
// (EROFS), but with no clear word. The innermost mount by name decides,
// as volumeOf picks it.
func (c *ContainerFS) writable(dst string) error {
	rel := cleanInRoot(dst)
	var best *MountPoint
	for i := range c.Meta.Mounts {
		mp := &c.Meta.Mounts[i]
		d := cleanInRoot(mp.Destination)
		if d == "." {
			continue
		}
		if (rel == d || strings.HasPrefix(rel, d+"/")) && (best == nil || len(d) > len(cleanInRoot(best.Destination))) {
			best = mp
		}
	}
	switch {
	case best != nil && !best.RW:
		return fmt.Errorf("copy to %s in container %s: %w", dst, c.Meta.Name, ErrVolumeReadonly)
	case best != nil:
		return nil
	case c.rootErr != nil:
		return fmt.Errorf("copy to %s in container %s: %w", dst, c.Meta.Name, c.rootErr)
	case c.readonlyRoot:
		return fmt.Errorf("copy to %s in container %s: %w", dst, c.Meta.Name, ErrRootFSReadOnly)
	}
	return nil
}

// ownerIn decides the owners of extracted files: the archive's (shifted by
// a remap), or the container's user for copyUIDGID (dockerd's
// tarCopyOptions: the user is looked up in the container's own
// /etc/passwd).
func (c *ContainerFS) ownerIn(copyUIDGID bool) (func(int, int) (int, int), error) {
	fixed := false
	var fu, fg int
	if copyUIDGID && c.Meta.Config.User != "" {
		// Read through the root's descriptor (readColonFileAt), never
		// by a host name built from rootPath.
		u, err := resolveUserIn(func(p string) [][]string { return readColonFileAt(c.root, p) }, c.Meta.Config.User)
		if err != nil {
			return nil, err
		}
		fixed, fu, fg = true, int(u.UID), int(u.GID)
	}
	r := c.Meta.HostConfig.UsernsRemap
	return func(uid, gid int) (int, int) {
		if fixed {
			uid, gid = fu, fg
		}
		if r != nil {
			uid, gid = r.UID.Start+min(uid, r.UID.Size-1), r.GID.Start+min(gid, r.GID.Size-1)
		}
		return uid, gid
	}, nil
}

// withExtract completes a docker cp step: its Do unpacks r with x, its
// undo removes what the archive created (a failed Do removes it itself).
func withExtract(s explain.Step, x *extractor, r io.Reader) explain.Step {
	s.Why = explain.Text{
		PT: "Cada caminho é resolvido pelo kernel dentro da raiz (openat2 RESOLVE_IN_ROOT/BENEATH): um symlink para /etc não leva ao host.",
		EN: "Every path is resolved by the kernel inside the root (openat2 RESOLVE_IN_ROOT/BENEATH): a symlink to /etc does not lead to the host.",
	}
	s.Do = func() error { return x.extract(r) }
	s.Undo = x.removeCreated
	s.EvidenceText = func() explain.Text {
		return explain.Text{PT: fmt.Sprintf("%d entrada(s) criada(s)", len(x.created)), EN: fmt.Sprintf("%d entry(ies) created", len(x.created))}
	}
	return s
}

// CopyOpts are `minirun cp`'s flags, docker cp's.
type CopyOpts struct {
	// Archive (-a) keeps owners: into a container, its user's (as
	// CopyUIDGID); out of it, the container's ids on the host files.
	Archive bool
	// FollowLink (-L) copies what a symlink source points to.
	FollowLink bool
}

// CopyFrom copies src of the container ref to the host path dst, or as a
// tar to stdout when dst is "-": `docker cp CONTAINER:SRC DST`, with the
// docker CLI's rules for where it lands (archive.CopyTo): into dst when
// dst is an existing directory, as dst otherwise.
func (m *Manager) CopyFrom(ref, src, dst string, o CopyOpts, stdout io.Writer, tr *explain.Tracer) error {
	cfs, err := m.OpenFS(ref, tr)
	if err != nil {
		return err
	}
	defer cfs.Close()
	st, err := cfs.Stat(src)
	if err != nil {
		return err
	}
	rebaseFrom := st.Name
	if o.FollowLink && st.Mode&fs.ModeSymlink != 0 && st.LinkTarget != "" {
		src = st.LinkTarget
		if st, err = cfs.Stat(src); err != nil {
			return err
		}
		rebaseFrom = st.Name
	}
	if dst == "-" {
		return cfs.WriteTar(stdout, src)
	}
	dstDir, rename, err := placeCopy(rebaseFrom, st.Mode.IsDir(), dst, hostStat(dst))
	if err != nil {
		return err
	}
	dfd, err := unix.Open(dstDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("destination directory %s: %w", dstDir, err)
	}
	defer unix.Close(dfd)
	// Host files belong to the caller unless -a (docker cp's rule).
	var owner func(int, int) (int, int)
	if o.Archive {
		owner = func(u, g int) (int, int) { return u, g }
	}
	x := &extractor{root: dfd, dest: ".", o: extractOpts{
		resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS, owner: owner, rename: rename,
	}}
	var undo cleanup.Stack
	err = piped(func(w io.Writer) error { return cfs.WriteTar(w, src) }, func(r io.Reader) error {
		return tr.Do(withExtract(explain.Step{
			ID: "container-cp-out", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Copia um caminho do contêiner para o host (docker cp)", EN: "Copy a path of the container to the host (docker cp)"},
			Shell: "tar -c -C /proc/$PID/root" + path.Dir(path.Clean("/"+src)) + " " + st.Name + " | tar -x -C " + dstDir,
		}, x, r), &undo)
	})
	if err != nil {
		return err
	}
	undo.Release()
	return nil
}

// hostStat is what placeCopy needs to know of a host path. A symlink is
// followed: the user named it.
func hostStat(p string) dstInfo {
	fi, err := os.Stat(p)
	if err != nil {
		return dstInfo{}
	}
	return dstInfo{exists: true, isDir: fi.IsDir()}
}

// CopyTo copies the host path src (or a tar read from stdin when src is
// "-") into the container ref at dst: `docker cp SRC CONTAINER:DST`.
func (m *Manager) CopyTo(src, ref, dst string, o CopyOpts, stdin io.Reader, tr *explain.Tracer) error {
	cfs, err := m.OpenFS(ref, tr)
	if err != nil {
		return err
	}
	defer cfs.Close()
	opts := ExtractOpts{NoOverwriteDirNonDir: true, CopyUIDGID: o.Archive}
	var d dstInfo
	st, err := cfs.Stat(dst)
	if err == nil && st.Mode&fs.ModeSymlink != 0 && st.LinkTarget != "" {
		dst = st.LinkTarget // the CLI follows a symlink destination
		st, err = cfs.Stat(dst)
	}
	if err == nil {
		d = dstInfo{exists: true, isDir: st.Mode.IsDir()}
	}
	if src == "-" {
		if !d.isDir {
			return fmt.Errorf("destination %q must be a directory", ref+":"+dst)
		}
		return cfs.Extract(stdin, dst, opts, tr)
	}
	var srcFI fs.FileInfo
	if o.FollowLink {
		srcFI, err = os.Stat(src)
	} else {
		srcFI, err = os.Lstat(src)
	}
	if err != nil {
		return err
	}
	base := filepath.Base(src)
	if strings.HasSuffix(src, "/.") {
		base = "."
	}
	dstDir, rename, err := placeCopy(base, srcFI.IsDir(), dst, d)
	if err != nil {
		return err
	}
	opts.Rename = rename
	return piped(func(w io.Writer) error { return hostTar(w, src, base, srcFI.IsDir(), o.FollowLink) },
		func(r io.Reader) error { return cfs.Extract(r, dstDir, opts, tr) })
}

// piped runs write in a goroutine into a pipe that read consumes, and
// returns read's error only once write has returned. The order matters:
// the caller closes the container's root (and unmounts a stopped
// container's rootfs) when this returns, and a writer still running
// would resolve paths from a closed descriptor, whose number the next
// open(2) reuses for another directory. Closing the read end first makes
// a writer blocked on the pipe return (io.ErrClosedPipe).
func piped(write func(io.Writer) error, read func(io.Reader) error) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(write(pw))
	}()
	err := read(pr)
	pr.CloseWithError(io.ErrClosedPipe)
	<-done
	return err
}

// hostTar writes the host path src as a tar whose entries start with name.
func hostTar(w io.Writer, src, name string, isDir, follow bool) error {
	a := layer.NewArchive(w)
	p := src
	if follow {
		if r, err := filepath.EvalSymlinks(src); err == nil {
			p = r
		}
	}
	if err := a.AddFile(p, name, layer.TreeOptions{}); err != nil {
		return err
	}
	if isDir {
		if err := a.AddTree(p, layer.TreeOptions{Prefix: strings.TrimSuffix(name, "/") + "/"}); err != nil {
			return err
		}
	}
	return a.Close()
}

// dstInfo is what placeCopy knows of the destination.
type dstInfo struct{ exists, isDir bool }

// placeCopy is the docker CLI's PrepareArchiveCopy: given the source's
// name in its archive (srcBase) and whether it is a directory, and the
// destination path with what is there (nil: nothing), it says the
// directory to extract into and how entries are renamed.
//
//	dst is a directory          extract into dst, names unchanged
//	dst is a file, src a dir    error: cannot copy a directory onto a file
//	dst ends in "/", missing    error: the directory does not exist
//	otherwise                   extract into dst's parent, srcBase → dst's name
func placeCopy(srcBase string, srcIsDir bool, dst string, d dstInfo) (string, func(string) string, error) {
	switch {
	case d.isDir:
		return dst, nil, nil
	case d.exists && srcIsDir:
		return "", nil, fmt.Errorf("cannot copy a directory to a file: %s", dst)
	case !d.exists && !srcIsDir && (strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, "/.")):
		return "", nil, fmt.Errorf("destination directory %s does not exist", dst)
	}
	dir, base := path.Split(strings.TrimRight(dst, "/"))
	if dir == "" {
		dir = "."
	}
	if strings.HasPrefix(dst, "/") && dir == "" {
		dir = "/"
	}
	return dir, rebase(srcBase, base), nil
}

// rebase renames entries whose first element is from to start with to.
func rebase(from, to string) func(string) string {
	return func(name string) string {
		n := strings.TrimLeft(name, "/")
		first, rest, _ := strings.Cut(n, "/")
		if first != from {
			return name
		}
		if rest == "" {
			return to
		}
		return to + "/" + rest
	}
}
