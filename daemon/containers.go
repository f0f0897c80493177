package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	"github.com/moby/moby/api/types/blkiodev"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	ntypes "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// containerCreate is POST /containers/create?name=NAME: `docker create`,
// and the first request of `docker run`. The container is made by
// Manager.Create, the code `minirun create`-then-start shares with run.
func (d *Daemon) containerCreate(w http.ResponseWriter, r *http.Request) {
	var req ctypes.CreateRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	o, err := runOpts(r.URL.Query().Get("name"), &req)
	if err != nil {
		fail(w, err)
		return
	}
	vols := d.volumeSet()
	meta, err := d.m.Create(o, d.cfg.Trace)
	if err != nil {
		fail(w, err)
		return
	}
	d.emitVolumeChanges(vols, d.volumeSet()) // -v NAME:… made NAME
	d.emitContainer(meta, events.ActionCreate, nil)
	writeJSON(w, http.StatusCreated, ctypes.CreateResponse{ID: meta.ID, Warnings: []string{}})
}

// runOpts translates a create request into the options `minirun run`'s
// flags fill: each field below is the flag the docker client read it from.
// What minirun cannot do yet is refused, not ignored: a client asking for
// a memory limit must not get a container without one.
func runOpts(name string, req *ctypes.CreateRequest) (container.RunOpts, error) {
	c := req.Config
	if c == nil {
		return container.RunOpts{}, badRequest{errors.New("config cannot be empty in order to create a container")}
	}
	if c.Image == "" {
		return container.RunOpts{}, badRequest{errors.New("no image given: Config.Image is empty")}
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &ctypes.HostConfig{}
	}
	o := container.RunOpts{
		Name: strings.TrimPrefix(name, "/"), Image: c.Image, Cmd: c.Cmd, Env: c.Env,
		Workdir: c.WorkingDir, Hostname: c.Hostname, User: c.User,
		TTY: c.Tty, Interactive: c.OpenStdin, Remove: hc.AutoRemove, Labels: c.Labels,
	}
	if c.Entrypoint != nil { // --entrypoint: replaces the image's, and its CMD
		e := ""
		if len(c.Entrypoint) > 0 {
			e = c.Entrypoint[0]
			o.Cmd = append(append([]string{}, c.Entrypoint[1:]...), c.Cmd...)
		}
		o.Entrypoint = &e
	}
	for p := range c.Volumes { // -v /path: anonymous volumes
		o.Volumes = append(o.Volumes, p)
	}
	sort.Strings(o.Volumes)
	o.Volumes = append(o.Volumes, hc.Binds...) // -v SRC:DST[:ro]
	o.VolumesFrom = hc.VolumesFrom
	for path, opts := range hc.Tmpfs {
		if opts != "" {
			path += ":" + opts
		}
		o.Tmpfs = append(o.Tmpfs, path)
	}
	for _, mt := range hc.Mounts { // --mount
		s := fmt.Sprintf("type=%s,source=%s,target=%s", mt.Type, mt.Source, mt.Target)
		if mt.ReadOnly {
			s += ",readonly"
		}
		if mt.Type != mount.TypeBind && mt.Type != mount.TypeVolume && mt.Type != mount.TypeTmpfs {
			return o, badRequest{fmt.Errorf("mount type %q is not supported", mt.Type)}
		}
		o.Mounts = append(o.Mounts, s)
	}
	restart := string(hc.RestartPolicy.Name)
	if hc.RestartPolicy.MaximumRetryCount > 0 {
		restart += ":" + strconv.Itoa(hc.RestartPolicy.MaximumRetryCount)
	}
	var err error
	if o.Restart, err = shim.ParseRestart(restart); err != nil {
		return o, badRequest{err}
	}
	if o.Remove && o.Restart.Name != "no" {
		return o, badRequest{errors.New("conflicting options: cannot specify both --restart and --rm")}
	}
	o.Security = container.SecurityOpts{CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, Privileged: hc.Privileged,
		SecurityOpt: hc.SecurityOpt, ReadOnly: hc.ReadonlyRootfs, GroupAdd: hc.GroupAdd}
	mode := string(hc.NetworkMode)
	if mode == "" || mode == "default" {
		mode = "bridge"
	}
	o.Net = container.NetworkOpts{Network: mode}
	if req.NetworkingConfig != nil {
		if es := req.NetworkingConfig.EndpointsConfig[mode]; es != nil {
			o.Net.Aliases = es.Aliases
			if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
				o.Net.IP = es.IPAMConfig.IPv4Address.String()
			}
		}
	}
	for port, binds := range hc.PortBindings { // -p
		for _, b := range binds {
			spec := port.Port() + "/" + string(port.Proto())
			if b.HostPort != "" || b.HostIP.IsValid() {
				spec = b.HostPort + ":" + spec
			}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				spec = b.HostIP.String() + ":" + spec
			}
			ports, err := network.ParsePublish(spec)
			if err != nil {
				return o, badRequest{err}
			}
			o.Net.Ports = append(o.Net.Ports, ports...)
		}
	}
	o.PublishAll = hc.PublishAllPorts
	for p := range c.ExposedPorts {
		o.Expose = append(o.Expose, p.String())
	}
	sort.Strings(o.Expose)
	if o.Resources, o.Devices, err = resources(hc.Resources); err != nil {
		return o, err
	}
	return o, nil
}

// resources turns the request's cgroup limits into the flags `minirun
// run` reads (-m, --memory-swap, --memory-reservation, --cpus,
// --cpu-shares, --cpu-quota, --cpu-period, --cpuset-cpus/-mems,
// --pids-limit, --blkio-weight, --blkio-weight-device, --device,
// --device-cgroup-rule, --device-read-bps and the other three throttles),
// checked by the same ResourceFlags.Resources, and returns the host
// devices to add. The limits are nil when none is set.
func resources(res ctypes.Resources) (*specs.LinuxResources, []specs.LinuxDevice, error) {
	f := container.ResourceFlags{CPUShares: res.CPUShares, CPUQuota: res.CPUQuota, CPUPeriod: res.CPUPeriod,
		CpusetCpus: res.CpusetCpus, CpusetMems: res.CpusetMems, BlkioWeight: int64(res.BlkioWeight),
		DeviceCgroupRules: res.DeviceCgroupRules}
	// --blkio-weight-device comes as {Path, Weight}: back to PATH:WEIGHT.
	for _, w := range res.BlkioWeightDevice {
		if w == nil {
			continue
		}
		f.BlkioWeightDevice = append(f.BlkioWeightDevice, w.Path+":"+strconv.Itoa(int(w.Weight)))
	}
	if res.Memory != 0 {
		f.Memory = strconv.FormatInt(res.Memory, 10)
	}
	// The client sends 0 for a --memory-swap not given (the default, twice
	// the memory) and -1 for unlimited swap.
	if res.MemorySwap != 0 && res.Memory != 0 {
		f.MemorySwap = strconv.FormatInt(res.MemorySwap, 10)
	}
	if res.MemoryReservation != 0 {
		f.MemoryReservation = strconv.FormatInt(res.MemoryReservation, 10)
	}
	if res.OomKillDisable != nil {
		f.OOMKillDisable = *res.OomKillDisable
	}
	if res.NanoCPUs != 0 {
		f.CPUs = strconv.FormatFloat(float64(res.NanoCPUs)/1e9, 'f', -1, 64)
	}
	if res.PidsLimit != nil {
		f.PidsLimit = *res.PidsLimit
	}
	// The client sends --device as {PathOnHost, PathInContainer,
	// CgroupPermissions} and each throttle as {Path, Rate}: back to the
	// flags' own HOST:CONTAINER:rwm and PATH:RATE.
	for _, d := range res.Devices {
		f.Devices = append(f.Devices, d.PathOnHost+":"+d.PathInContainer+":"+d.CgroupPermissions)
	}
	for _, t := range []struct {
		from []*blkiodev.ThrottleDevice
		to   *[]string
	}{
		{res.BlkioDeviceReadBps, &f.DeviceReadBps}, {res.BlkioDeviceWriteBps, &f.DeviceWriteBps},
		{res.BlkioDeviceReadIOps, &f.DeviceReadIOps}, {res.BlkioDeviceWriteIOps, &f.DeviceWriteIOps},
	} {
		for _, d := range t.from {
			*t.to = append(*t.to, d.Path+":"+strconv.FormatUint(d.Rate, 10))
		}
	}
	r, devs, err := f.Resources()
	if err != nil {
		return nil, nil, badRequest{err}
	}
	if r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil && len(r.Devices) == 0 {
		return nil, nil, nil
	}
	return r, devs, nil
}

// containerStart is POST /containers/{name}/start. Attaches that came
// first (docker run, docker start -a) are connected before the container
// runs: the shim holds it until a client is on its socket.
func (d *Daemon) containerStart(w http.ResponseWriter, r *http.Request) {
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if st := meta.State.Status; st == "running" || st == "restarting" {
		w.WriteHeader(http.StatusNotModified) // dockerd: already started
		return
	}
	pending := d.takePending(meta.ID)
	started, err := d.m.StartExplained(meta.ID, len(pending) > 0, d.cfg.Trace)
	if err != nil {
		for _, p := range pending {
			p.fail(err)
		}
		// dockerd removes an --rm container whose start failed: its
		// client waits for that (condition=removed) before it reports.
		if meta.HostConfig.AutoRemove {
			if rerr := d.m.RemoveWithVolumes(meta.ID, true, true); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		fail(w, err)
		return
	}
	d.startedEvents(started)
	for _, p := range pending {
		p.go_()
	}
	w.WriteHeader(http.StatusNoContent)
}

// startedEvents emits a start's events and watches the container's shim
// for its exits, registered before the pending attaches release the
// container (watch). A container whose shim is already gone (it ran and
// ended in the moment between) is told by its record.
func (d *Daemon) startedEvents(meta *container.Meta) {
	d.emitStarted(meta)
	if d.watch(meta.ID) {
		return
	}
	if cur, err := d.m.Get(meta.ID); err == nil && cur.State.Status == "exited" {
		d.emitExit(cur, &shim.Exit{Code: cur.State.ExitCode, At: cur.State.FinishedAt, OOMKilled: cur.State.OOMKilled})
	} else if errors.Is(err, container.ErrNotFound) {
		d.emitDestroy(meta)
	}
}

// stopTimeout is a stop's or restart's ?t=SECONDS, how long the container
// has between SIGTERM and SIGKILL: 10 s when absent, as dockerd; a
// negative t is no wait at all. A t that is no number is the client's
// error (400).
func stopTimeout(r *http.Request) (time.Duration, error) {
	t := r.URL.Query().Get("t")
	if t == "" {
		return 10 * time.Second, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0, badRequest{fmt.Errorf("invalid value for t: %q", t)}
	}
	return time.Duration(max(n, 0)) * time.Second, nil
}

// containerStop is POST /containers/{name}/stop?t=SECONDS: Manager.Stop,
// SIGTERM then SIGKILL after the grace period (10 s by default, as
// dockerd's; the container's StopTimeout is not kept by minirun).
func (d *Daemon) containerStop(w http.ResponseWriter, r *http.Request) {
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if st := meta.State.Status; st != "running" && st != "restarting" {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	timeout, err := stopTimeout(r)
	if err != nil {
		fail(w, err)
		return
	}
	d.emitContainer(meta, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(unix.SIGTERM))})
	if err := d.m.Stop(meta.ID, timeout); err != nil {
		fail(w, err)
		return
	}
	d.awaitWatcher(meta.ID, 2*time.Second) // die before stop, as dockerd tells them
	d.emitContainer(meta, events.ActionStop, nil)
	w.WriteHeader(http.StatusNoContent)
}

// containerKill is POST /containers/{name}/kill?signal=SIG (SIGKILL when
// absent): Manager.Kill.
func (d *Daemon) containerKill(w http.ResponseWriter, r *http.Request) {
	sig := unix.SIGKILL
	if s := r.URL.Query().Get("signal"); s != "" {
		var err error
		if sig, err = runtime.ParseSignal(s); err != nil {
			fail(w, badRequest{err})
			return
		}
	}
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if meta.State.Status != "running" {
		fail(w, conflict{fmt.Errorf("cannot kill container: %s: container %s is not running", r.PathValue("name"), meta.ID)})
		return
	}
	if err := d.m.Kill(meta.ID, sig); err != nil {
		fail(w, err)
		return
	}
	d.emitContainer(meta, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	w.WriteHeader(http.StatusNoContent)
}

// containerDelete is DELETE /containers/{name}?force=1&v=1: `docker rm
// [-f] [-v]`, Manager.RemoveWithVolumes.
func (d *Daemon) containerDelete(w http.ResponseWriter, r *http.Request) {
	if boolParam(r, "link") {
		fail(w, badRequest{errors.New("links are not supported")})
		return
	}
	name := r.PathValue("name")
	meta, err := d.m.Get(name)
	if err == nil {
		// An attach waiting for a start that will never come ends now.
		for _, p := range d.takePending(meta.ID) {
			p.fail(fmt.Errorf("container %s was removed", meta.Name))
		}
	}
	vols := d.volumeSet()
	if meta != nil && running(meta) && boolParam(r, "force") {
		// rm -f of a running container kills it first (SIGKILL), as
		// dockerd tells.
		d.emitContainer(meta, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(unix.SIGKILL))})
	}
	if err := d.m.RemoveWithVolumes(name, boolParam(r, "force"), boolParam(r, "v")); err != nil {
		if errors.Is(err, container.ErrNotFound) {
			err = fmt.Errorf("No such container: %s", name) //nolint:staticcheck // Docker's words
			writeError(w, http.StatusNotFound, err)
			return
		}
		fail(w, err)
		return
	}
	if meta != nil {
		d.awaitWatcher(meta.ID, 2*time.Second) // rm -f: its die first
		d.emitDestroy(meta)
		d.emitVolumeChanges(vols, d.volumeSet()) // rm -v
	}
	w.WriteHeader(http.StatusNoContent)
}

// conflict marks an error as a conflict with the object's state (409).
type conflict struct{ error }

func (e conflict) Unwrap() error { return e.error }

// containerList is GET /containers/json?all=1&filters=JSON: `docker ps`,
// with ps's own selection (container.Filter).
func (d *Daemon) containerList(w http.ResponseWriter, r *http.Request) {
	args, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		fail(w, err)
		return
	}
	f := container.Filter{All: boolParam(r, "all")}
	for k, vs := range args {
		switch k {
		case "status":
			f.Status = vs
		case "name":
			f.Name = vs
		case "id":
			f.ID = vs
		case "label":
			f.Label = vs
		default:
			fail(w, badRequest{fmt.Errorf("invalid filter '%s'", k)})
			return
		}
	}
	all, err := d.m.ListFiltered(f)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]ctypes.Summary, 0, len(all))
	for _, ct := range all {
		s := ctypes.Summary{
			ID: ct.ID, Names: []string{"/" + ct.Name}, Image: ct.ImageRef, ImageID: ct.Image,
			Command: strings.Join(append([]string{ct.Path}, ct.Args...), " "),
			Created: ct.Created.Unix(), Labels: ct.Config.Labels,
			State: ctypes.ContainerState(container.StateName(ct)), Status: container.StatusText(ct),
			Mounts: mountPoints(ct), Ports: portSummaries(ct),
			NetworkSettings: &ctypes.NetworkSettingsSummary{Networks: endpoints(ct)},
		}
		s.HostConfig.NetworkMode = ct.HostConfig.Network.Network
		out = append(out, s)
	}
	writeJSON(w, http.StatusOK, out)
}

// parseFilters reads the filters query parameter: a JSON object of
// key → {value: true} (API ≥ 1.22), or key → [values] (the older form
// some clients still send).
func parseFilters(s string) (map[string][]string, error) {
	out := map[string][]string{}
	if s == "" {
		return out, nil
	}
	var byMap map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &byMap); err == nil {
		for k, vs := range byMap {
			for v, on := range vs {
				if on {
					out[k] = append(out[k], v)
				}
			}
			sort.Strings(out[k])
		}
		return out, nil
	}
	var byList map[string][]string
	if err := json.Unmarshal([]byte(s), &byList); err != nil {
		return nil, badRequest{fmt.Errorf("invalid filters: %w", err)}
	}
	return byList, nil
}

// containerInspect is GET /containers/{name}/json: `docker inspect`, the
// container's record in Docker's shape, GraphDriver's overlay
// directories included (the course's slide on LowerDir/UpperDir).
func (d *Daemon) containerInspect(w http.ResponseWriter, r *http.Request) {
	ct, err := d.m.Get(r.PathValue("name"))
	if err != nil {
		if errors.Is(err, container.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Errorf("No such container: %s", r.PathValue("name"))) //nolint:staticcheck // Docker's words
			return
		}
		fail(w, err)
		return
	}
	st := ct.State
	resp := ctypes.InspectResponse{
		ID: ct.ID, Created: ct.Created.Format(time.RFC3339Nano), Path: ct.Path, Args: ct.Args,
		State: &ctypes.State{
			Status: ctypes.ContainerState(container.StateName(ct)), Running: st.Status == "running" && !st.Paused,
			Paused: st.Paused, Restarting: st.Restarting, OOMKilled: st.OOMKilled, Dead: st.Status == "dead",
			Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: st.StartedAt.Format(time.RFC3339Nano), FinishedAt: st.FinishedAt.Format(time.RFC3339Nano),
		},
		Image: ct.Image, LogPath: ct.LogPath, Name: "/" + ct.Name, RestartCount: ct.RestartCount,
		Driver: ct.GraphDriver.Name, Platform: "linux",
		HostConfig: &ctypes.HostConfig{
			AutoRemove:    ct.HostConfig.AutoRemove,
			NetworkMode:   ctypes.NetworkMode(ct.HostConfig.Network.Network),
			RestartPolicy: ctypes.RestartPolicy{Name: ctypes.RestartPolicyMode(ct.HostConfig.RestartPolicy.Name), MaximumRetryCount: ct.HostConfig.RestartPolicy.MaximumRetryCount},
			LogConfig:     ctypes.LogConfig{Type: "json-file"},
			Resources:     resourcesOf(ct.HostConfig.Resources),
		},
		GraphDriver: &storage.DriverData{Name: ct.GraphDriver.Name, Data: ct.GraphDriver.Data},
		Mounts:      mountPoints(ct),
		Config: &ctypes.Config{
			Hostname: ct.Config.Hostname, User: ct.Config.User, Env: ct.Config.Env, Cmd: ct.Config.Cmd,
			Entrypoint: ct.Config.Entrypoint, WorkingDir: ct.Config.WorkingDir, Tty: ct.Config.Tty,
			OpenStdin: ct.Config.OpenStdin, Image: ct.Config.Image, Labels: ct.Config.Labels,
		},
		NetworkSettings: &ctypes.NetworkSettings{Networks: endpoints(ct), Ports: portMap(ct)},
	}
	if dir := containerDir(ct); dir != "" {
		resp.ResolvConfPath, resp.HostnamePath, resp.HostsPath = dir+"/resolv.conf", dir+"/hostname", dir+"/hosts"
	}
	writeJSON(w, http.StatusOK, resp)
}

// containerDir is the container's directory under the data root: where
// its json log lives.
func containerDir(ct *container.Meta) string {
	if i := strings.LastIndexByte(ct.LogPath, '/'); i > 0 {
		return ct.LogPath[:i]
	}
	return ""
}

func mountPoints(ct *container.Meta) []ctypes.MountPoint {
	out := []ctypes.MountPoint{}
	for _, mp := range ct.Mounts {
		m := ctypes.MountPoint{Type: mount.Type(mp.Type), Name: mp.Name, Source: mp.Source, Destination: mp.Destination, RW: mp.RW}
		if mp.Type == "volume" {
			m.Driver = "local"
		}
		out = append(out, m)
	}
	return out
}

func endpoints(ct *container.Meta) map[string]*ntypes.EndpointSettings {
	out := map[string]*ntypes.EndpointSettings{}
	for name, ep := range ct.NetworkSettings.Networks {
		es := &ntypes.EndpointSettings{NetworkID: ep.NetworkID, EndpointID: ep.EndpointID, Aliases: ep.Aliases}
		if p, err := netip.ParsePrefix(ep.IPv4Address); err == nil {
			es.IPAddress, es.IPPrefixLen = p.Addr(), p.Bits()
		}
		if g, err := netip.ParseAddr(ep.Gateway); err == nil {
			es.Gateway = g
		}
		if mac, err := net.ParseMAC(ep.MacAddress); err == nil {
			es.MacAddress = ntypes.HardwareAddr(mac)
		}
		out[name] = es
	}
	return out
}

// portMap is inspect's NetworkSettings.Ports, which `docker port` reads:
// each published container port with its host bindings.
func portMap(ct *container.Meta) ntypes.PortMap {
	out := ntypes.PortMap{}
	for _, ps := range portSummaries(ct) {
		p, ok := ntypes.PortFrom(ps.PrivatePort, ntypes.IPProtocol(ps.Type))
		if !ok {
			continue
		}
		out[p] = append(out[p], ntypes.PortBinding{HostIP: ps.IP, HostPort: strconv.Itoa(int(ps.PublicPort))})
	}
	return out
}

func portSummaries(ct *container.Meta) []ctypes.PortSummary {
	out := []ctypes.PortSummary{}
	for _, ep := range ct.NetworkSettings.Networks {
		for _, p := range ep.Ports {
			ps := ctypes.PortSummary{PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Proto}
			if a, err := netip.ParseAddr(p.HostIP); err == nil {
				ps.IP = a
			} else {
				ps.IP = netip.IPv4Unspecified()
			}
			out = append(out, ps)
		}
	}
	return out
}
