//go:build integration

package integration

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// kernelConfig names the kernel option of each module the tests need.
var kernelConfig = map[string]string{"macvlan": "MACVLAN", "ipvlan": "IPVLAN", "8021q": "VLAN_8021Q", "dummy": "DUMMY", "nfsd": "NFSD"}

// kernelHas reports whether the running kernel has a module: loaded
// (/sys/module), built in or loadable (modules.builtin, modules.dep, or
// =y/=m in /proc/config.gz on a kernel without modules).
func kernelHas(mod string) bool {
	if _, err := os.Stat("/sys/module/" + mod); err == nil {
		return true
	}
	var u unix.Utsname
	unix.Uname(&u)
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	for _, f := range []string{"modules.builtin", "modules.dep"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		for _, l := range strings.Split(string(b), "\n") {
			path, _, _ := strings.Cut(l, ":")
			base := filepath.Base(path)
			if base == mod+".ko" || strings.HasPrefix(base, mod+".ko.") {
				return true
			}
		}
	}
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		if z, err := gzip.NewReader(f); err == nil {
			b, _ := io.ReadAll(z)
			c := "CONFIG_" + kernelConfig[mod]
			return strings.Contains(string(b), "\n"+c+"=y\n") || strings.Contains(string(b), "\n"+c+"=m\n")
		}
	}
	return false
}

// On a kernel without ipvlan, dummy links or 802.1Q (this machine's: it
// has macvlan built in, and nothing else of these), `network create`
// says which driver is missing in one line and leaves nothing: no
// network, no parent link, no record on disk.
func TestSublinkDriverMissing(t *testing.T) {
	var l *lan
	for _, c := range []struct {
		mod, want string
		args      func() []string
	}{
		{"ipvlan", "has no ipvlan driver (CONFIG_IPVLAN", func() []string { return []string{"-d", "ipvlan", "--subnet", "10.79.60.0/24"} }},
		// No parent: Docker's dummy parent.
		{"dummy", "has no dummy driver (CONFIG_DUMMY", func() []string { return []string{"-d", "macvlan", "--subnet", "10.79.61.0/24"} }},
		// A VLAN of an existing link.
		{"8021q", "has no vlan driver (CONFIG_VLAN_8021Q", func() []string {
			if l == nil {
				l = newLAN(t, "10.79.62.1/24")
			}
			return []string{"-d", "macvlan", "--subnet", "10.79.62.0/24", "-o", "parent=" + l.parent + ".10"}
		}},
	} {
		t.Run(c.mod, func(t *testing.T) {
			if kernelHas(c.mod) {
				t.Skipf("this kernel has %s", c.mod)
			}
			if c.mod != "ipvlan" && !kernelHas("macvlan") {
				t.Skip("this kernel has no macvlan either: the parent is never reached")
			}
			args := append(append([]string{"network", "create"}, c.args()...), "nodrv")
			dir := filepath.Join(dataRoot, "network")
			before := subdirs(dir)
			linksBefore := hostLinks(t)
			fails(t, c.want, args...)
			if out := ok(t, "network", "ls"); strings.Contains(out, "nodrv") {
				t.Fatalf("network ls lists the refused network:\n%s", out)
			}
			if after := subdirs(dir); after != before {
				t.Fatalf("network records: %d before, %d after", before, after)
			}
			if extra := newLinks(linksBefore, hostLinks(t)); len(extra) > 0 {
				t.Fatalf("links left behind: %v", extra)
			}
		})
	}
}

// subdirs counts the directories in dir (a network manager's records).
func subdirs(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// lan is the other end of a cable for macvlan and ipvlan tests: a veth
// pair whose host end (parent) stays in the root namespace, without an
// address, and whose other end is the only link of a fresh network
// namespace (a process of `unshare -n`), with addr: a host on the LAN.
type lan struct {
	parent string
	pid    int
}

func newLAN(t *testing.T, addr string) *lan {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	parent, peer := "mrtp"+hex.EncodeToString(b), "mrtq"+hex.EncodeToString(b)
	cmd := exec.Command("unshare", "-n", "sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	l := &lan{parent: parent, pid: cmd.Process.Pid}
	// unshare(1) execs sleep once the namespace is made: wait for it.
	self, _ := os.Readlink("/proc/self/ns/net")
	eventually(t, "unshare's namespace", 5*time.Second, func() bool {
		ns, err := os.Readlink("/proc/" + strconv.Itoa(l.pid) + "/ns/net")
		return err == nil && ns != self
	})
	la := netlink.NewLinkAttrs()
	la.Name = parent
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}); err != nil {
		t.Fatalf("veth %s: %v", parent, err)
	}
	t.Cleanup(func() {
		if p, err := netlink.LinkByName(parent); err == nil {
			netlink.LinkDel(p)
		}
	})
	q, err := netlink.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsPid(q, l.pid); err != nil {
		t.Fatal(err)
	}
	p, _ := netlink.LinkByName(parent)
	if err := netlink.LinkSetUp(p); err != nil {
		t.Fatal(err)
	}
	l.in(t, func(h *netlink.Handle) {
		lo, _ := h.LinkByName("lo")
		h.LinkSetUp(lo)
		q, err := h.LinkByName(peer)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(addr)
		if err := h.AddrAdd(q, a); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(q); err != nil {
			t.Fatal(err)
		}
	})
	return l
}

// in runs fn with a netlink handle in the LAN host's namespace.
func (l *lan) in(t *testing.T, fn func(h *netlink.Handle)) {
	t.Helper()
	ns, err := netns.GetFromPid(l.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fn(h)
}

// neighbours are the LAN host's ARP entries: IP → MAC.
func (l *lan) neighbours(t *testing.T) map[string]string {
	out := map[string]string{}
	l.in(t, func(h *netlink.Handle) {
		ns, _ := h.NeighList(0, netlink.FAMILY_V4)
		for _, n := range ns {
			if n.HardwareAddr != nil {
				out[n.IP.String()] = n.HardwareAddr.String()
			}
		}
	})
	return out
}

// containerIP is a container's eth0 address and its MAC.
func containerLink(t *testing.T, name string) (ip, mac string) {
	t.Helper()
	ip = strings.Split(strings.TrimSpace(ok(t, "exec", name, "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'")), "/")[0]
	mac = strings.TrimSpace(ok(t, "exec", name, "cat", "/sys/class/net/eth0/address"))
	return ip, mac
}

// sublinkLAN is the lab both drivers pass: two containers on a network
// whose parent is one end of a cable; a LAN host on the other end. Each
// container reaches the LAN host and the other container; the LAN host
// learns their addresses on the wire (ARP) — with a MAC each for macvlan,
// the parent's MAC for both with ipvlan. Nothing of the bridge driver is
// made (no veth on the host, no bridge, no NAT), a disconnect removes the
// container's link, and `network rm` leaves the parent, which it did not
// make, in place.
func sublinkLAN(t *testing.T, driver, subnet, lanAddr string, opts ...string) {
	if !kernelHas(driver) {
		t.Skipf("this kernel has no %s (run it in the VM: tests/vm)", driver)
	}
	l := newLAN(t, lanAddr+"/24")
	name := "lan" + driver
	args := append([]string{"network", "create", "-d", driver, "--subnet", subnet, "--gateway", lanAddr, "-o", "parent=" + l.parent}, opts...)
	ok(t, append(args, name)...)
	t.Cleanup(func() { mr(t, "network", "rm", name) })
	// A second network on the same parent: Docker allows it for macvlan
	// (not passthru), refuses it for ipvlan.
	second := []string{"network", "create", "-d", driver, "--subnet", "10.79.37.0/24", "-o", "parent=" + l.parent, name + "b"}
	if driver == "ipvlan" {
		fails(t, "network "+name+" is already using parent interface "+l.parent, second...)
	} else {
		ok(t, second...)
		ok(t, "network", "rm", name+"b")
	}
	linksBefore := hostLinks(t)
	runD(t, name+"1", "--network", name, "busybox", "sleep", "600")
	runD(t, name+"2", "--network", name, "busybox", "sleep", "600")
	if extra := newLinks(linksBefore, hostLinks(t)); len(extra) > 0 {
		t.Errorf("%s made host links (veth, bridge): %v", driver, extra)
	}
	ip1, mac1 := containerLink(t, name+"1")
	ip2, mac2 := containerLink(t, name+"2")
	pl, _ := netlink.LinkByName(l.parent)
	parentMAC := pl.Attrs().HardwareAddr.String()
	t.Logf("%s: %s %s, %s %s, parent %s %s", driver, ip1, mac1, ip2, mac2, l.parent, parentMAC)
	for _, c := range []string{name + "1", name + "2"} {
		if out := ok(t, "exec", c, "ip", "route"); !strings.Contains(out, "default via "+lanAddr) {
			t.Errorf("%s's routes lack the gateway %s:\n%s", c, lanAddr, out)
		}
		if r := mr(t, "exec", c, "ping", "-c1", "-W3", lanAddr); r.code != 0 {
			t.Fatalf("%s cannot reach the LAN host %s: %s%s", c, lanAddr, r.stdout, r.stderr)
		}
	}
	if r := mr(t, "exec", name+"1", "ping", "-c1", "-W3", ip2); r.code != 0 {
		t.Fatalf("%s1 cannot reach %s2 (%s): %s%s", name, name, ip2, r.stdout, r.stderr)
	}
	nb := l.neighbours(t)
	switch driver {
	case "macvlan":
		if mac1 == parentMAC || mac2 == parentMAC || mac1 == mac2 {
			t.Errorf("macvlan children must have MACs of their own: %s, %s, parent %s", mac1, mac2, parentMAC)
		}
		if nb[ip1] != mac1 || nb[ip2] != mac2 {
			t.Errorf("the LAN host's ARP table %v, want %s→%s and %s→%s", nb, ip1, mac1, ip2, mac2)
		}
	case "ipvlan":
		if mac1 != parentMAC || mac2 != parentMAC {
			t.Errorf("ipvlan children share the parent's MAC: %s, %s, parent %s", mac1, mac2, parentMAC)
		}
		if nb[ip1] != parentMAC || nb[ip2] != parentMAC {
			t.Errorf("the LAN host's ARP table %v, want both at the parent's MAC %s", nb, parentMAC)
		}
	}
	var nets []struct {
		Driver  string
		Options map[string]string
	}
	json.Unmarshal([]byte(ok(t, "network", "inspect", name)), &nets)
	if len(nets) != 1 || nets[0].Driver != driver || nets[0].Options["parent"] != l.parent {
		t.Errorf("inspect: %+v", nets)
	}
	ok(t, "network", "disconnect", name, name+"2")
	if out := ok(t, "exec", name+"2", "ip", "-o", "link"); strings.Contains(out, "eth0") {
		t.Errorf("eth0 still in %s2 after disconnect:\n%s", name, out)
	}
	ok(t, "rm", "-f", name+"1", name+"2")
	ok(t, "network", "rm", name)
	if _, err := netlink.LinkByName(l.parent); err != nil {
		t.Errorf("network rm deleted the parent %s it did not make: %v", l.parent, err)
	}
}

func hostLinks(t *testing.T) map[string]bool {
	ls, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range ls {
		out[l.Attrs().Name] = true
	}
	return out
}

func newLinks(before, after map[string]bool) []string {
	var out []string
	for n := range after {
		if !before[n] {
			out = append(out, n)
		}
	}
	return out
}

// Two containers on a macvlan of one end of a cable reach the LAN host at
// the other end, and each other.
func TestMacvlanLAN(t *testing.T) {
	sublinkLAN(t, "macvlan", "10.79.30.0/24", "10.79.30.1", "-o", "macvlan_mode=bridge")
}

// The same on ipvlan l2: one MAC, the parent's, for both containers.
func TestIPvlanL2LAN(t *testing.T) {
	sublinkLAN(t, "ipvlan", "10.79.31.0/24", "10.79.31.1", "-o", "ipvlan_mode=l2")
}

// Docker's options and errors, and -o parent=NAME.VID: the VLAN
// sub-interface is made on create (and carries the traffic: the LAN host
// answers on its own VLAN 10 only) and deleted with the network.
func TestMacvlanParentsAndErrors(t *testing.T) {
	if !kernelHas("macvlan") || !kernelHas("8021q") {
		t.Skip("this kernel has no macvlan or 8021q (run it in the VM: tests/vm)")
	}
	l := newLAN(t, "10.79.32.1/24")
	// Docker's messages, before anything is made.
	fails(t, "invalid subinterface vlan name mrnosuch, example formatting is eth0.10",
		"network", "create", "-d", "macvlan", "--subnet", "10.79.33.0/24", "-o", "parent=mrnosuch", "e1")
	fails(t, "-o parent interface was not found on the host: mrnosuch",
		"network", "create", "-d", "macvlan", "--subnet", "10.79.33.0/24", "-o", "parent=mrnosuch.10", "e1")
	fails(t, "vlan id must be between 1-4094, received: 4095",
		"network", "create", "-d", "macvlan", "--subnet", "10.79.33.0/24", "-o", "parent="+l.parent+".4095", "e1")
	fails(t, "requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default",
		"network", "create", "-d", "macvlan", "-o", "macvlan_mode=bogus", "-o", "parent="+l.parent, "e1")
	fails(t, "requested ipvlan mode 'l9' is not valid, 'l2' mode is the ipvlan driver default",
		"network", "create", "-d", "ipvlan", "-o", "ipvlan_mode=l9", "-o", "parent="+l.parent, "e1")
	fails(t, "loopback interface is not a valid macvlan parent link",
		"network", "create", "-d", "macvlan", "-o", "parent=lo", "e1")

	vlan := l.parent + ".10"
	ok(t, "network", "create", "-d", "macvlan", "--subnet", "10.79.34.0/24", "--gateway", "10.79.34.1", "-o", "parent="+vlan, "mvvlan")
	t.Cleanup(func() { mr(t, "network", "rm", "mvvlan") })
	vl, err := netlink.LinkByName(vlan)
	if err != nil {
		t.Fatalf("no VLAN sub-interface %s after create: %v", vlan, err)
	}
	if v, isVlan := vl.(*netlink.Vlan); !isVlan || v.VlanId != 10 {
		t.Fatalf("%s is a %s, want vlan id 10", vlan, vl.Type())
	}
	fails(t, "Pool overlaps with other one on this address space",
		"network", "create", "-d", "macvlan", "--subnet", "10.79.34.128/25", "-o", "parent="+l.parent, "e2")
	fails(t, "parent "+vlan+" is already used by macvlan network mvvlan",
		"network", "create", "-d", "ipvlan", "--subnet", "10.79.35.0/24", "-o", "parent="+vlan, "e3")
	// The LAN host's VLAN 10, and the tag on the wire: only through it.
	l.in(t, func(h *netlink.Handle) {
		links, _ := h.LinkList()
		var q netlink.Link
		for _, x := range links {
			if x.Type() == "veth" {
				q = x
			}
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.ParentIndex = "q.10", q.Attrs().Index
		v := &netlink.Vlan{LinkAttrs: la, VlanId: 10}
		if err := h.LinkAdd(v); err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr("10.79.34.1/24")
		h.AddrAdd(v, a)
		h.LinkSetUp(v)
	})
	runD(t, "mvvlan1", "--network", "mvvlan", "busybox", "sleep", "600")
	if r := mr(t, "exec", "mvvlan1", "ping", "-c1", "-W3", "10.79.34.1"); r.code != 0 {
		t.Fatalf("no answer from the LAN host's VLAN 10: %s%s", r.stdout, r.stderr)
	}
	ok(t, "rm", "-f", "mvvlan1")
	ok(t, "network", "rm", "mvvlan")
	if _, err := netlink.LinkByName(vlan); err == nil {
		t.Fatalf("network rm left the VLAN sub-interface %s it made", vlan)
	}
	// No parent at all: Docker's dummy parent, an internal network, gone
	// with it.
	id := strings.TrimSpace(ok(t, "network", "create", "-d", "macvlan", "--subnet", "10.79.36.0/24", "mvdummy"))
	dummy := "mrdm-" + id[:10]
	dl, err := netlink.LinkByName(dummy)
	if err != nil || dl.Type() != "dummy" {
		t.Fatalf("no dummy parent %s: %v", dummy, err)
	}
	if out := ok(t, "network", "inspect", "mvdummy"); !strings.Contains(out, `"Internal": true`) {
		t.Errorf("a macvlan network without a parent is internal in Docker:\n%s", out)
	}
	ok(t, "network", "rm", "mvdummy")
	if _, err := netlink.LinkByName(dummy); err == nil {
		t.Fatalf("network rm left the dummy parent %s", dummy)
	}
}
