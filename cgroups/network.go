package cgroups

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planNetwork plans the v1 net_cls and net_prio controllers (config-linux.md
// "Network"): a class id stamped on the group's sockets, for tc's cgroup
// filter and iptables -m cgroup (net_cls.rst), and a priority per
// interface, by name, for the packets they send (net_prio.rst). The kernel
// looks the names up in the initial network namespace, so they are host
// interfaces even for a container with a network namespace of its own.
//
// cgroup v2 has neither controller: there, a firewall matches the cgroup
// path itself (nft "socket cgroupv2", iptables -m cgroup --path). runc's v2
// manager has no step for them and drops both fields without a word; minirun
// refuses the config instead, as config.md ("Valid values") asks of
// unsupported values, so that nobody believes traffic is classified when
// it is not. A v1 host without a net_cls or net_prio mount fails the same
// way, at the write (v1Manager names the missing controller).
func planNetwork(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	n := res.Network
	if n == nil || (n.ClassID == nil && len(n.Priorities) == 0) {
		return nil, nil
	}
	if v2 {
		return nil, errors.New("linux.resources.network: cgroup v2 has no net_cls or net_prio controller")
	}
	var out []Write
	if n.ClassID != nil {
		out = append(out, Write{File: "net_cls/net_cls.classid", Value: utoa(uint64(*n.ClassID))})
	}
	for i, p := range n.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " /\n") {
			return nil, fmt.Errorf("linux.resources.network.priorities[%d].name %q: not an interface name", i, p.Name)
		}
		out = append(out, Write{File: "net_prio/net_prio.ifpriomap", Value: fmt.Sprintf("%s %d", p.Name, p.Priority)})
	}
	return out, nil
}
