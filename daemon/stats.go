package daemon

// GET /containers/{name}/stats: `docker stats`, from Manager.Sample, the
// reading `minirun stats` takes, in Docker's container.StatsResponse
// shape (moby daemon/stats.go and daemon/stats_unix.go).

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/container"
	ctypes "github.com/moby/moby/api/types/container"
)

// statsInterval is how often a stream sends a sample (dockerd's stats
// collector ticks each second).
const statsInterval = time.Second

// boolParamOr is httputils.BoolValueOrDefault: def when name is absent.
func boolParamOr(r *http.Request, name string, def bool) bool {
	if _, ok := r.URL.Query()[name]; !ok {
		return def
	}
	return boolParam(r, name)
}

// containerStats is GET /containers/{name}/stats?stream=1&one-shot=0.
//
//	stream=true (the default)  a sample a second until the client hangs
//	                           up, each with the one before as precpu
//	stream=false               one sample, taken a second after a first
//	                           one, so precpu_stats is filled and the
//	                           client can compute CPU % (`docker stats
//	                           --no-stream`)
//	stream=false&one-shot=true one sample at once, precpu_stats empty
//
// A container that does not run answers zeroes, as with dockerd.
func (d *Daemon) containerStats(w http.ResponseWriter, r *http.Request) {
	stream := boolParamOr(r, "stream", true)
	oneShot := boolParamOr(r, "one-shot", false)
	if stream && oneShot {
		fail(w, badRequest{errors.New("cannot have stream=true and one-shot=true")})
		return
	}
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if f, ok := w.(http.Flusher); ok {
		flush = f.Flush
	}
	enc := json.NewEncoder(w)
	if !stream && !running(meta) {
		enc.Encode(ctypes.StatsResponse{ID: meta.ID, Name: "/" + meta.Name})
		return
	}
	var prev *ctypes.StatsResponse
	take := func() *ctypes.StatsResponse {
		resp := d.statsOf(meta)
		if prev != nil {
			resp.PreRead, resp.PreCPUStats = prev.Read, prev.CPUStats
		}
		prev = resp
		return resp
	}
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	if !stream {
		if !oneShot {
			take()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
		enc.Encode(take())
		return
	}
	for {
		if err := enc.Encode(take()); err != nil {
			return
		}
		flush()
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		}
		if _, err := d.m.Get(meta.ID); errors.Is(err, container.ErrNotFound) {
			return // removed: nothing more to read
		}
	}
}

// statsOf reads one sample of meta's container in Docker's shape; one
// that does not run (any more) gives zeroes with its id and name.
func (d *Daemon) statsOf(meta *container.Meta) *ctypes.StatsResponse {
	resp := &ctypes.StatsResponse{ID: meta.ID, Name: "/" + meta.Name, OSType: "linux", Read: time.Now()}
	cur, s, err := d.m.Sample(meta.ID)
	if err != nil {
		return resp
	}
	resp.Name, resp.Read = "/"+cur.Name, s.Read
	c := s.Cgroup
	resp.CPUStats = ctypes.CPUStats{
		CPUUsage:       ctypes.CPUUsage{TotalUsage: c.CPUUsage, UsageInKernelmode: c.CPUSystem, UsageInUsermode: c.CPUUser},
		SystemUsage:    s.SystemCPU,
		OnlineCPUs:     s.OnlineCPUs,
		ThrottlingData: ctypes.ThrottlingData{Periods: c.CPUPeriods, ThrottledPeriods: c.CPUThrottled, ThrottledTime: c.CPUThrottledTime},
	}
	resp.MemoryStats = ctypes.MemoryStats{Usage: c.MemoryUsage, MaxUsage: c.MemoryPeak, Stats: c.MemoryStat, Failcnt: c.MemoryFailcnt}
	// No limit is the machine's memory, as dockerd reports it: `docker
	// stats` prints it as the LIMIT column.
	total := uint64(memTotal())
	resp.MemoryStats.Limit = total
	if c.MemoryLimit >= 0 && (total == 0 || uint64(c.MemoryLimit) < total) {
		resp.MemoryStats.Limit = uint64(c.MemoryLimit)
	}
	resp.PidsStats = ctypes.PidsStats{Current: c.PidsCurrent}
	if c.PidsLimit > 0 {
		resp.PidsStats.Limit = uint64(c.PidsLimit)
	}
	if s.Networks != nil {
		resp.Networks = map[string]ctypes.NetworkStats{}
		for name, n := range s.Networks {
			resp.Networks[name] = ctypes.NetworkStats{RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors, RxDropped: n.RxDropped,
				TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDropped: n.TxDropped}
		}
	}
	resp.BlkioStats = ctypes.BlkioStats{IoServiceBytesRecursive: blkioEntries(c.IOBytes), IoServicedRecursive: blkioEntries(c.IOOps)}
	return resp
}

func blkioEntries(es []cgroups.IOEntry) []ctypes.BlkioStatEntry {
	var out []ctypes.BlkioStatEntry
	for _, e := range es {
		out = append(out, ctypes.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}
