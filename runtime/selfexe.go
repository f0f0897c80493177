package runtime

import (
	"fmt"
	"io"
	"os"
	"os/exec"
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
// runc's fix, which minirun follows: never execute the host binary inside a
// container. The binary is copied once into a memfd (an anonymous file
// that lives only in memory, memfd_create(2)), the copy is sealed so that
// nobody, not even root, can write to it (F_SEAL_WRITE and friends,
// fcntl(2) "File Sealing"), and the init is executed from that copy. Opening
// /proc/<init>/exe for writing now fails, and even a writable handle could
// change nothing: the host's file is never the one running.

var (
	sealedOnce sync.Once
	sealedFile *os.File
	sealedErr  error
)

// sealedSelf returns a sealed in-memory copy of the running binary. It is
// made once per process and shared by every container the process starts.
func sealedSelf() (*os.File, error) {
	sealedOnce.Do(func() {
		fd, err := unix.MemfdCreate("minirun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			sealedErr = fmt.Errorf("memfd_create: %w", err)
			return
		}
		mem := os.NewFile(uintptr(fd), "minirun-sealed")
		self, err := os.Open("/proc/self/exe")
		if err != nil {
			mem.Close()
			sealedErr = err
			return
		}
		defer self.Close()
		if _, err := io.Copy(mem, self); err != nil {
			mem.Close()
			sealedErr = fmt.Errorf("copy minirun into memfd: %w", err)
			return
		}
		seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
		if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
			mem.Close()
			sealedErr = fmt.Errorf("seal memfd: %w", err)
			return
		}
		sealedFile = mem
	})
	return sealedFile, sealedErr
}

// initPath is what the parent executes as the container's init: the
// sealed copy, reached through this process's fd table. The child resolves
// the path before execve closes the (close-on-exec) descriptor.
func initPath(self string) (string, error) {
	if self != "" {
		return self, nil // tests run their own binary as init
	}
	f, err := sealedSelf()
	if err != nil {
		return "", err
	}
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())), nil
}

// Copying the binary at every start costs tens of milliseconds (it is
// ~17 MB). runc 1.2 found a cheaper way to the same guarantee, which minirun
// uses first: on the thread that will fork the init, unshare a private mount
// namespace (unshare(CLONE_NEWNS) is per thread once CLONE_FS is unshared
// too), bind-mount minirun's own file onto itself and remount that bind
// read-only. The init is forked from this thread, so it inherits that
// namespace: the file behind its /proc/<pid>/exe is reached through a
// read-only mount, and any open for writing fails with EROFS. The host's
// own mounts are untouched (the private namespace is made rslave first,
// and dies with the thread). Where this cannot be done, the sealed memfd
// copy is the fallback.

// roSelf prepares the calling (locked, throwaway) thread and returns the
// path to execute, or "" when the caller should fall back to the memfd.
func roSelf() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return ""
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return ""
	}
	if err := unix.Mount(exe, exe, "", unix.MS_BIND, ""); err != nil {
		return ""
	}
	if err := unix.Mount("", exe, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return ""
	}
	return exe
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
// path is chosen later, on the thread that forks (roSelf or initPath).
// NOTE: exec.Command("minirun", …) would look "minirun" up in PATH at once
// and keep a failed lookup in Cmd.Err, which Start returns even after Path
// is set; minirun must not depend on being on PATH (runc is often run by
// its full path from a tool whose PATH does not contain it).
//
// Its environment holds only GOMAXPROCS=1 (the user's program gets the
// config's process.env at execve, never this one): the init runs on one
// thread anyway, and the Go runtime reads the variable before it makes
// its Ps. Lowering GOMAXPROCS from main instead stops the world and
// hands every P's cached memory spans back, some 160 page faults (about
// 2 ms here) in every container's start.
func initCmd() *exec.Cmd {
	return &exec.Cmd{Args: []string{"minirun", InitArg}, Env: []string{"GOMAXPROCS=1"}}
}
