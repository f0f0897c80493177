package network

import (
	"fmt"
	"net/netip"
)

// IPAM (IP address management) in minirun is deliberately small: the
// addresses in use are the endpoints recorded in the network's JSON file,
// and every change to that file happens under one flock(2) (Manager.lock),
// so two `minirun run` started at the same moment read, pick and write one
// after the other and can never hand out the same address. Releasing an
// address is deleting its endpoint.

// allocate returns an address of n's subnet for a new endpoint: want when
// given (--ip), otherwise the next free one after the cursor n.LastIP,
// wrapping around. The network address, the broadcast address and the
// gateway are never handed out.
func allocate(n *Network, want netip.Addr) (netip.Addr, error) {
	subnet := n.Subnet()
	if !subnet.IsValid() {
		return netip.Addr{}, fmt.Errorf("network %s has no subnet", n.Name)
	}
	used := map[netip.Addr]string{
		subnet.Addr():     "the network address",
		broadcast(subnet): "the broadcast address",
		n.Gateway():       "the gateway",
	}
	for _, ep := range n.Containers {
		if a := ep.IP(); a.IsValid() {
			used[a] = "container " + ep.Name
		}
	}
	if want.IsValid() {
		if !subnet.Contains(want) {
			return netip.Addr{}, fmt.Errorf("address %s is not in network %s's subnet %s", want, n.Name, subnet)
		}
		if who, ok := used[want]; ok {
			return netip.Addr{}, fmt.Errorf("address %s is already in use on network %s (by %s)", want, n.Name, who)
		}
		return want, nil
	}
	first, last := subnet.Addr().Next(), broadcast(subnet).Prev()
	start := first
	if c, err := netip.ParseAddr(n.LastIP); err == nil && subnet.Contains(c) && c != last {
		start = c.Next()
	}
	a := start
	for {
		if _, ok := used[a]; !ok {
			return a, nil
		}
		a = a.Next()
		if a == last.Next() {
			a = first
		}
		if a == start {
			return netip.Addr{}, fmt.Errorf("network %s has no free address left in %s (%d in use)", n.Name, subnet, len(used)-3)
		}
	}
}
