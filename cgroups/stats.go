package cgroups

// The detail counters of Stats beyond memory, CPU time and pids: what
// Docker's stats API reports (moby daemon/stats_unix.go reads the same
// files through containerd/cgroups). Every file here is optional: a
// kernel or controller without it leaves its fields zero, so a stats
// request never fails for want of a detail.

import (
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of v1's cpuacct.stat: USER_HZ, 100 on every Linux
// architecture minirun builds for (sysconf(_SC_CLK_TCK), proc(5)).
const userHZ = 100

// readFlat reads a flat-keyed file ("key value" per line) whole.
func readFlat(path string) map[string]uint64 {
	s, err := readFile(path)
	if err != nil {
		return nil
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// parseMajMin reads "8:0".
func parseMajMin(s string) (uint64, uint64, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 64)
	min, err2 := strconv.ParseUint(b, 10, 64)
	return maj, min, err1 == nil && err2 == nil
}

// parseBlkioV1 reads a v1 blkio.throttle.* file: "8:0 Read 4096" lines,
// and a last "Total N" line that is no device's (skipped).
func parseBlkioV1(s string) []IOEntry {
	var out []IOEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := parseMajMin(f[0])
		v, err := strconv.ParseUint(f[2], 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, IOEntry{Major: maj, Minor: min, Op: f[1], Value: v})
	}
	return out
}

// parseIOStatV2 reads v2's io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4
// dbytes=5 dios=6" per device, into bytes and operations by "read",
// "write" and "discard".
func parseIOStatV2(s string) (bytes, ops []IOEntry) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := parseMajMin(f[0])
		if !ok {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			e := IOEntry{Major: maj, Minor: min, Value: n}
			switch k {
			case "rbytes", "rios":
				e.Op = "read"
			case "wbytes", "wios":
				e.Op = "write"
			case "dbytes", "dios":
				e.Op = "discard"
			default:
				continue
			}
			if strings.HasSuffix(k, "bytes") {
				bytes = append(bytes, e)
			} else {
				ops = append(ops, e)
			}
		}
	}
	return bytes, ops
}

// v1Details fills the detail counters from the v1 hierarchies mounted.
func (m *v1Manager) v1Details(s *Stats) {
	if dir, err := m.dir("cpuacct"); err == nil {
		if st := readFlat(filepath.Join(dir, "cpuacct.stat")); st != nil {
			s.CPUUser = st["user"] * (1e9 / userHZ)
			s.CPUSystem = st["system"] * (1e9 / userHZ)
		}
	}
	if dir, err := m.dir("cpu"); err == nil {
		if st := readFlat(filepath.Join(dir, "cpu.stat")); st != nil {
			s.CPUPeriods, s.CPUThrottled, s.CPUThrottledTime = st["nr_periods"], st["nr_throttled"], st["throttled_time"]
		}
	}
	if dir, err := m.dir("memory"); err == nil {
		s.MemoryStat = readFlat(filepath.Join(dir, "memory.stat"))
		s.MemoryFailcnt, _ = readUint(filepath.Join(dir, "memory.failcnt"))
	}
	if dir, err := m.dir("blkio"); err == nil {
		// The _recursive files count the group's children too (a
		// container makes none, but Docker reads these); older kernels
		// have only the plain ones.
		for _, f := range []struct {
			name string
			dst  *[]IOEntry
		}{{"blkio.throttle.io_service_bytes", &s.IOBytes}, {"blkio.throttle.io_serviced", &s.IOOps}} {
			txt, err := readFile(filepath.Join(dir, f.name+"_recursive"))
			if err != nil {
				txt, err = readFile(filepath.Join(dir, f.name))
			}
			if err == nil {
				*f.dst = parseBlkioV1(txt)
			}
		}
	}
}

// v2Details fills the detail counters from the cgroup's v2 files.
func (m *v2Manager) v2Details(s *Stats) {
	d := m.dir()
	if st := readFlat(filepath.Join(d, "cpu.stat")); st != nil {
		s.CPUUser, s.CPUSystem = st["user_usec"]*1000, st["system_usec"]*1000
		s.CPUPeriods, s.CPUThrottled, s.CPUThrottledTime = st["nr_periods"], st["nr_throttled"], st["throttled_usec"]*1000
	}
	s.MemoryStat = readFlat(filepath.Join(d, "memory.stat"))
	if txt, err := readFile(filepath.Join(d, "io.stat")); err == nil {
		s.IOBytes, s.IOOps = parseIOStatV2(txt)
	}
}
