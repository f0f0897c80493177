package runtime

import (
	"fmt"
	"io"
	"os"
	"strconv"
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
