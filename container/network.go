package container

// The network side of a container's life, as dockerd asks libnetwork for
// it: reserve an address before the container exists (so /etc/hosts can
// name it), attach the veth once the init's network namespace exists,
// detach when it exits.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// NetworkOpts are `run`'s network flags.
type NetworkOpts struct {
	Network string                // --network: bridge (default), host, none, or a user network
	IP      string                // --ip
	Aliases []string              // --network-alias
	Ports   []network.PortMapping // -p, and -P's picks
}

// etcFiles are the files the container gets at /etc/hosts, /etc/hostname
// and /etc/resolv.conf: written in its directory, bind-mounted in.
var etcFiles = []string{"hosts", "hostname", "resolv.conf"}

// networkSpec adapts the spec to the network mode: the host network means
// no network namespace; every mode gets the /etc files bound in.
func networkSpec(s *specs.Spec, dir string, o NetworkOpts) {
	if o.Network == network.DriverHost {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.NetworkNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	}
	for _, f := range etcFiles {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(dir, f), Options: []string{"rbind", "rprivate"}})
	}
}

func (m *Manager) networks(tr *explain.Tracer) (*network.Manager, error) {
	return network.Open(m.DataRoot, tr)
}

// reserveNetwork claims the container's address and writes its /etc
// files; the undo gives the address back.
func (m *Manager) reserveNetwork(meta *Meta, tr *explain.Tracer) (*network.Endpoint, func() error, error) {
	nm, err := m.networks(tr)
	if err != nil {
		return nil, nil, err
	}
	ep, err := reserveEndpoint(nm, meta.ID, meta.Name, meta.HostConfig.Network)
	if err != nil {
		return nil, nil, err
	}
	undo := func() error { return nm.Detach(ep) }
	if err := tr.Do(network.EtcWriteStep(m.dir(meta.ID), meta.Config.Hostname, []*network.Endpoint{ep}), nil); err != nil {
		return nil, nil, errors.Join(err, undo())
	}
	return ep, undo, nil
}

// reserveEndpoint claims a container's place on its --network (the default
// bridge when none is named): its address and its published ports.
func reserveEndpoint(nm *network.Manager, id, name string, o NetworkOpts) (*network.Endpoint, error) {
	net := o.Network
	if net == "" || net == network.DriverBridge {
		n, err := nm.EnsureDefault()
		if err != nil {
			return nil, err
		}
		net = n.Name
	}
	return nm.Reserve(net, id, name, network.EndpointOpts{IP: o.IP, Aliases: o.Aliases, Ports: o.Ports})
}

// attachNetwork plugs the reserved endpoint into the init's namespace.
func (m *Manager) attachNetwork(ep *network.Endpoint, pid int, tr *explain.Tracer) error {
	nm, err := m.networks(tr)
	if err != nil {
		return err
	}
	return attachEndpoint(nm, ep, pid)
}

// attachEndpoint plugs ep in as eth0 of the namespace of pid; a container
// that keeps the host's network has nothing to plug, and the step shows
// that its namespace is the host's.
func attachEndpoint(nm *network.Manager, ep *network.Endpoint, pid int) error {
	if !ep.NeedsNetNS() {
		return nm.ShowHostNetwork(ep, pid)
	}
	return nm.Attach(ep, pid, "eth0")
}

// detachNetworks removes every endpoint of the container: its veths,
// rules and addresses. It is safe to call twice.
func (m *Manager) detachNetworks(id string) error {
	nm, err := m.networks(nil)
	if err != nil {
		return err
	}
	return detachAll(nm, id)
}

// detachAll detaches every endpoint of container id, narrated by nm's
// tracer.
func detachAll(nm *network.Manager, id string) error {
	eps, err := nm.Endpoints(id)
	if err != nil {
		return err
	}
	var errs []error
	for _, ep := range eps {
		if err := nm.Detach(ep); err != nil {
			errs = append(errs, fmt.Errorf("detach %s from %s: %w", id[:12], ep.NetworkName, err))
		}
	}
	return errors.Join(errs...)
}

// writeEtcPlaceholders makes the /etc files exist before the bundle is
// written; reserveNetwork fills them in before each start.
func writeEtcPlaceholders(dir string) error {
	for _, f := range etcFiles {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// RefreshEtcFiles rewrites a running container's /etc/hosts and
// /etc/resolv.conf for the networks it is on now (after network connect or
// disconnect): a container connected to a user network starts asking that
// network's DNS server, as in Docker. The files are rewritten in place, so
// the bind mounts inside the container see the new content.
func (m *Manager) RefreshEtcFiles(id string) error {
	meta, err := m.Get(id)
	if err != nil {
		return err
	}
	nm, err := m.networks(nil)
	if err != nil {
		return err
	}
	return refreshEtc(nm, m.dir(meta.ID), meta.ID, meta.Config.Hostname, nil)
}
