package container

// The network use cases on an existing container — `network connect`,
// `network disconnect`, and the network's part of `rm -f` — for the CLI
// and for the network chapter of `minirun explain`, which also walks them
// in a dry run: both call the same functions below, over a network
// manager that either changes the host or only describes.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
)

// Connect is `network connect`: the running container gets a new ethN on
// network netRef (Reserve and Attach, undone if Attach fails), then its
// /etc files name the network's DNS server. tr narrates every step.
//
// A container that is not running has no namespace to plug into: as in
// dockerd, connecting it changes only what it joins at its next start.
// minirun joins one network at start, so that must be the network it was
// created on; the aliases and --ip given are added to its record
// (docker-compose connects every container this way between create and
// start, with the service's name as an alias).
func (m *Manager) Connect(netRef, ref string, o network.EndpointOpts, tr *explain.Tracer) error {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	nm, err := m.networks(tr)
	if err != nil {
		return err
	}
	if meta.State.Status != "running" || meta.State.Pid <= 0 {
		return m.connectStopped(nm, meta, netRef, o)
	}
	return connect(nm, m.dir(meta.ID), meta.ID, meta.Name, meta.Config.Hostname, meta.State.Pid, netRef, o, tr)
}

func connect(nm *network.Manager, dir, id, name, hostname string, pid int, netRef string, o network.EndpointOpts, tr *explain.Tracer) error {
	if _, err := nm.Connect(netRef, id, name, pid, o); err != nil {
		return err
	}
	return refreshEtc(nm, dir, id, hostname, tr)
}

// connectStopped records o on a container that is not running, for its
// next start (see Connect). The record is saved under the manager's lock,
// as Rename does, so a concurrent start reads it whole.
func (m *Manager) connectStopped(nm *network.Manager, meta *Meta, netRef string, o network.EndpointOpts) error {
	n, err := nm.Get(netRef)
	if err != nil {
		return err
	}
	own := meta.HostConfig.Network.Network
	if own == "" {
		own = network.DriverBridge
	}
	if mine, err := nm.Get(own); err != nil || mine.ID != n.ID {
		return fmt.Errorf("container %s is not running: minirun connects it at start only to the network it was created on (%s), not %s", meta.Name, own, n.Name)
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	meta, err = loadMeta(m.dir(meta.ID))
	if err != nil {
		return err
	}
	if meta.State.Status == "running" {
		return fmt.Errorf("container %s started while being connected: try again", meta.Name)
	}
	seen := map[string]bool{}
	for _, a := range meta.HostConfig.Network.Aliases {
		seen[a] = true
	}
	for _, a := range o.Aliases {
		if !seen[a] {
			seen[a] = true
			meta.HostConfig.Network.Aliases = append(meta.HostConfig.Network.Aliases, a)
		}
	}
	if o.IP != "" {
		meta.HostConfig.Network.IP = o.IP
	}
	return meta.save(m.dir(meta.ID))
}

// Disconnect is `network disconnect`: the container's endpoint on netRef
// is detached while the container keeps running, and its /etc files stop
// naming that network.
func (m *Manager) Disconnect(netRef, ref string, tr *explain.Tracer) error {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	nm, err := m.networks(tr)
	if err != nil {
		return err
	}
	return disconnect(nm, m.dir(meta.ID), meta.ID, meta.Config.Hostname, netRef, tr)
}

func disconnect(nm *network.Manager, dir, id, hostname, netRef string, tr *explain.Tracer) error {
	if err := nm.Disconnect(netRef, id); err != nil {
		return err
	}
	return refreshEtc(nm, dir, id, hostname, tr)
}

// refreshEtc rewrites the container's /etc files for its endpoints now.
func refreshEtc(nm *network.Manager, dir, id, hostname string, tr *explain.Tracer) error {
	eps, err := nm.Endpoints(id)
	if err != nil {
		return err
	}
	return tr.Do(network.EtcFilesStep(dir, hostname, eps), nil)
}

// RemoveExplained is `rm -f` with its network part narrated: the
// container's endpoints are released through tr first (the DNAT rules,
// the veth pair, the address), then the container is killed and removed.
// Plain Remove releases them too, but in the shim, where nobody narrates.
func (m *Manager) RemoveExplained(ref string, tr *explain.Tracer) error {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	nm, err := m.networks(tr)
	if err != nil {
		return err
	}
	if err := detachAll(nm, meta.ID); err != nil {
		return err
	}
	return m.Remove(meta.ID, true)
}

// DryRunNet is the network part of containers that a dry run only
// describes: nm must be a dry-run network manager, and each container is
// known by its name alone (its id is made up from it).
type DryRunNet struct {
	Networks *network.Manager
	DataRoot string
	Tracer   *explain.Tracer
}

// DryRunIDOf is the made-up id of the container name in a dry run: 64 hex
// digits, as network.Manager wants, the same for the same name.
func DryRunIDOf(name string) string {
	s := sha256.Sum256([]byte("minirun dry run " + name))
	return hex.EncodeToString(s[:])
}

func (d DryRunNet) dir(name string) string {
	return filepath.Join(d.DataRoot, "containers", DryRunID+"-"+name)
}

// Run describes what the shim of `run -d --name NAME` does on the network
// o: reserve the address and ports, then plug eth0 in, through the same
// functions as the shim.
func (d DryRunNet) Run(name string, o NetworkOpts) error {
	ep, err := d.Reserve(name, o)
	if err != nil {
		return err
	}
	// reserveNetwork's /etc files, then the shim's Created.
	if err := d.Tracer.Do(network.EtcWriteStep(d.dir(name), name, []*network.Endpoint{ep}), nil); err != nil {
		return err
	}
	return d.Attach(ep)
}

// Reserve describes the first half of Run, before the container exists:
// its address and published ports.
func (d DryRunNet) Reserve(name string, o NetworkOpts) (*network.Endpoint, error) {
	return reserveEndpoint(d.Networks, DryRunIDOf(name), name, o)
}

// Attach describes the second half of Run, once the container's init (and
// its network namespace, $PID's) exists: eth0 plugged in.
func (d DryRunNet) Attach(ep *network.Endpoint) error {
	return attachEndpoint(d.Networks, ep, 0)
}

// Connect describes `network connect NET NAME`.
func (d DryRunNet) Connect(netRef, name string, o network.EndpointOpts) error {
	return connect(d.Networks, d.dir(name), DryRunIDOf(name), name, name, 0, netRef, o, d.Tracer)
}

// Disconnect describes `network disconnect NET NAME`.
func (d DryRunNet) Disconnect(netRef, name string) error {
	return disconnect(d.Networks, d.dir(name), DryRunIDOf(name), name, netRef, d.Tracer)
}

// Remove describes the network part of RemoveExplained.
func (d DryRunNet) Remove(name string) error {
	return detachAll(d.Networks, DryRunIDOf(name))
}
