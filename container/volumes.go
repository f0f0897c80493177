package container

// Volumes and bind mounts: -v, --mount, --tmpfs, --volumes-from, and the
// image's VOLUME paths. Each becomes a bind mount (or a tmpfs) in the OCI
// spec, outside the overlay: writes to them never land in the upper dir.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/volume"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MountPoint is one entry of `docker inspect`'s Mounts.
type MountPoint struct {
	Type        string `json:"Type"` // bind, volume, tmpfs
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
	Options     string `json:"Options,omitempty"` // tmpfs options
	Anonymous   bool   `json:"Anonymous,omitempty"`
	// Driver is the driver a volume that does not exist yet is created
	// with (--volume-driver); "" is local.
	Driver string `json:"Driver,omitempty"`
}

// parseMounts turns the run flags into mount points, with relative bind
// sources resolved against the current directory (the course's
// ./redis-data). Volumes are not created here.
func parseMounts(o RunOpts, imageVolumes map[string]struct{}, cwd string, others func(string) (*Meta, error)) ([]MountPoint, error) {
	var out []MountPoint
	for _, v := range o.Volumes {
		parts := strings.Split(v, ":")
		mp := MountPoint{RW: true}
		switch len(parts) {
		case 1:
			mp.Type, mp.Destination, mp.Anonymous = "volume", parts[0], true
		case 2, 3:
			mp.Destination = parts[1]
			if len(parts) == 3 {
				switch parts[2] {
				case "ro":
					mp.RW = false
				case "rw", "":
				default:
					return nil, fmt.Errorf("-v %s: the mode must be ro or rw", v)
				}
			}
			src := parts[0]
			if strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") {
				mp.Type = "bind"
				if !filepath.IsAbs(src) {
					src = filepath.Join(cwd, src)
				}
				mp.Source = filepath.Clean(src)
			} else {
				if !volume.ValidName(src) {
					return nil, fmt.Errorf("-v %s: %q is neither a path nor a volume name", v, src)
				}
				mp.Type, mp.Name = "volume", src
			}
		default:
			return nil, fmt.Errorf("-v %s: want [SOURCE:]DESTINATION[:ro]", v)
		}
		out = append(out, mp)
	}
	for _, m := range o.Mounts {
		mp := MountPoint{RW: true}
		for _, kv := range strings.Split(m, ",") {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "type":
				mp.Type = val
			case "source", "src":
				mp.Source = val
			case "target", "dst", "destination":
				mp.Destination = val
			case "readonly", "ro":
				mp.RW = val == "false" || val == "0"
			case "tmpfs-size":
				mp.Options = "size=" + val
			case "tmpfs-mode":
				mp.Options = strings.TrimPrefix(mp.Options+",mode="+val, ",")
			default:
				return nil, fmt.Errorf("--mount %s: unknown option %q", m, k)
			}
		}
		switch mp.Type {
		case "bind":
			if mp.Source == "" {
				return nil, fmt.Errorf("--mount %s: a bind needs source=", m)
			}
			if !filepath.IsAbs(mp.Source) {
				mp.Source = filepath.Join(cwd, mp.Source)
			}
		case "volume":
			mp.Name, mp.Source = mp.Source, ""
			mp.Anonymous = mp.Name == ""
		case "tmpfs":
		default:
			return nil, fmt.Errorf("--mount %s: type must be bind, volume or tmpfs", m)
		}
		out = append(out, mp)
	}
	for _, t := range o.Tmpfs {
		dest, opts, _ := strings.Cut(t, ":")
		out = append(out, MountPoint{Type: "tmpfs", Destination: dest, RW: true, Options: opts})
	}
	for _, ref := range o.VolumesFrom {
		name, mode, _ := strings.Cut(ref, ":")
		other, err := others(name)
		if err != nil {
			return nil, fmt.Errorf("--volumes-from %s: %w", name, err)
		}
		for _, mp := range other.Mounts {
			if mp.Type == "tmpfs" {
				continue
			}
			if mode == "ro" {
				mp.RW = false
			}
			out = append(out, mp)
		}
	}
	// The image's VOLUME paths get anonymous volumes, unless a flag
	// already mounts something there.
	var paths []string
	for p := range imageVolumes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		taken := false
		for _, mp := range out {
			if filepath.Clean(mp.Destination) == filepath.Clean(p) {
				taken = true
			}
		}
		if !taken {
			out = append(out, MountPoint{Type: "volume", Destination: p, RW: true, Anonymous: true})
		}
	}
	for _, mp := range out {
		if !filepath.IsAbs(mp.Destination) {
			return nil, fmt.Errorf("mount destination %q must be an absolute path", mp.Destination)
		}
	}
	for i := range out {
		if out[i].Type == "volume" {
			out[i].Driver = o.VolumeDriver
		}
	}
	return out, nil
}

func (m *Manager) volumes(tr *explain.Tracer) (*volume.Store, error) {
	vs, err := volume.Open(m.DataRoot, tr)
	if err != nil {
		return nil, err
	}
	vs.Alive = m.alive
	return vs, nil
}

// alive reports whether container id runs, per the kernel (its init's pid
// and start time, runtime.StatusOf), or may run again: its shim answers
// (a restart policy between two runs).
func (m *Manager) alive(id string) bool {
	if st, err := runtime.StatusOf(m.StateRoot, id); err == nil && st != runtime.Stopped {
		return true
	}
	return shimAlive(m.Socket(id))
}

// prepareMounts creates the named and anonymous volumes, makes missing
// bind sources, and returns the spec mounts. fillVolumes copies the
// image's content into them once they are mounted (acquireVolumes).
func (m *Manager) prepareMounts(mps []MountPoint, rootfs string, remap *Remap, tr *explain.Tracer) ([]MountPoint, []specs.Mount, error) {
	vs, err := m.volumes(tr)
	if err != nil {
		return nil, nil, err
	}
	var out []specs.Mount
	for i := range mps {
		mp := &mps[i]
		opts := []string{"rbind", "rprivate"}
		if !mp.RW {
			opts = append(opts, "ro")
		}
		switch mp.Type {
		case "bind":
			if _, err := os.Stat(mp.Source); errors.Is(err, fs.ErrNotExist) {
				if err := tr.Do(bindSourceStep(mp.Source), nil); err != nil {
					return nil, nil, err
				}
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts})
		case "volume":
			v, err := vs.Get(mp.Name)
			if errors.Is(err, volume.ErrNotFound) || mp.Name == "" {
				if v, err = vs.Create(mp.Name, mp.Driver, nil, nil); err != nil {
					return nil, nil, err
				}
				v.Anonymous = mp.Anonymous
				if remap != nil {
					if err := tr.Do(volumeOwnerStep(v.Mountpoint, remap), nil); err != nil {
						return nil, nil, err
					}
				}
			}
			if err != nil {
				return nil, nil, err
			}
			mp.Name, mp.Source = v.Name, v.Mountpoint
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: v.Mountpoint, Options: opts})
		case "tmpfs":
			o := []string{"nosuid", "nodev"}
			if mp.Options != "" {
				o = append(o, strings.Split(mp.Options, ",")...)
			}
			if !mp.RW {
				o = append(o, "ro")
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "tmpfs", Source: "tmpfs", Options: o})
		}
	}
	return mps, out, nil
}

// bindSourceStep makes the missing host directory of a bind mount, as
// Docker's -v does (--mount type=bind refuses it instead; minirun's -v and
// --mount both make it). No undo: the directory may receive the
// container's data, which outlives it.
func bindSourceStep(src string) explain.Step {
	return explain.Step{
		ID: "volumes-bind-source", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Cria no host o diretório " + src + " do bind mount", EN: "Create the bind mount's host directory " + src},
		Why: explain.Text{PT: "Como o -v do Docker: uma origem que não existe vira um diretório vazio do host, de root.",
			EN: "As Docker's -v does: a source that does not exist becomes an empty host directory, owned by root."},
		Shell: "mkdir -p " + src,
		Do: func() error {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return fmt.Errorf("bind source %s: %w", src, err)
			}
			return nil
		},
		Evidence: func() string { return lsLD(src) },
	}
}

// volumeOwnerStep gives a new volume to the container's remapped root
// (--userns-remap), as Docker does: otherwise the container's root, an
// ordinary host user, could not write in it.
func volumeOwnerStep(dir string, remap *Remap) explain.Step {
	uid, gid := remap.UID.Start, remap.GID.Start
	return explain.Step{
		ID: "volumes-remap-owner", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: fmt.Sprintf("Dá o volume novo ao root remapeado (%d:%d)", uid, gid),
			EN: fmt.Sprintf("Give the new volume to the remapped root (%d:%d)", uid, gid)},
		Why: explain.Text{PT: "Com --userns-remap o root do contêiner é o uid " + strconv.Itoa(uid) + " no host: sem isso ele não escreveria no volume.",
			EN: "With --userns-remap the container's root is uid " + strconv.Itoa(uid) + " on the host: without this it could not write in the volume."},
		Shell: fmt.Sprintf("chown %d:%d %s", uid, gid, dir),
		Do: func() error {
			if err := os.Chown(dir, uid, gid); err != nil {
				return fmt.Errorf("chown %s: %w", dir, err)
			}
			return nil
		},
		Evidence: func() string { return lsLD(dir) },
	}
}

// lsLD is `ls -ld PATH` reduced to what a step shows: mode, owner, path.
func lsLD(p string) string {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("ls -ldn %s → %v %d:%d", p, fs.FileMode(st.Mode&0o777)|fs.ModeDir, st.Uid, st.Gid)
}

// fillVolumes copies, into each volume of mps that is still empty, what
// the image has at its mount path. It runs after acquireVolumes: a volume
// with driver options is mounted by then, and the copy must land in the
// mount, not in the directory the mount then hides.
func fillVolumes(mps []MountPoint, rootfs string, tr *explain.Tracer) error {
	for _, mp := range mps {
		if mp.Type != "volume" {
			continue
		}
		if err := copyImageContent(rootfs, mp.Destination, mp.Source, tr); err != nil {
			return err
		}
	}
	return nil
}

// copyImageContent fills an empty volume with what the image has at the
// mount's path, the first time the volume is used (Docker's behaviour):
// a database image's initial files appear in its new volume.
//
// The step is taken for every empty volume, and says when the image has
// nothing there: a dry run, which sees neither the volume nor the image,
// describes it for every volume, and for a volume it described creating
// (empty, then) it describes what a run does.
func copyImageContent(rootfs, dest, vol string, tr *explain.Tracer) error {
	src, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return err
	}
	if !tr.DryRun() {
		ents, err := os.ReadDir(vol)
		if err != nil || len(ents) > 0 {
			return err
		}
	}
	copied := 0
	return tr.Do(explain.Step{
		ID: "volumes-copy", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Copia o conteúdo da imagem em " + dest + " para o volume novo", EN: "Copy the image's content at " + dest + " into the new volume"},
		Why: explain.Text{PT: "Como no Docker: um volume vazio começa com o que a imagem tinha naquele caminho.",
			EN: "As in Docker: an empty volume starts with what the image had at that path."},
		Shell: "cp -a $ROOTFS" + dest + "/. " + vol + "/",
		Do: func() error {
			fi, err := os.Stat(src)
			if err != nil || !fi.IsDir() {
				return nil // nothing in the image there: the volume stays empty
			}
			img, err := os.ReadDir(src)
			if err != nil || len(img) == 0 {
				return err
			}
			copied = len(img)
			return copyTree(src, vol)
		},
		EvidenceText: func() explain.Text {
			if copied == 0 {
				return explain.Text{PT: "a imagem não tem nada em " + dest + ": o volume começa vazio",
					EN: "the image has nothing at " + dest + ": the volume starts empty"}
			}
			ls := fmt.Sprintf("ls %s | wc -l → %d", vol, copied)
			return explain.Text{PT: ls + " (vindos da imagem)", EN: ls + " (from the image)"}
		},
	}, nil)
}

// copyTreeHook, when set (tests only), runs after copyTree has made the
// directory rel in the volume and before it opens it: the moment a second
// container sharing the volume could swap it for a symlink.
var copyTreeHook func(rel string)

// copyTree copies the image's directory src into the volume's directory
// dst, keeping modes (setuid included), owners, times and symlinks;
// devices, fifos and sockets are not copied. At the end dst takes src's
// owner and mode, as Docker's copyOwnership does after its copy.
//
// NOTE: dst is writable by every container that mounts the volume, while
// this runs as root on the host. Resolving paths under dst by name would
// follow whatever those containers put there: one that swapped a directory
// for a symlink to /etc made the host write 3,000 files there (issue #13;
// moby's CVE-2018-15664 and runc's CVE-2021-30465 are the same race).
// So nothing here is resolved from a path: every create, open, chown,
// chmod and utimes is relative to a descriptor of a directory this copy
// opened itself, one component at a time, with openat2(2)
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV, O_NOFOLLOW and
// AT_SYMLINK_NOFOLLOW (image/layer/extract.go does the same for layers).
// A symlink where this copy made a directory stops it with an error.
// Held descriptors keep pointing at the same directories even when a
// container renames them: a rename cannot leave the volume's mount.
func copyTree(src, dst string) error {
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer unix.Close(sfd)
	dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open volume %s: %w", dst, err)
	}
	defer unix.Close(dfd)
	c := &treeCopier{buf: make([]byte, 128<<10)}
	if err := c.copyDir(sfd, dfd, ""); err != nil {
		return fmt.Errorf("copy %s into volume %s: %w", src, dst, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	return setOwnerMode(dfd, &st)
}

// treeCopier holds the copy buffer of one copyTree.
type treeCopier struct{ buf []byte }

// copyDir copies the entries of the directory open as sfd into the one open as
// dfd; rel is its name relative to the volume, for errors and the hook.
func (c *treeCopier) copyDir(sfd, dfd int, rel string) error {
	// A duplicate for *os.File to own and close: the caller owns sfd.
	dup, err := unix.FcntlInt(uintptr(sfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup %q: %w", rel, err)
	}
	d := os.NewFile(uintptr(dup), rel)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("read %q: %w", rel, err)
	}
	sort.Strings(names)
	for _, name := range names {
		child := path.Join(rel, name)
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("stat %q: %w", child, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			err = c.copySubdir(sfd, dfd, name, child, &st)
		case unix.S_IFREG:
			err = c.copyFile(sfd, dfd, name, child, &st)
		case unix.S_IFLNK:
			err = c.copySymlink(sfd, dfd, name, child, &st)
		default:
			continue // devices, fifos and sockets are not copied
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// copySubdir makes the directory name in dfd, fills it, and only then gives it
// its owner and mode: a read-only mode would stop the filling.
func (c *treeCopier) copySubdir(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	// 0700 until it is filled: no one else may enter it half-made.
	if err := unix.Mkdirat(dfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir %q: %w", rel, err)
	}
	if copyTreeHook != nil {
		copyTreeHook(rel)
	}
	// EEXIST above is fine only if what is there is a real directory of
	// the volume: openBeneath refuses a symlink (ELOOP) and anything else.
	cd, err := openBeneath(dfd, name)
	if err != nil {
		return fmt.Errorf("open %q in the volume: %w", rel, err)
	}
	defer unix.Close(cd)
	cs, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", rel, err)
	}
	defer unix.Close(cs)
	if err := c.copyDir(cs, cd, rel); err != nil {
		return err
	}
	if err := setOwnerMode(cd, st); err != nil {
		return fmt.Errorf("%q: %w", rel, err)
	}
	return setTimesAt(dfd, name, st)
}

// copyFile copies a regular file. O_EXCL|O_NOFOLLOW: never open what someone
// else put at the name (a symlink, a hard link to a host file).
func (c *treeCopier) copyFile(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	in, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", rel, err)
	}
	inf := os.NewFile(uintptr(in), rel)
	defer inf.Close()
	out, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %q in the volume: %w", rel, err)
	}
	outf := os.NewFile(uintptr(out), rel)
	defer outf.Close()
	// The struct hides *os.File's ReadFrom: with it, CopyBuffer would
	// ignore the buffer (copy_file_range is fine too, but one path is
	// easier to read).
	if _, err := io.CopyBuffer(struct{ io.Writer }{outf}, inf, c.buf); err != nil {
		return fmt.Errorf("copy %q: %w", rel, err)
	}
	if err := setOwnerMode(out, st); err != nil {
		return fmt.Errorf("%q: %w", rel, err)
	}
	return setTimesAt(dfd, name, st)
}

// copySymlink recreates a symlink; its target is copied as text, never
// followed (it means something only inside the container).
func (c *treeCopier) copySymlink(sfd, dfd int, name, rel string, st *unix.Stat_t) error {
	n, err := unix.Readlinkat(sfd, name, c.buf)
	if err != nil {
		return fmt.Errorf("readlink %q: %w", rel, err)
	}
	if err := unix.Symlinkat(string(c.buf[:n]), dfd, name); err != nil {
		return fmt.Errorf("symlink %q in the volume: %w", rel, err)
	}
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %q: %w", rel, err)
	}
	return setTimesAt(dfd, name, st)
}

// setOwnerMode gives the open file fd the owner and mode of st. Order
// matters: chown(2) clears the setuid and setgid bits, so chmod goes after.
func setOwnerMode(fd int, st *unix.Stat_t) error {
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %d:%d: %w", st.Uid, st.Gid, err)
	}
	if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod %o: %w", st.Mode&0o7777, err)
	}
	return nil
}

// setTimesAt sets the access and modification times of name in dfd, on
// the name itself (AT_SYMLINK_NOFOLLOW): a symlink swapped in meanwhile
// gets them, not what it points at.
func setTimesAt(dfd int, name string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %q: %w", name, err)
	}
	return nil
}

// openBeneath opens the directory name, one component inside the directory
// open as dfd, with openat2(2): RESOLVE_NO_SYMLINKS fails with ELOOP on a
// symlink, RESOLVE_BENEATH and RESOLVE_NO_XDEV keep the result inside
// dfd's mount, and O_DIRECTORY refuses anything but a directory.
func openBeneath(dfd int, name string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(dfd, name, how)
		// EAGAIN: a rename elsewhere raced with the lookup; openat2(2)
		// asks callers to retry.
		if errors.Is(err, unix.EAGAIN) && tries < 16 {
			continue
		}
		if errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("a symlink stands where a directory was made: %w", err)
		}
		return fd, err
	}
}

// volumeUsers lists the containers (any state) whose mounts name the
// volume: such a volume may not be removed.
func (m *Manager) volumeUsers(name string) []string {
	all, _ := m.List()
	var users []string
	for _, c := range all {
		for _, mp := range c.Mounts {
			if mp.Type == "volume" && mp.Name == name {
				users = append(users, c.Name)
			}
		}
	}
	return users
}

// VolumeUsers is volumeUsers for the volume commands.
func (m *Manager) VolumeUsers(name string) []string { return m.volumeUsers(name) }

// removeAnonymousVolumes is rm -v: the container's anonymous volumes go
// with it; named ones stay.
func (m *Manager) removeAnonymousVolumes(meta *Meta) error {
	return m.removeAnonymousVolumesTraced(meta, nil)
}

// removeAnonymousVolumesTraced is removeAnonymousVolumes narrated to tr:
// run --rm's end, and its description in a dry run.
func (m *Manager) removeAnonymousVolumesTraced(meta *Meta, tr *explain.Tracer) error {
	vs, err := m.volumes(tr)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" && mp.Anonymous {
			if err := vs.Remove(mp.Name, func(string) []string { return nil }); err != nil && !errors.Is(err, volume.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// acquireVolumes and releaseVolumes take and drop the container's holds on
// the volumes with driver options (tmpfs, nfs): the first live user
// mounts, the last one unmounts. reconcileVolumes drops the holds of
// containers found dead, for a shim that died without releasing.
// The mount and unmount are narrated to tr (nil: silently).
func (m *Manager) acquireVolumes(meta *Meta, tr *explain.Tracer) error {
	return m.eachVolume(meta, tr, func(vs *volume.Store, name string) error { return vs.Acquire(name, meta.ID) })
}

func (m *Manager) releaseVolumes(meta *Meta, tr *explain.Tracer) error {
	return m.eachVolume(meta, tr, func(vs *volume.Store, name string) error { return vs.Release(name, meta.ID) })
}

func (m *Manager) reconcileVolumes(meta *Meta) error {
	return m.eachVolume(meta, nil, func(vs *volume.Store, name string) error { return vs.Reconcile(name) })
}

func (m *Manager) eachVolume(meta *Meta, tr *explain.Tracer, fn func(*volume.Store, string) error) error {
	vs, err := m.volumes(tr)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" {
			if err := fn(vs, mp.Name); err != nil && !errors.Is(err, volume.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
