package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CVE-2019-5736, the runc escape of 2019 that the course mentions: runc
// re-executed itself (/proc/self/exe) to set up the container, so for a
// moment a process inside the container's namespaces was the runc binary of
// the host. A malicious container opened /proc/<that pid>/exe, waited for
// runc to exit, and wrote its own program over the host's runc: the next
// `docker exec` ran the attacker's code as root on the host.
//
// runc's two fixes, which minirun follows (initExe picks one):
//
//   - runc 1.0's: never execute the host's binary inside a container. It
//     is copied into a memfd (an anonymous file that lives only in
//     memory, memfd_create(2)), the copy is sealed so that nobody, not
//     even root, can write to it (F_SEAL_WRITE and friends, fcntl(2)
//     "File Sealing"), and the init is executed from that copy.
//   - runc 1.2's, cheaper: the init executes the file through a read-only
//     bind mount that only it sees (roBind), so opening /proc/<init>/exe
//     for writing fails with EROFS.
//
// What the init executes is minirun-init, a small program of its own
// embedded in minirun (cmd/minirun-init, scripts/build.sh): Go runs every
// linked package's initialiser before main, and minirun-init links a
// third of minirun's packages, so every container starts ~10 ms sooner.
// A build without it (a plain `go build`) runs minirun itself as init.

// sealed is a sealed in-memory copy of a program, made once per process
// and shared by every container the process starts.
type sealed struct {
	once sync.Once
	file *os.File
	err  error
}

var (
	sealedMinirun sealed // this binary (a build without an embedded init)
	sealedInit    sealed // the embedded minirun-init
)

// path returns /proc/self/fd/N of the sealed copy of what open gives,
// making the copy on the first call: memfd_create(2), the copy, then
// F_ADD_SEALS. The child resolves the path before execve closes the
// (close-on-exec) descriptor.
func (s *sealed) path(name string, open func() (io.ReadCloser, error)) (string, error) {
	s.once.Do(func() { s.file, s.err = sealCopy(name, open) })
	if s.err != nil {
		return "", s.err
	}
	return "/proc/self/fd/" + strconv.Itoa(int(s.file.Fd())), nil
}

func sealCopy(name string, open func() (io.ReadCloser, error)) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), name+"-sealed")
	src, err := open()
	if err != nil {
		mem.Close()
		return nil, err
	}
	defer src.Close()
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy %s into memfd: %w", name, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return mem, nil
}

// buildToken is one value, set by scripts/build.sh (-ldflags -X), in
// minirun and in the minirun-init it embeds; empty in a plain `go build`.
// The parent passes its own to the init (envInitToken), which refuses to
// run for another build: an init whose protocol or config types are not
// its parent's must not half-set-up a container.
var buildToken string

// envInitToken names, in the init's environment, the parent's buildToken.
const envInitToken = "MINIRUN_INIT_TOKEN"

// embeddedInitName is minirun-init's path in initFS.
const embeddedInitName = "initbin/minirun-init"

// hasEmbeddedInit says whether this binary carries a minirun-init of its
// own build. Without a token, a file there may come from any earlier
// build, so it is not used.
func hasEmbeddedInit() bool {
	if buildToken == "" {
		return false
	}
	_, err := initFS.Open(embeddedInitName)
	return err == nil
}

// EmbeddedInit returns the build token of the minirun-init this binary
// carries and runs as its containers' init (for `minirun info`); ok is
// false for a build without one, which runs itself as init.
func EmbeddedInit() (build string, ok bool) {
	return buildToken, hasEmbeddedInit()
}

// initExe returns the path the parent executes as the container's init;
// root is the state root (--root). It must run on the thread that forks
// the init: the read-only bind changes that thread's mount namespace.
// In order of preference:
//
//   - self, when set: tests run their own binary as init;
//   - with roOK (the init gets a new mount namespace of its own, which
//     the private one made here becomes), a file reached through a
//     read-only bind mount (roBind): minirun-init, extracted once per
//     build into the state root (extractedInit), or else this binary;
//   - a sealed memfd copy of minirun-init, or else of this binary.
//
// The memfd is the fallback because a copy costs every process that
// makes one: ~5 ms for minirun-init's ~5 MB here (they are read through
// this binary's pages, one page fault each), tens of ms for minirun's
// ~20 MB. A shim starts one container, so it would pay it on every run.
//
// With remapped (a user namespace: the init executes as an unprivileged
// uid of the host), the extracted file is used only if that uid can
// reach it (othersCanReach); a state root made 0700 (an older minirun
// made it so) sends it to the memfd.
func initExe(self, root string, roOK, remapped bool) (string, error) {
	if self != "" {
		return self, nil
	}
	embedded := hasEmbeddedInit()
	if roOK {
		path, err := os.Executable()
		if embedded {
			path, err = extractedInit(root)
		}
		if err == nil && remapped && !othersCanReach(path) {
			err = fmt.Errorf("%s: not reachable by a remapped uid", path)
		}
		if err == nil && roBind(path) {
			return path, nil
		}
	}
	if embedded {
		return sealedInit.path("minirun-init", func() (io.ReadCloser, error) { return initFS.Open(embeddedInitName) })
	}
	return sealedMinirun.path("minirun", func() (io.ReadCloser, error) { return os.Open("/proc/self/exe") })
}

// othersCanReach says whether a uid that is neither the owner nor in the
// group of path and its directories may execute it: every directory from
// / down needs the others' search bit, the file the others' execute bit
// (path_resolution(7)).
func othersCanReach(path string) bool {
	for p := path; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" || p == "." {
			return true
		}
	}
}

// InitDir is the state root's directory of extracted minirun-inits, one
// per build (extractedInit).
const InitDir = ".init"

// extractedInit returns the path of this build's minirun-init under
// root/InitDir, writing it there the first time: under a temporary name,
// then renamed, so that a reader never finds half a program. The copies
// of older builds go; an init that runs one keeps it open (the inode
// lives until it exits).
func extractedInit(root string) (string, error) {
	if root == "" {
		root = DefaultRoot
	}
	dir := filepath.Join(root, InitDir)
	path := filepath.Join(dir, "minirun-init-"+buildToken)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	// 0711 and 0555, as minirun's own file in /usr/local/bin: the init
	// of a container with a user namespace executes it as a remapped
	// uid, which must be able to reach it.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", err
	}
	src, err := initFS.Open(embeddedInitName)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".minirun-init-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing to remove
	_, err = io.Copy(tmp, src)
	err = errors.Join(err, tmp.Chmod(0o555), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("extract minirun-init into %s: %w", dir, err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "minirun-init-*"))
	for _, o := range old {
		if o != path {
			os.Remove(o)
		}
	}
	return path, nil
}

// A sealed copy of the init at every start costs milliseconds. runc 1.2
// found a cheaper way to the same guarantee, which minirun uses first: on
// the thread that will fork the init, unshare a private mount namespace
// (unshare(CLONE_NEWNS) is per thread once CLONE_FS is unshared too),
// bind-mount the init's file onto itself and remount that bind read-only.
// The init is forked from this thread, so it inherits that namespace: the
// file behind its /proc/<pid>/exe is reached through a read-only mount,
// and any open for writing fails with EROFS. The host's own mounts are
// untouched (the private namespace is made rslave first, and dies with
// the thread). Where this cannot be done, the sealed memfd copy is the
// fallback.

// roBind prepares the calling (locked, throwaway) thread so that path is
// reached through a read-only bind mount; false means the caller should
// fall back to a memfd.
func roBind(path string) bool {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return false
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return false
	}
	if err := unix.Mount(path, path, "", unix.MS_BIND, ""); err != nil {
		return false
	}
	return unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "") == nil
}

// exeProtection says how the binary behind /proc/<pid>/exe is protected:
// "memfd" (the sealed copy), "ro" (reached through a read-only mount), or
// "" when it is not.
//
// The answer comes from the file itself: opening /proc/<pid>/exe opens the
// very file the process runs, through the very mount it was executed from
// (proc(5) "/proc/pid/exe"), and fstatvfs(3) on that descriptor reports
// ST_RDONLY when that mount is read-only. An earlier version compared the
// readlink(2) of /proc/<pid>/exe with the mount points in
// /proc/<pid>/mountinfo, but the two are rendered from different roots
// (the link from the reader's root, mountinfo from the process's): under a
// chroot they never match, and every container failed.
func exeProtection(pid int) string {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	if l, err := os.Readlink(exe); err == nil && strings.HasPrefix(l, "/memfd:") {
		return "memfd"
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return ""
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return "ro"
	}
	return ""
}

// pfForkNoExec is PF_FORKNOEXEC (include/linux/sched.h): the kernel sets
// it on every new task and clears it in execve(2).
const pfForkNoExec = 0x40

// checkProtectedExe fails create when the init runs minirun's binary in a
// way a container could overwrite.
//
// ORDER: the answer is only meaningful once the init has executed its
// binary: before that it is still a copy of its parent, and its exe is the
// parent's (reached through the host's writable mount). exec.Cmd.Start is
// meant to return after the exec, yet in the cgroup v2 test VM it was seen
// to return while the child still had PF_FORKNOEXEC set (its comm still the
// parent's, one page fault in): the check read the parent's binary and
// failed one create in three. So the check first waits for the exec.
func checkProtectedExe(pid int) error {
	if err := waitExeced(pid, 5*time.Second); err != nil {
		return err
	}
	if exeProtection(pid) == "" {
		exe := fmt.Sprintf("/proc/%d/exe", pid)
		l, _ := os.Readlink(exe)
		return fmt.Errorf("the container's init runs a writable minirun binary (CVE-2019-5736): %s is %s, on a writable mount", exe, l)
	}
	return nil
}

// waitExeced waits until pid has called execve(2) (its PF_FORKNOEXEC flag
// is gone), polling /proc/<pid>/stat with a growing pause; nothing else
// tells a parent that a child has executed.
func waitExeced(pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	pause := 100 * time.Microsecond
	for {
		ps, err := readProcStat(pid)
		if err != nil {
			return fmt.Errorf("container init %d: %w", pid, err)
		}
		if ps.Flags&pfForkNoExec == 0 {
			return nil
		}
		if ps.State == 'Z' {
			return fmt.Errorf("container init %d exited before it executed minirun", pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container init %d has not executed minirun after %v", pid, limit)
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// initCmd is the command that starts `minirun init`, with no Path yet: the
// path is chosen later, on the thread that forks (initExe).
// NOTE: exec.Command("minirun", …) would look "minirun" up in PATH at once
// and keep a failed lookup in Cmd.Err, which Start returns even after Path
// is set; minirun must not depend on being on PATH (runc is often run by
// its full path from a tool whose PATH does not contain it).
//
// Its environment holds only GOMAXPROCS=1 and the build token (the user's
// program gets the config's process.env at execve, never this one). The
// first because the init runs on one
// thread anyway, and the Go runtime reads the variable before it makes
// its Ps. Lowering GOMAXPROCS from main instead stops the world and
// hands every P's cached memory spans back, some 160 page faults (about
// 2 ms here) in every container's start.
func initCmd() *exec.Cmd {
	return &exec.Cmd{Args: []string{"minirun", InitArg}, Env: []string{"GOMAXPROCS=1", envInitToken + "=" + buildToken}}
}
