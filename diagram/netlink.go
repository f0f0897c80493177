package diagram

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Netlink is the live NetReader: RTM_GETLINK and RTM_GETADDR dumps
// (rtnetlink(7)) on the host, and through a netlink socket opened inside
// the container's network namespace. NewHandleAt creates that socket in
// the namespace without moving any thread of this process into it.
type Netlink struct {
	// Proc is where /proc is; "" means /proc.
	Proc string
}

// HostLinks returns minirun's links on the host: those whose name starts
// with "mr" (its bridges and the host ends of its veth pairs).
func (n Netlink) HostLinks() ([]Link, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return links(h, func(name string) bool { return strings.HasPrefix(name, "mr") })
}

// Links returns every link in the network namespace of pid.
func (n Netlink) Links(pid int) ([]Link, error) {
	proc := n.Proc
	if proc == "" {
		proc = "/proc"
	}
	ns, err := netns.GetFromPath(filepath.Join(proc, strconv.Itoa(pid), "ns", "net"))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return links(h, func(string) bool { return true })
}

func links(h *netlink.Handle, keep func(string) bool) ([]Link, error) {
	ls, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []Link
	for _, l := range ls {
		a := l.Attrs()
		if !keep(a.Name) {
			continue
		}
		lk := Link{Index: a.Index, Name: a.Name, Kind: l.Type(), Master: a.MasterIndex, Up: a.Flags&net.FlagUp != 0}
		if lk.Kind == "veth" {
			lk.Peer = a.ParentIndex
		}
		if addrs, err := h.AddrList(l, netlink.FAMILY_V4); err == nil {
			for _, ad := range addrs {
				lk.Addrs = append(lk.Addrs, ad.IPNet.String())
			}
		}
		out = append(out, lk)
	}
	return out, nil
}

// NftRules returns `nft list table ip minirun`, or "" when minirun's
// table does not exist (no network was made yet). Listing changes
// nothing.
func NftRules() (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command("nft", "list", "table", "ip", "minirun")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if strings.Contains(errb.String(), "No such file") {
			return "", nil
		}
		return "", fmt.Errorf("nft list table ip minirun: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
