package daemon

import (
	"errors"
	"net/http"

	"github.com/minirun/minirun/shim"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// containerUpdate is POST /containers/{name}/update: `docker update`. The
// new limits go into the running container's cgroup and into its record,
// through the code `minirun update` runs (container.Manager.Update); a
// stopped container's record alone changes, and its next start applies
// them, as with dockerd.
func (d *Daemon) containerUpdate(w http.ResponseWriter, r *http.Request) {
	var req ctypes.UpdateConfig
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if len(req.Devices) > 0 || len(req.DeviceCgroupRules) > 0 {
		fail(w, badRequest{errors.New("devices cannot be updated: remove and run the container again with --device")})
		return
	}
	res, _, err := resources(req.Resources)
	if err != nil {
		fail(w, err)
		return
	}
	restart := req.RestartPolicy.Name != ""
	if res == nil && !restart {
		fail(w, badRequest{errors.New("you must provide one or more flags when using this command")})
		return
	}
	meta, err := d.m.Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	if restart {
		// The policy lives in the record and in the running shim, which
		// judges the next exit by it (container.Manager.UpdateRestart).
		p := shim.RestartPolicy{Name: string(req.RestartPolicy.Name), MaximumRetryCount: req.RestartPolicy.MaximumRetryCount}
		if err := p.Check(); err != nil {
			fail(w, badRequest{err})
			return
		}
		if err := d.m.UpdateRestart(meta.ID, p); err != nil {
			fail(w, badRequest{err})
			return
		}
	}
	if res != nil {
		if err := d.m.Update(meta.ID, res, d.cfg.Trace); err != nil {
			fail(w, err)
			return
		}
	}
	d.emitContainer(meta, events.ActionUpdate, nil)
	writeJSON(w, http.StatusOK, ctypes.UpdateResponse{Warnings: []string{}})
}

// resourcesOf is the inverse of resources: a container's recorded cgroup
// limits in the shape inspect shows them (HostConfig.Memory, …). --cpus
// was recorded as a CFS quota and period, and shows as those.
func resourcesOf(r *specs.LinuxResources) ctypes.Resources {
	var out ctypes.Resources
	if r == nil {
		return out
	}
	if m := r.Memory; m != nil {
		out.Memory = deref(m.Limit)
		out.MemorySwap = deref(m.Swap)
		out.MemoryReservation = deref(m.Reservation)
		out.OomKillDisable = m.DisableOOMKiller
	}
	if c := r.CPU; c != nil {
		out.CPUShares = int64(deref(c.Shares))
		out.CPUQuota = deref(c.Quota)
		out.CPUPeriod = int64(deref(c.Period))
		out.CpusetCpus, out.CpusetMems = c.Cpus, c.Mems
	}
	if r.Pids != nil {
		out.PidsLimit = r.Pids.Limit
	}
	if r.BlockIO != nil {
		out.BlkioWeight = deref(r.BlockIO.Weight)
	}
	return out
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
