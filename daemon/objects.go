package daemon

// Networks and volumes: each endpoint calls the store the CLI's
// `network` and `volume` commands call (images: images.go).

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/volume"
	"github.com/moby/moby/api/types/events"
	ntypes "github.com/moby/moby/api/types/network"
	vtypes "github.com/moby/moby/api/types/volume"
)

// networks opens the network manager of the data root, as `minirun
// network` does, with the cluster store when the daemon has one.
func (d *Daemon) networks() (*network.Manager, error) {
	nm, err := network.Open(d.m.DataRoot, nil)
	if err != nil {
		return nil, err
	}
	if d.cfg.Cluster != nil {
		nm.SetCluster(d.cfg.Cluster.Net)
	}
	return nm, nil
}

// networkList is GET /networks?filters=JSON: `docker network ls`, with
// dockerd's filters driver, id (a prefix), name (a substring), scope and
// type (builtin or custom); several values of one filter are alternatives.
func (d *Daemon) networkList(w http.ResponseWriter, r *http.Request) {
	args, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		fail(w, err)
		return
	}
	for k := range args {
		switch k {
		case "driver", "id", "name", "scope", "type":
		default:
			fail(w, badRequest{fmt.Errorf("invalid filter '%s'", k)})
			return
		}
	}
	nm, err := d.networks()
	if err != nil {
		fail(w, err)
		return
	}
	nets, err := nm.List()
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]ntypes.Summary, 0, len(nets))
	for _, n := range nets {
		if networkMatches(n, args) {
			out = append(out, ntypes.Summary{Network: networkOf(n)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// networkMatches applies network ls's filters to one network.
func networkMatches(n *network.Network, args map[string][]string) bool {
	typ := "custom"
	if n.Name == network.DefaultNetwork || n.Name == network.HostNetwork || n.Name == network.NoneNetwork {
		typ = "builtin"
	}
	for k, vals := range args {
		hit := false
		for _, v := range vals {
			switch k {
			case "driver":
				hit = hit || n.Driver == v
			case "id":
				hit = hit || strings.HasPrefix(n.ID, v)
			case "name":
				hit = hit || strings.Contains(n.Name, v)
			case "scope":
				hit = hit || n.Scope == v
			case "type":
				hit = hit || typ == v
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// networkOf is minirun's network record in Docker's shape.
func networkOf(n *network.Network) ntypes.Network {
	out := ntypes.Network{Name: n.Name, ID: n.ID, Created: n.Created, Scope: n.Scope, Driver: n.Driver,
		EnableIPv4: true, Internal: n.Internal, Attachable: n.Attachable, Options: n.Options, Labels: map[string]string{},
		IPAM: ntypes.IPAM{Driver: n.IPAM.Driver}}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	for _, c := range n.IPAM.Config {
		var ic ntypes.IPAMConfig
		ic.Subnet, _ = netip.ParsePrefix(c.Subnet)
		ic.Gateway, _ = netip.ParseAddr(c.Gateway)
		out.IPAM.Config = append(out.IPAM.Config, ic)
	}
	return out
}

// networkInspect is GET /networks/{id}: `docker network inspect`, with
// the network's endpoints.
func (d *Daemon) networkInspect(w http.ResponseWriter, r *http.Request) {
	nm, err := d.networks()
	if err != nil {
		fail(w, err)
		return
	}
	n, err := nm.Get(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	resp := ntypes.Inspect{Network: networkOf(n), Containers: map[string]ntypes.EndpointResource{}}
	for id, ep := range n.Containers {
		er := ntypes.EndpointResource{Name: ep.Name, EndpointID: ep.EndpointID}
		er.IPv4Address, _ = netip.ParsePrefix(ep.IPv4Address)
		if mac, err := net.ParseMAC(ep.MacAddress); err == nil {
			er.MacAddress = ntypes.HardwareAddr(mac)
		}
		resp.Containers[id] = er
	}
	writeJSON(w, http.StatusOK, resp)
}

// networkCreate is POST /networks/create: `docker network create`.
func (d *Daemon) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req ntypes.CreateRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Name == "" {
		fail(w, badRequest{errors.New("network name is required")})
		return
	}
	o := network.CreateOpts{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable, Options: req.Options}
	if o.Driver == "" {
		o.Driver = "bridge"
	}
	if o.Options == nil {
		o.Options = map[string]string{}
	}
	if req.IPAM != nil {
		o.IPAMDriver = req.IPAM.Driver
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			if c := req.IPAM.Config[0]; c.Subnet.IsValid() {
				o.Subnet = c.Subnet.String()
				if c.Gateway.IsValid() {
					o.Gateway = c.Gateway.String()
				}
			}
		default:
			fail(w, badRequest{errors.New("minirun's networks have one subnet")})
			return
		}
	}
	nm, err := d.networks()
	if err != nil {
		fail(w, err)
		return
	}
	n, err := nm.Create(o)
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "exists"):
			err = conflict{err}
		case strings.Contains(msg, "pre-defined"):
			err = forbidden{err}
		case strings.HasPrefix(msg, "invalid"), strings.HasPrefix(msg, "unknown"), strings.HasPrefix(msg, "--"):
			err = badRequest{err}
		}
		fail(w, err)
		return
	}
	d.emit(events.NetworkEventType, events.ActionCreate, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	writeJSON(w, http.StatusCreated, ntypes.CreateResponse{ID: n.ID})
}

// networkDelete is DELETE /networks/{id}: `docker network rm`.
func (d *Daemon) networkDelete(w http.ResponseWriter, r *http.Request) {
	nm, err := d.networks()
	if err != nil {
		fail(w, err)
		return
	}
	n := d.networkOfRef(r.PathValue("id"))
	if err := nm.Remove(r.PathValue("id")); err != nil {
		if strings.Contains(err.Error(), "pre-defined") {
			err = forbidden{err}
		}
		fail(w, err)
		return
	}
	if n != nil {
		d.emit(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	}
	w.WriteHeader(http.StatusNoContent)
}

// forbidden marks what may never be done (403): removing a pre-defined
// network, as dockerd answers.
type forbidden struct{ error }

func (e forbidden) Unwrap() error { return e.error }

// volumes opens the volume store of the data root, as `minirun volume`
// does.
func (d *Daemon) volumes() (*volume.Store, error) {
	return volume.Open(d.m.DataRoot, nil)
}

func volumeOf(v *volume.Volume) vtypes.Volume {
	out := vtypes.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Scope: v.Scope,
		Labels: v.Labels, Options: v.Options, CreatedAt: v.CreatedAt.Format(time.RFC3339)}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	return out
}

// volumeList is GET /volumes: `docker volume ls`.
func (d *Daemon) volumeList(w http.ResponseWriter, r *http.Request) {
	vs, err := d.volumes()
	if err != nil {
		fail(w, err)
		return
	}
	all, err := vs.List()
	if err != nil {
		fail(w, err)
		return
	}
	resp := vtypes.ListResponse{Volumes: []vtypes.Volume{}, Warnings: []string{}}
	for _, v := range all {
		resp.Volumes = append(resp.Volumes, volumeOf(v))
	}
	writeJSON(w, http.StatusOK, resp)
}

// volumeInspect is GET /volumes/{name}.
func (d *Daemon) volumeInspect(w http.ResponseWriter, r *http.Request) {
	vs, err := d.volumes()
	if err != nil {
		fail(w, err)
		return
	}
	v, err := vs.Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, volumeOf(v))
}

// volumeCreate is POST /volumes/create: `docker volume create`. An empty
// name gets a random one, as with dockerd.
func (d *Daemon) volumeCreate(w http.ResponseWriter, r *http.Request) {
	var req vtypes.CreateRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Name != "" && !volume.ValidName(req.Name) {
		fail(w, badRequest{fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed", req.Name)})
		return
	}
	vs, err := d.volumes()
	if err != nil {
		fail(w, err)
		return
	}
	existed := d.volumeSet()
	v, err := vs.Create(req.Name, req.Driver, req.DriverOpts, req.Labels)
	if err != nil {
		fail(w, err)
		return
	}
	if _, ok := existed[v.Name]; !ok { // creating an existing volume is a no-op, without event
		d.emit(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": driverName(v.Driver)})
	}
	writeJSON(w, http.StatusCreated, volumeOf(v))
}

// volumeDelete is DELETE /volumes/{name}: `docker volume rm`; a volume a
// container uses is refused (409).
func (d *Daemon) volumeDelete(w http.ResponseWriter, r *http.Request) {
	vs, err := d.volumes()
	if err != nil {
		fail(w, err)
		return
	}
	v, _ := vs.Get(r.PathValue("name"))
	if err := vs.Remove(r.PathValue("name"), d.m.VolumeUsers); err != nil {
		fail(w, err)
		return
	}
	if v != nil {
		d.emit(events.VolumeEventType, events.ActionDestroy, v.Name, map[string]string{"driver": driverName(v.Driver)})
	}
	w.WriteHeader(http.StatusNoContent)
}
