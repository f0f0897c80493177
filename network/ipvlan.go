package network

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// The ipvlan driver, as Docker's (moby libnetwork drivers/ipvlan): each
// container gets a link of its own on the parent NIC that shares the
// parent's MAC address and is told apart by its IP address alone — for
// LANs and clouds that accept one MAC per port. In l2 mode the children
// answer ARP on the parent's LAN like macvlan ones; in l3 mode the parent
// routes for them and nothing of theirs is broadcast, so the LAN's router
// needs a route to the subnet. See docs/network.md#drivers and
// Documentation/networking/ipvlan.rst in the kernel.
//
//	docker network create -d ipvlan --subnet 192.168.1.0/24 --gateway 192.168.1.1 \
//	  -o parent=eth0 [-o ipvlan_mode=l2|l3|l3s] [-o ipvlan_flag=bridge|private|vepa] NAME

// DriverIPvlan is Docker's ipvlan driver.
const DriverIPvlan = "ipvlan"

// OptIPvlanMode is Docker's -o ipvlan_mode: l2 (the default), l3 or l3s.
const OptIPvlanMode = "ipvlan_mode"

// OptIPvlanFlag is Docker's -o ipvlan_flag: bridge (the default), private
// or vepa, the same choice as macvlan's modes.
const OptIPvlanFlag = "ipvlan_flag"

var ipvlanModes = map[string]netlink.IPVlanMode{
	"l2":  netlink.IPVLAN_MODE_L2,
	"l3":  netlink.IPVLAN_MODE_L3,
	"l3s": netlink.IPVLAN_MODE_L3S,
}

var ipvlanFlags = map[string]netlink.IPVlanFlag{
	"bridge":  netlink.IPVLAN_FLAG_BRIDGE,
	"private": netlink.IPVLAN_FLAG_PRIVATE,
	"vepa":    netlink.IPVLAN_FLAG_VEPA,
}

// ipvlanMode checks -o ipvlan_mode, with Docker's message; "" is l2.
func ipvlanMode(v string) (string, error) {
	if v == "" {
		return "l2", nil
	}
	if _, ok := ipvlanModes[v]; !ok {
		return "", fmt.Errorf("requested ipvlan mode '%s' is not valid, 'l2' mode is the ipvlan driver default", v)
	}
	return v, nil
}

// ipvlanFlag checks -o ipvlan_flag, with Docker's message; "" is bridge.
func ipvlanFlag(v string) (string, error) {
	if v == "" {
		return "bridge", nil
	}
	if _, ok := ipvlanFlags[v]; !ok {
		return "", fmt.Errorf("requested ipvlan flag '%s' is not valid, 'bridge' is the ipvlan driver default", v)
	}
	return v, nil
}

// ipvlanShare is Docker's rule for ipvlan: one network per parent (the
// children of a parent share its MAC, so two networks on it could not be
// told apart on the wire by anything but the subnet).
func ipvlanShare(other *Network) error {
	return fmt.Errorf("network %s is already using parent interface %s", other.Name, other.Options[OptParent])
}

// ipvlanL3 reports whether the network's containers route through the
// parent (l3, l3s): they then have no gateway, only a default route out
// of their own link, as in Docker.
func ipvlanL3(n *Network) bool {
	return n.Driver == DriverIPvlan && (n.Options[OptIPvlanMode] == "l3" || n.Options[OptIPvlanMode] == "l3s")
}

// ipvlanLink is the link a container gets: an ipvlan child of parent,
// named tmp until it moves into the container.
func ipvlanLink(n *Network, tmp string, parent int) netlink.Link {
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex = tmp, parent
	return &netlink.IPVlan{LinkAttrs: la, Mode: ipvlanModes[orDefault(n.Options[OptIPvlanMode], "l2")],
		Flag: ipvlanFlags[orDefault(n.Options[OptIPvlanFlag], "bridge")]}
}

// ipvlanShell is `ip link add` for the same link.
func ipvlanShell(n *Network, tmp, parent string) string {
	return fmt.Sprintf("ip link add %s link %s type ipvlan mode %s %s", tmp, parent,
		orDefault(n.Options[OptIPvlanMode], "l2"), orDefault(n.Options[OptIPvlanFlag], "bridge"))
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
