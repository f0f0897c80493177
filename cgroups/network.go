package cgroups

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planNetwork plans the v1 net_cls and net_prio controllers: a class id
// stamped on the group's packets (for tc filters and iptables -m cgroup) and
// a priority per interface. cgroup v2 has neither controller: there, a
// firewall matches the cgroup path itself (nft "socket cgroupv2"), so a
// config that asks for them is refused rather than silently ignored.
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
