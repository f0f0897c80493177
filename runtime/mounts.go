package runtime

// The child's mount steps. They run inside the new mount namespace, before
// pivot_root, with every destination resolved under the rootfs so that a
// symlink planted in the image cannot point a mount at the host
// (CVE-2021-30465 was runc getting this wrong).

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountStepID picks the docs anchor that explains a mount of this kind.
func mountStepID(m specs.Mount) string {
	switch {
	case m.Type == "proc":
		return "mounts-proc"
	case m.Type == "sysfs":
		return "mounts-sysfs"
	case m.Type == "devpts":
		return "mounts-devpts"
	case m.Type == "mqueue":
		return "mounts-mqueue"
	case m.Type == "cgroup" || m.Type == "cgroup2":
		return "mounts-cgroup"
	case m.Destination == "/dev" && m.Type == "tmpfs":
		return "mounts-dev"
	case m.Destination == "/dev/shm":
		return "mounts-shm"
	case isBind(m) && isVolume(m.Source):
		return "volumes-bind"
	case isBind(m):
		return "mounts-bind"
	case m.Type == "tmpfs":
		return "mounts-tmpfs"
	}
	return "mounts-generic"
}

var mountWhy = map[string]explain.Text{
	"mounts-proc": {PT: "Um /proc novo mostra só os processos do namespace pid do contêiner.",
		EN: "A fresh /proc shows only the processes of the container's pid namespace."},
	"mounts-sysfs": {PT: "O /sys do contêiner, somente leitura: ele vê o kernel mas não o altera.",
		EN: "The container's /sys, read-only: it sees the kernel but cannot change it."},
	"mounts-dev": {PT: "Um /dev vazio em tmpfs: só entram os dispositivos que a configuração permite.",
		EN: "An empty tmpfs /dev: only the devices the config allows get in."},
	"mounts-devpts": {PT: "Uma instância própria de devpts: os terminais do contêiner não são os do host.",
		EN: "A private devpts instance: the container's terminals are not the host's."},
	"mounts-shm": {PT: "Memória compartilhada POSIX própria, com tamanho limitado.",
		EN: "Its own POSIX shared memory, with a size limit."},
	"mounts-mqueue": {PT: "Filas de mensagens POSIX do namespace ipc do contêiner.",
		EN: "POSIX message queues of the container's ipc namespace."},
	"mounts-cgroup": {PT: "O contêiner enxerga (somente leitura) a sua própria hierarquia de cgroups.",
		EN: "The container sees its own cgroup hierarchy, read-only."},
	"mounts-bind": {PT: "Um bind mount mostra um diretório ou arquivo do host dentro do contêiner.",
		EN: "A bind mount shows a host directory or file inside the container."},
	"volumes-bind": {PT: "O volume é um diretório do host fora de todas as camadas: o bind mount o mostra no contêiner, e o que se escreve ali não vai para a camada gravável.",
		EN: "The volume is a host directory outside every layer: the bind mount shows it in the container, and what is written there skips the writable layer."},
	"mounts-tmpfs": {PT: "Um tmpfs: arquivos em memória que somem com o contêiner.",
		EN: "A tmpfs: in-memory files that vanish with the container."},
	"mounts-generic": {PT: "Uma montagem pedida pela configuração.",
		EN: "A mount the config asks for."},
}

// isVolume reports whether a bind source is a volume's directory,
// DATAROOT/volumes/NAME/_data (the layout of minirun's volume store, as
// Docker's /var/lib/docker/volumes/NAME/_data): its mount is narrated in
// the volumes chapter rather than with the container's other mounts.
func isVolume(src string) bool {
	return filepath.Base(src) == "_data" && filepath.Base(filepath.Dir(filepath.Dir(src))) == "volumes"
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// mountStep builds the step that mounts m under rootfs.
func mountStep(rootfs string, m specs.Mount) explain.Step {
	id := mountStepID(m)
	shell := fmt.Sprintf("mount -t %s -o %s %s $ROOTFS%s", orNone(m.Type), orDefaults(m.Options), orNone(m.Source), m.Destination)
	if isBind(m) {
		shell = fmt.Sprintf("mount --bind %s $ROOTFS%s", m.Source, m.Destination)
	}
	chapter := explain.ChapterMounts
	if id == "volumes-bind" {
		chapter = explain.ChapterVolumes
	}
	return explain.Step{
		ID: id, Chapter: chapter,
		Title: explain.Text{PT: "Monta " + m.Destination + " (" + orNone(m.Type) + ")",
			EN: "Mount " + m.Destination + " (" + orNone(m.Type) + ")"},
		Why:   mountWhy[id],
		Shell: shell,
		Do:    func() error { return mountInto(rootfs, m) },
		Evidence: func() string {
			return mountinfoLine(filepath.Join(rootfs, m.Destination))
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orDefaults(o []string) string {
	if len(o) == 0 {
		return "defaults"
	}
	return strings.Join(o, ",")
}

// mountInto performs one spec mount with the destination resolved inside
// rootfs. A bind mount's read-only and similar flags need a second,
// remounting call: the kernel ignores them on the first (mount(2), "Creating
// a bind mount").
func mountInto(rootfs string, m specs.Mount) error {
	dest, err := securejoin.SecureJoin(rootfs, m.Destination)
	if err != nil {
		return fmt.Errorf("resolve %s in rootfs: %w", m.Destination, err)
	}
	o := parseMountOptions(m.Options)
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		return mountCgroup(dest, o)
	}
	if isBind(m) {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source %s: %w", m.Source, err)
		}
		if err := makeTarget(dest, fi.IsDir()); err != nil {
			return err
		}
		flags := o.flags | unix.MS_BIND
		if err := unix.Mount(m.Source, dest, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, dest, err)
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := remount(dest, flags|unix.MS_REMOUNT|unix.MS_BIND); err != nil {
				return err
			}
		}
	} else {
		if err := makeTarget(dest, true); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, m.Type, o.flags, o.data); err != nil {
			return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.Type, dest, err)
		}
	}
	for _, p := range o.propagation {
		if err := unix.Mount("", dest, "", p, ""); err != nil {
			return fmt.Errorf("set propagation of %s: %w", dest, err)
		}
	}
	return nil
}

// remount changes the flags of an existing mount, keeping the locked flags
// (nodev, nosuid, noexec…) the kernel refuses to clear in a user namespace.
func remount(dest string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dest, &st); err == nil {
		flags |= uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	}
	if err := unix.Mount("", dest, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", dest, err)
	}
	return nil
}

func makeTarget(dest string, dir bool) error {
	if dir {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", dest, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("create mount point %s: %w", dest, err)
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create mount point %s: %w", dest, err)
	}
	if f != nil {
		f.Close()
	}
	return nil
}

// mountCgroup gives the container a view of its cgroups. On a pure cgroup
// v2 host that is one cgroup2 mount; on v1 (and hybrid) hosts it is a tmpfs
// with one cgroup mount per hierarchy, as runc does. With a cgroup
// namespace, each shows the container's own cgroup as its root.
func mountCgroup(dest string, o mountOpts) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dest, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		if err := unix.Mount("cgroup2", dest, "cgroup2", o.flags, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on %s: %w", dest, err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dest, err)
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "4:memory:/minirun/abc" or "1:name=systemd:/…" or "0::/…" (v2).
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		ctrl := parts[1]
		name := strings.TrimPrefix(ctrl, "name=")
		data := ctrl
		if strings.HasPrefix(ctrl, "name=") {
			data = "none," + ctrl
		}
		sub := filepath.Join(dest, name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("cgroup", sub, "cgroup", o.flags&^unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
			return fmt.Errorf("mount cgroup %s on %s: %w", ctrl, sub, err)
		}
		if o.flags&unix.MS_RDONLY != 0 {
			if err := remount(sub, unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY); err != nil {
				return err
			}
		}
	}
	if o.flags&unix.MS_RDONLY != 0 {
		return remount(dest, unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	return sc.Err()
}

// mountinfoLine returns this process's /proc/self/mountinfo line for path,
// shortened to "mountpoint type source options": the evidence of a mount.
func mountinfoLine(path string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options … - type source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[4] != path {
			continue
		}
		sep := 6
		for sep < len(fields) && fields[sep] != "-" {
			sep++
		}
		if sep+2 < len(fields) {
			last = fmt.Sprintf("%s %s %s %s", fields[4], fields[sep+1], fields[sep+2], fields[5])
		}
	}
	return last
}

// defaultDevices are the nodes every container gets in its /dev, as in the
// OCI spec (config-linux.md "Default Devices").
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// createDevices makes the device nodes. In a user namespace mknod is not
// allowed (the kernel would let a fake root make a node for a host disk),
// so the host's node is bind-mounted instead.
func createDevices(rootfs string, devs []specs.LinuxDevice, userns bool) error {
	for _, d := range devs {
		dest, err := securejoin.SecureJoin(rootfs, d.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		if userns {
			if err := makeTarget(dest, false); err != nil {
				return err
			}
			if err := unix.Mount(d.Path, dest, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind device %s: %w", d.Path, err)
			}
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode)
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		_ = os.Remove(dest)
		if err := unix.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return fmt.Errorf("mknod %s: %w", d.Path, err)
		}
		// mknod is subject to the umask; chmod sets the exact mode.
		if err := unix.Chmod(dest, mode&0o7777); err != nil {
			return fmt.Errorf("chmod %s: %w", d.Path, err)
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if err := unix.Chown(dest, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", d.Path, err)
		}
	}
	return nil
}

// devSymlinks are the links programs expect in /dev (the OCI spec's
// "Default Devices" and runc's defaults).
var devSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
}

func createDevSymlinks(rootfs string, withPtmx bool) error {
	links := devSymlinks
	if withPtmx {
		links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		dest := filepath.Join(rootfs, l[1])
		_ = os.Remove(dest)
		if err := os.Symlink(l[0], dest); err != nil {
			return fmt.Errorf("symlink %s -> %s: %w", l[1], l[0], err)
		}
	}
	return nil
}

// maskPath hides a path from the container: a directory gets an empty
// read-only tmpfs on top, a file gets /dev/null bound over it.
func maskPath(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
	} else {
		err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// readonlyPath binds a path onto itself and remounts the bind read-only.
func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("bind %s: %w", p, err)
	}
	return remount(p, unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY)
}

// mountID returns the id of the mount path is on (statx(2) STATX_MNT_ID,
// Linux 5.8), the number in the first field of /proc/self/mountinfo, and
// whether path is that mount's root (STATX_ATTR_MOUNT_ROOT).
func mountID(path string) (id uint64, root bool, err error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		return 0, false, fmt.Errorf("statx %s: %w", path, err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 || st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return 0, false, fmt.Errorf("statx %s: the kernel gives no mount id (Linux 5.8 or later needed)", path)
	}
	return st.Mnt_id, st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// chrooted reports whether this process's root is not its mount
// namespace's root: minirun was started under chroot(2) (a CI build root, a
// rescue shell). Then mount --make-rprivate / fails with EINVAL when the
// root is not a mount point (mount(2)), and pivot_root(2) fails with EINVAL
// when the current root is not a mount point or its parent mount is
// shared — the namespace's real root, outside the chroot, often is
// (systemd makes / shared). So a chroot into a bind mount counts too.
func chrooted() bool {
	// A root that is not a mount point is a chroot.
	if _, root, err := mountID("/"); err == nil && !root {
		return true
	}
	// A root that is a mount point may still not be the namespace's root:
	// compare it with the root a throwaway thread sees once it has
	// setns()ed into its own mount namespace, which moves the thread's
	// root to the namespace's (setns(2), CLONE_NEWNS).
	var here unix.Stat_t
	if err := unix.Stat("/", &here); err != nil {
		return false
	}
	res := make(chan bool, 1)
	go func() {
		// Never unlocked: the Go runtime ends the thread with this
		// goroutine instead of reusing a thread with another root.
		goruntime.LockOSThread()
		ns, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res <- false
			return
		}
		defer unix.Close(ns)
		if unix.Unshare(unix.CLONE_FS) != nil { //minirun:nostep a throwaway thread gets its own root and cwd to look at the namespace's root; nothing else changes
			res <- false
			return
		}
		if unix.Setns(ns, unix.CLONE_NEWNS) != nil { //minirun:nostep the thread joins the namespace it is already in, only to see its root; it dies next
			res <- false
			return
		}
		var top unix.Stat_t
		res <- unix.Stat("/", &top) == nil && (top.Dev != here.Dev || top.Ino != here.Ino)
	}()
	return <-res
}

// rootToMountPoint turns the root of a chrooted init into a mount point of
// its own, in the init's new mount namespace, in this order:
//
//  1. open the current root (the chroot directory) as an O_PATH fd;
//  2. unshare(CLONE_FS), then setns(2) into our own mount namespace: setns
//     moves the calling thread's root and cwd to the namespace's root
//     (setns(2), "CLONE_NEWNS"), and it needs a thread that shares its
//     filesystem information with no other (the init runs on its locked
//     main thread, and execs from it);
//  3. from the real root, make every mount rslave: mounts made from now on
//     never propagate back to the host (the host's mounts still propagate
//     in, as with runc's default);
//  4. bind the chroot directory onto itself (recursively), and chroot into
//     that bind: the root is now a mount point, and the usual
//     propagation change and pivot_root work.
//
// Only the init's namespace changes; the caller's chroot is untouched.
func rootToMountPoint() error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(root)
	ns, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open own mount namespace: %w", err)
	}
	defer unix.Close(ns)
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("setns own mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make the namespace's / rslave: %w", err)
	}
	// The fd's path, read now, is rendered from the namespace's root.
	dir, err := os.Readlink("/proc/thread-self/fd/" + strconv.Itoa(root))
	if err != nil {
		return fmt.Errorf("find the chroot directory: %w", err)
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("chroot directory %q is not reachable from the namespace's root", dir)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind the chroot directory %s onto itself: %w", dir, err)
	}
	// A path lookup crosses into the mount just made; the old fd would not.
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", dir, err)
	}
	return unix.Chdir("/")
}

// unshareParentMount gives the mount that path lies on the propagation
// flag (MS_PRIVATE, or MS_SLAVE to keep receiving from the host) when it is
// shared, as runc does before pivot_root (rootfsParentMountPrivate): the
// bind of the rootfs would otherwise propagate to the host, and
// pivot_root(2) fails with EINVAL when new_root's parent mount is shared.
// This matters when the config's rootfsPropagation leaves mounts shared in
// the new namespace ("shared", "rshared", or a non-recursive type).
func unshareParentMount(path string, flag uintptr) error {
	id, _, err := mountID(path)
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw (proc(5))
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 || fields[0] != strconv.FormatUint(id, 10) {
			continue
		}
		for _, opt := range fields[6:] {
			if opt == "-" {
				break
			}
			if strings.HasPrefix(opt, "shared:") {
				if err := unix.Mount("", mountinfo.Unescape(fields[4]), "", flag, ""); err != nil {
					return fmt.Errorf("change propagation of %s: %w", fields[4], err)
				}
				return nil
			}
		}
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("mount %d of %s is not in /proc/self/mountinfo", id, path)
}
