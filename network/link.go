package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// This file makes the links with netlink (github.com/vishvananda/netlink):
// the RTM_NEWLINK/RTM_NEWADDR/RTM_NEWROUTE messages ip(8) sends.
//
// Network namespaces and threads: a namespace belongs to an OS thread, not
// to a process, and Go moves goroutines between threads freely, so code
// that calls setns(2) and then does work can end up doing it in the wrong
// namespace (CNI's pkg/ns README tells the story). minirun never calls
// setns itself: it opens the container's namespace as a file
// (/proc/PID/ns/net) and asks netlink.NewHandleAt for netlink sockets
// created inside it. A socket stays in the namespace it was created in,
// whatever thread uses it later, so every call through that handle acts on
// the container's namespace.

// inNS runs fn with a netlink handle inside pid's network namespace.
func inNS(pid int, fn func(h *netlink.Handle) error) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open network namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	// Only NETLINK_ROUTE: asking for every family would also open XFRM
	// sockets, which fail (EPROTONOSUPPORT) where xfrm_user is not loaded.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in the namespace of pid %d: %w", pid, err)
	}
	defer h.Close()
	return fn(h)
}

// gone reports errors that mean "the object is not there any more": a
// link, a process or a namespace that disappeared. Removing such a thing
// is success.
func gone(err error) bool {
	if err == nil {
		return false
	}
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) ||
		errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) || errors.Is(err, os.ErrNotExist) ||
		errors.Is(err, unix.EADDRNOTAVAIL)
}

// linkExists reports whether the host has a link of that name.
func linkExists(name string) (bool, error) {
	_, err := netlink.LinkByName(name)
	if err == nil {
		return true, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return false, nil
	}
	return false, fmt.Errorf("look up link %s: %w", name, err)
}

// randomMAC returns a locally administered unicast address (IEEE 802:
// bit 1 of the first byte set, bit 0 clear).
func randomMAC() net.HardwareAddr {
	b := make([]byte, 6)
	rand.Read(b)
	b[0] = b[0]&0xfe | 0x02
	return b
}

// createBridge creates a bridge with a MAC address of its own and brings
// it up. Without a MAC set explicitly the kernel gives the bridge the
// lowest MAC of its ports, which changes as containers come and go — and
// every container's ARP entry for the gateway goes stale each time.
func createBridge(name string, mtu int) error {
	la := netlink.NewLinkAttrs()
	la.Name = name
	la.HardwareAddr = randomMAC()
	if mtu > 0 {
		la.MTU = mtu
	}
	br := &netlink.Bridge{LinkAttrs: la}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		netlink.LinkDel(br)
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

// linkUp reports whether the host's link is administratively up.
func linkUp(name string) bool {
	l, err := netlink.LinkByName(name)
	return err == nil && l.Attrs().Flags&net.FlagUp != 0
}

// setLinkUp brings a host link up.
func setLinkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// deleteLink deletes a host link; one that is already gone is success.
// Deleting one end of a veth pair deletes the other, wherever it is.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !gone(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}

// hasAddr reports whether the host link carries the address.
func hasAddr(link string, p netip.Prefix) bool {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return false
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == p.Addr() {
			ones, _ := a.Mask.Size()
			return ones == p.Bits()
		}
	}
	return false
}

// addAddr gives a host link an address; one it already has is success.
func addAddr(link string, p netip.Prefix) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return fmt.Errorf("look up link %s: %w", link, err)
	}
	if err := netlink.AddrAdd(l, nlAddr(p)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add address %s to %s: %w", p, link, err)
	}
	return nil
}

// delAddr removes an address from a host link; missing is success.
func delAddr(link string, p netip.Prefix) error {
	l, err := netlink.LinkByName(link)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(l, nlAddr(p)); err != nil && !gone(err) {
		return fmt.Errorf("remove address %s from %s: %w", p, link, err)
	}
	return nil
}

// hostRoutes lists the host's IPv4 routes of the main table, for the
// subnet overlap check.
func hostRoutes() ([]hostRoute, error) {
	rs, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []hostRoute
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		dev := strconv.Itoa(r.LinkIndex)
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		out = append(out, hostRoute{Dst: netip.PrefixFrom(a, ones), Dev: dev})
	}
	return out, nil
}

// vethName is the host's end of a container's veth pair: "mr" + 10 hex
// digits of the container id + the interface number + "h", at most 15
// characters (IFNAMSIZ-1), so `ip link | grep mr<id>` finds a container's
// links. (The other end is born in the container as eth0: vethStep.)
func vethName(containerID string, ifName string) string {
	if forShell() {
		return ShellVeth
	}
	num := strings.TrimLeft(ifName, "abcdefghijklmnopqrstuvwxyz")
	if num == "" || len(num) > 2 {
		num = "x"
	}
	id := containerID
	if len(id) > 10 {
		id = id[:10]
	}
	return "mr" + id + num + "h"
}

// nextIfName is the first ethN the namespace does not have yet: eth0 for a
// new container, eth1 when `network connect` adds a second network.
func nextIfName(pid int) (string, error) { return nextIfNameWith(pid, "eth") }

// hasDefaultRoute reports whether the namespace already has a default
// route: a container on two networks keeps the one of its first.
func hasDefaultRoute(h *netlink.Handle) (bool, error) {
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, r := range rs {
		if r.Dst == nil {
			return true, nil
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			return true, nil
		}
	}
	return false, nil
}

// sysctlKeyFor is the key of a per-interface IPv4 sysctl, with slashes:
// an interface name may itself contain dots, so the dotted form of sysctl(8)
// is ambiguous and minirun writes the /proc/sys path directly.
func sysctlKeyFor(link, name string) string {
	return "net/ipv4/conf/" + link + "/" + name
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPathRaw(key))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPathRaw(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}

// sysctlPathRaw takes the key with slashes (net/ipv4/ip_forward).
func sysctlPathRaw(key string) string { return filepath.Join("/proc/sys", key) }

// nsFd opens pid's network namespace.
func nsFd(pid int) (netns.NsHandle, error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return 0, fmt.Errorf("open network namespace of pid %d: %w", pid, err)
	}
	return ns, nil
}

func removeAllQuiet(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
