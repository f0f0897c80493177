package container

// Stats: one use case for `minirun stats` and the daemon's GET
// /containers/{id}/stats. A Sample is one reading of a running
// container's counters; CPU % needs two (CPU time is a counter since the
// cgroup was made), which SampleStats takes one interval apart for the
// CLI, and the daemon takes one per second of its stream.

import (
	"bufio"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/cgroups"
)

// Sample is one reading of a running container.
type Sample struct {
	// Read is when the counters were read.
	Read time.Time
	// Cgroup are the container's cgroup counters.
	Cgroup *cgroups.Stats
	// Networks are the counters of the container's network interfaces
	// (its own network namespace's, loopback left out), by name; nil for
	// a container on the host's network, whose interfaces are the host's.
	Networks map[string]NetDev
	// SystemCPU is the CPU time all of the host's CPUs have spent since
	// boot, in nanoseconds (/proc/stat): Docker's CPU % is the container's
	// CPU time over this, times OnlineCPUs, between two samples.
	SystemCPU uint64
	// OnlineCPUs is how many CPUs this process may run on.
	OnlineCPUs uint32
}

// NetDev is one interface's counters, as /proc/net/dev shows them.
type NetDev struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// Sample reads the counters of the running container ref. A container
// that does not run has no cgroup to read: an error.
func (m *Manager) Sample(ref string) (*Meta, *Sample, error) {
	meta, ctr, err := m.Runtime(ref)
	if err != nil {
		return nil, nil, err
	}
	if meta.State.Status != "running" {
		return meta, nil, fmt.Errorf("container %s is not running", meta.Name)
	}
	st, err := ctr.Stats()
	if err != nil {
		return meta, nil, err
	}
	s := &Sample{Read: time.Now(), Cgroup: st, OnlineCPUs: uint32(goruntime.NumCPU())}
	s.SystemCPU, _ = systemCPU()
	if meta.HostConfig.Network.Network != "host" && meta.State.Pid > 0 {
		// /proc/PID/net/dev is the table of PID's network namespace: read
		// from the host, no setns needed.
		if nets, err := readNetDev(fmt.Sprintf("/proc/%d/net/dev", meta.State.Pid)); err == nil {
			s.Networks = nets
		}
	}
	return meta, s, nil
}

// clockTicks is USER_HZ, the unit of /proc/stat (proc(5)).
const clockTicks = 100

// systemCPU sums the first line of /proc/stat (user, nice, system, idle,
// iowait, irq, softirq: the fields Docker adds) into nanoseconds.
func systemCPU() (uint64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range fields[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %q is not a number", v)
			}
			ticks += n
		}
		return ticks * (1e9 / clockTicks), nil
	}
	return 0, fmt.Errorf("/proc/stat has no cpu line")
}

// readNetDev reads a /proc/net/dev table: two header lines, then
// "iface: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed
// multicast tx_bytes tx_packets tx_errs tx_drop …" per interface.
func readNetDev(path string) (map[string]NetDev, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseNetDev(string(b)), nil
}

func parseNetDev(s string) map[string]NetDev {
	out := map[string]NetDev{}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if name == "lo" || len(f) < 12 {
			continue
		}
		var n [12]uint64
		bad := false
		for i := range n {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				bad = true
				break
			}
			n[i] = v
		}
		if bad {
			continue
		}
		out[name] = NetDev{RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11]}
	}
	return out
}

// CPUPercent is the CPU a container used between two samples of it, in
// percent of one CPU (100% = one whole CPU busy), over wall time.
func CPUPercent(before, after *Sample) float64 {
	wall := after.Read.Sub(before.Read)
	if wall <= 0 || after.Cgroup.CPUUsage < before.Cgroup.CPUUsage {
		return 0
	}
	return 100 * float64(after.Cgroup.CPUUsage-before.Cgroup.CPUUsage) / float64(wall.Nanoseconds())
}

// StatsRow is one line of `minirun stats`.
type StatsRow struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CPUPercent float64 `json:"cpuPercent"`
	MemUsage   uint64  `json:"memUsage"`
	MemLimit   int64   `json:"memLimit"`
	Pids       uint64  `json:"pids"`
}

// SampleStats reads every running container's counters (or those of
// refs) twice, interval apart, and returns a row for each.
func (m *Manager) SampleStats(refs []string, interval time.Duration) ([]StatsRow, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, a := range refs {
		meta, err := m.Get(a)
		if err != nil {
			return nil, err
		}
		want[meta.ID] = true
	}
	type first struct {
		meta *Meta
		s    *Sample
	}
	var fs []first
	for _, meta := range all {
		if meta.State.Status != "running" || (len(want) > 0 && !want[meta.ID]) {
			continue
		}
		if _, s, err := m.Sample(meta.ID); err == nil {
			fs = append(fs, first{meta, s})
		}
	}
	time.Sleep(interval)
	var rows []StatsRow
	for _, f := range fs {
		_, s, err := m.Sample(f.meta.ID)
		if err != nil {
			continue // it ended meanwhile
		}
		rows = append(rows, StatsRow{
			ID: f.meta.ID, Name: f.meta.Name, CPUPercent: CPUPercent(f.s, s),
			MemUsage: s.Cgroup.MemoryUsage, MemLimit: s.Cgroup.MemoryLimit, Pids: s.Cgroup.PidsCurrent,
		})
	}
	return rows, nil
}
