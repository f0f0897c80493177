package shim

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// idleGCPercent is the idle shim's GOGC: a collection at 20% heap growth.
const idleGCPercent = 20

// ReleaseIdleMemory is what a shim does once its container runs and it has
// nothing left to do but wait: it hands back to the kernel the memory it
// needed only to start.
//
// Two kinds of pages go:
//
//  1. Free Go heap. debug.FreeOSMemory runs a garbage collection and
//     returns every free span to the kernel (madvise MADV_DONTNEED on
//     Linux), instead of letting the scavenger do it over minutes.
//
//  2. The mappings of minirun's own code and read-only data. Starting the
//     shim runs the package initialisers of the whole binary and the
//     create/start path, which touches most of its ~20 MB; the kernel also
//     maps the neighbours of each page it faults in ("fault-around",
//     64 KiB by default, debugfs fault_around_bytes). All of those pages
//     count in the shim's RSS (about 15 MiB of it), although they live
//     once in the page cache and every shim shares them. madvise(2)
//     MADV_DONTNEED on a private file mapping drops the process's
//     page-table entries; the next touch faults the page back in from the
//     page cache (a minor fault, no disk read). What an idle shim touches
//     again is the Go scheduler and the wait loop, about 1 MiB with
//     fault-around, so its RSS shrinks to what it really keeps using
//     (bench/detached-100.sh). Only mappings of the executable without write permission
//     are dropped: their contents always equal the file, and the kernel
//     refuses to let anyone write to a running executable (ETXTBSY), so a
//     page read back is the page that was dropped. A writable mapping
//     (.data, .bss) holds the program's variables and is never touched.
//
// It returns the number of bytes of mappings it dropped.
//
// It also sets the garbage collector's target to idleGCPercent.
func ReleaseIdleMemory() (int64, error) {
	// From here on the heap grows by little at a time (stdio, control
	// requests): collecting at 20% growth instead of 100% keeps it
	// dense for the container's whole life. It was GOGC=20 in the
	// shim's environment, which cost four collections while it started
	// the container (startShim).
	debug.SetGCPercent(idleGCPercent)
	debug.FreeOSMemory()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ranges, err := readOnlyMappings("/proc/self/maps", dev, st.Ino)
	if err != nil {
		return 0, err
	}
	var dropped int64
	for _, r := range ranges {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(r[0]), uintptr(r[1]-r[0]), unix.MADV_DONTNEED); e != 0 {
			return dropped, fmt.Errorf("madvise %#x-%#x: %w", r[0], r[1], e)
		}
		dropped += int64(r[1] - r[0])
	}
	return dropped, nil
}

// readOnlyMappings returns the [start, end) address ranges of the mappings
// of the file (dev "major:minor" in hex, inode ino) that are private and
// not writable, read from a /proc/<pid>/maps file (proc(5): "address perms
// offset dev inode path").
func readOnlyMappings(mapsPath, dev string, ino uint64) ([][2]uint64, error) {
	f, err := os.Open(mapsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue // anonymous mapping
		}
		perms := fields[1]
		if len(perms) != 4 || perms[1] == 'w' || perms[3] != 'p' {
			continue
		}
		if n, err := strconv.ParseUint(fields[4], 10, 64); err != nil || n != ino || fields[3] != dev {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("%s: bad address range %q", mapsPath, fields[0])
		}
		out = append(out, [2]uint64{start, end})
	}
	return out, sc.Err()
}
