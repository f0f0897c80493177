package network

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// The macvlan driver, as Docker's (moby libnetwork drivers/macvlan): each
// container gets a link of its own on the parent NIC, with its own MAC
// address, as if it were another machine plugged into the parent's LAN.
// No bridge, no veth, no NAT, no DNS server: frames leave through the
// parent as they are. See docs/network.md#drivers and macvlan in ip-link(8).
//
//	docker network create -d macvlan --subnet 192.168.1.0/24 --gateway 192.168.1.1 \
//	  -o parent=eth0 [-o macvlan_mode=bridge|private|vepa|passthru] NAME

// DriverMacvlan is Docker's macvlan driver.
const DriverMacvlan = "macvlan"

// OptMacvlanMode is Docker's -o macvlan_mode: how the children of one parent
// reach each other (bridge, the default: straight through the parent, in
// the kernel; private: never; vepa: only through the switch outside, which
// must hairpin; passthru: one child takes the parent over).
const OptMacvlanMode = "macvlan_mode"

// macvlanModes maps Docker's mode names to the kernel's (IFLA_MACVLAN_MODE).
var macvlanModes = map[string]netlink.MacvlanMode{
	"bridge":   netlink.MACVLAN_MODE_BRIDGE,
	"private":  netlink.MACVLAN_MODE_PRIVATE,
	"vepa":     netlink.MACVLAN_MODE_VEPA,
	"passthru": netlink.MACVLAN_MODE_PASSTHRU,
}

// macvlanMode checks -o macvlan_mode, with Docker's message; "" is bridge.
func macvlanMode(v string) (string, error) {
	if v == "" {
		return "bridge", nil
	}
	if _, ok := macvlanModes[v]; !ok {
		return "", fmt.Errorf("requested macvlan mode '%s' is not valid, 'bridge' mode is the macvlan driver default", v)
	}
	return v, nil
}

// macvlanShare is Docker's rule for two macvlan networks on one parent:
// allowed, unless either is in passthru mode, where one child owns the
// parent's MAC.
func macvlanShare(n *Network, other *Network) error {
	switch {
	case n.Options[OptMacvlanMode] == "passthru":
		return fmt.Errorf("cannot use mode passthru, macvlan network %s is already using parent interface %s", other.Name, other.Options[OptParent])
	case other.Options[OptMacvlanMode] == "passthru":
		return fmt.Errorf("macvlan network %s is already using parent interface %s in mode passthru", other.Name, other.Options[OptParent])
	}
	return nil
}

// macvlanLink is the link a container gets: a macvlan child of parent,
// named tmp until it moves into the container.
func macvlanLink(n *Network, tmp string, parent int) netlink.Link {
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex = tmp, parent
	mode, ok := macvlanModes[n.Options[OptMacvlanMode]]
	if !ok {
		mode = netlink.MACVLAN_MODE_BRIDGE
	}
	return &netlink.Macvlan{LinkAttrs: la, Mode: mode}
}

// macvlanShell is `ip link add` for the same link.
func macvlanShell(n *Network, tmp, parent string) string {
	mode := n.Options[OptMacvlanMode]
	if mode == "" {
		mode = "bridge"
	}
	return fmt.Sprintf("ip link add %s link %s type macvlan mode %s", tmp, parent, mode)
}
