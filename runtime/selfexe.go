package runtime

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

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
// "memfd" (the sealed copy), "ro" (a read-only mount in the process's
// mount namespace), or "" when it is not.
func exeProtection(pid int) string {
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	if strings.HasPrefix(l, "/memfd:") {
		return "memfd"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return ""
	}
	// The last mount whose mount point is the binary itself is the one
	// that shows it (mountinfo lists mounts in the order they stack).
	prot := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == strings.TrimSuffix(l, " (deleted)") {
			prot = ""
			for _, o := range strings.Split(f[5], ",") {
				if o == "ro" {
					prot = "ro"
				}
			}
		}
	}
	return prot
}

// checkProtectedExe fails create when the init runs minirun's binary in a
// way a container could overwrite.
func checkProtectedExe(pid int) error {
	if exeProtection(pid) == "" {
		return fmt.Errorf("the container's init runs a writable minirun binary (CVE-2019-5736)")
	}
	return nil
}
