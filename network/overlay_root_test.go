package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/minirun/minirun/internal/memstore"
	"github.com/minirun/minirun/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ovHost is one "host" of a test cluster: a network namespace of its own
// (held by a sleeping process), a data root with its Manager, and its
// address on the underlay. Every Manager call runs on a thread inside
// that namespace (do), so the host's links, nftables table, sysctls and
// DNS server all live there.
type ovHost struct {
	name string
	ns   *ctr
	m    *Manager
	addr netip.Addr
}

func (h *ovHost) do(t *testing.T, fn func() error) error {
	t.Helper()
	return inNetNS(t, h.ns.pid, fn)
}

// attach is Reserve + Attach of container c on h, without t.Fatal (it
// runs on another goroutine).
func (h *ovHost) attach(t *testing.T, c *ctr, net string, o EndpointOpts) (*Endpoint, error) {
	var ep *Endpoint
	err := h.do(t, func() error {
		var err error
		if ep, err = h.m.Reserve(net, c.id, c.name, o); err != nil {
			return err
		}
		return h.m.Attach(ep, c.pid, "")
	})
	return ep, err
}

// twoHosts makes hosts A and B joined by a veth underlay mrtua ↔ mrtub
// (192.0.2.1/24, 192.0.2.2/24, TEST-NET-1), sharing one in-memory store.
// Cleanup detaches and resets both and checks neither keeps a link of
// minirun's or its nftables table.
func twoHosts(t *testing.T) (*memstore.Store, *ovHost, *ovHost) {
	t.Helper()
	testutil.RequireRoot(t)
	if os.Getenv(nsEnv) != "1" {
		t.Fatal("root tests must run in the test host namespace (TestMain)")
	}
	s := &memstore.Store{}
	var hosts []*ovHost
	for i, name := range []string{"A", "B"} {
		m, err := Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := &ovHost{name: name, ns: newCtr(t, "host"+name), m: m, addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}
		m.SetCluster(Cluster{Store: s, URL: "etcd://192.0.2.9:2379", Advertise: h.addr})
		hosts = append(hosts, h)
	}
	a, b := hosts[0], hosts[1]
	nsB, err := netns.GetFromPid(b.ns.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer nsB.Close()
	if err := inNS(a.ns.pid, func(h *netlink.Handle) error {
		la := netlink.NewLinkAttrs()
		la.Name = "mrtua"
		return h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "mrtub", PeerNamespace: netlink.NsFd(nsB)})
	}); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		link := "mrtu" + strings.ToLower(h.name)
		if err := inNS(h.ns.pid, func(nh *netlink.Handle) error {
			l, err := nh.LinkByName(link)
			if err != nil {
				return err
			}
			if err := nh.AddrAdd(l, nlAddr(netip.PrefixFrom(h.addr, 24))); err != nil {
				return err
			}
			return nh.LinkSetUp(l)
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, h := range hosts {
			err := h.do(t, func() error {
				nets, _ := h.m.List()
				for _, n := range nets {
					for _, ep := range n.Containers {
						h.m.Detach(ep)
					}
				}
				err := h.m.Reset()
				links, _ := netlink.LinkList()
				for _, l := range links {
					if name := l.Attrs().Name; strings.HasPrefix(name, "mr") && !strings.HasPrefix(name, "mrt") {
						err = errors.Join(err, fmt.Errorf("link %s left behind", name))
					}
				}
				if ok, terr := tableExists(); terr != nil || ok {
					err = errors.Join(err, fmt.Errorf("table ip minirun left behind (%v)", terr))
				}
				for _, n := range nets {
					if n.DNS != nil && alive(n.DNS) {
						err = errors.Join(err, fmt.Errorf("dns server %d of %s still running", n.DNS.Pid, n.Name))
					}
				}
				return err
			})
			if err != nil {
				t.Errorf("host %s: %v", h.name, err)
			}
		}
	})
	return s, a, b
}

// peersOn reads the permanent FDB and neighbour entries of network
// net's VXLAN on host h.
func peersOn(t *testing.T, h *ovHost, n *Network) ([]fdbEntry, []neighEntry, error) {
	var fdb []fdbEntry
	var neigh []neighEntry
	err := h.do(t, func() error {
		idx, err := vxlanIndex(n.Overlay.VXLAN)
		if err != nil {
			return err
		}
		fdb, neigh, err = peerEntries(idx)
		return err
	})
	return fdb, neigh, err
}

// Two hosts, one overlay: containers on each reach the other through
// VXLAN, find each other (and a shared alias, round robin) by name; B's
// VXLAN learns A's container from the store and forgets it once it is
// gone; a second overlay network reaches neither; and everything goes.
func TestRootOverlayTwoHosts(t *testing.T) {
	s, a, b := twoHosts(t)
	ctx := context.Background()
	// Both hosts create a network at the same moment.
	var nA, nB *Network
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(2)
	go func() {
		defer wg.Done()
		errA = a.do(t, func() (err error) { nA, err = a.m.Create(CreateOpts{Name: "ov", Driver: DriverOverlay}); return })
	}()
	go func() {
		defer wg.Done()
		errB = b.do(t, func() (err error) {
			nB, err = b.m.Create(CreateOpts{Name: "other", Driver: DriverOverlay, Attachable: true})
			return
		})
	}()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("create: %v / %v", errA, errB)
	}
	if nA.Overlay.VNI == nB.Overlay.VNI || nA.Subnet().Overlaps(nB.Subnet()) {
		t.Fatalf("both got VNI %d/%d, subnets %s/%s", nA.Overlay.VNI, nB.Overlay.VNI, nA.Subnet(), nB.Subnet())
	}
	for _, h := range []*ovHost{a, b} {
		if err := h.do(t, func() error { return h.m.SyncOverlayNetworks(ctx) }); err != nil {
			t.Fatalf("sync on %s: %v", h.name, err)
		}
	}
	// A's devices: the VXLAN as the brief's shell line makes it.
	if err := a.do(t, func() error {
		l, err := netlink.LinkByName(nA.Overlay.VXLAN)
		if err != nil {
			return err
		}
		v, ok := l.(*netlink.Vxlan)
		br, _ := netlink.LinkByName(nA.Bridge)
		if !ok || v.VxlanId != int(nA.Overlay.VNI) || v.Learning || !v.Proxy || v.Port != VXLANPort || v.MTU != OverlayMTU ||
			!v.SrcAddr.Equal(a.addr.AsSlice()) || br == nil || v.MasterIndex != br.Attrs().Index {
			return fmt.Errorf("vxlan %+v", l)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c1, c2, c3 := newCtr(t, "c1"), newCtr(t, "c2"), newCtr(t, "c3")
	ep1, err := a.attach(t, c1, "ov", EndpointOpts{Aliases: []string{"web"}})
	if err != nil {
		t.Fatalf("attach c1 on A: %v", err)
	}
	ep2, err := b.attach(t, c2, "ov", EndpointOpts{Aliases: []string{"web"}})
	if err != nil {
		t.Fatalf("attach c2 on B: %v", err)
	}
	ep3, err := b.attach(t, c3, "other", EndpointOpts{})
	if err != nil {
		t.Fatalf("attach c3 on B: %v", err)
	}
	if ep1.IP() == ep2.IP() || ep1.MacAddress != macFromIP(ep1.IP()).String() {
		t.Fatalf("endpoints %s %s, mac %s", ep1.IP(), ep2.IP(), ep1.MacAddress)
	}
	// What the daemon does on the watch event of c2's announcement.
	for _, h := range []*ovHost{a, b} {
		if err := h.do(t, func() error { return h.m.SyncOverlayPeers(ctx, "ov") }); err != nil {
			t.Fatalf("sync peers on %s: %v", h.name, err)
		}
	}
	if err := ping(t, c1.pid, ep2.IP()); err != nil {
		t.Fatalf("c1 (A) → c2 (B): %v", err)
	}
	if err := ping(t, c2.pid, ep1.IP()); err != nil {
		t.Fatalf("c2 (B) → c1 (A): %v", err)
	}
	// B's VXLAN holds exactly A's container; its interface has the MAC and
	// the MTU the overlay gives.
	fdb, neigh, err := peersOn(t, b, nA)
	mac1 := macFromIP(ep1.IP()).String()
	if err != nil || fmt.Sprint(fdb) != fmt.Sprint([]fdbEntry{{mac1, a.addr}}) || fmt.Sprint(neigh) != fmt.Sprint([]neighEntry{{ep1.IP(), mac1}}) {
		t.Fatalf("B's entries: %v %v %v", fdb, neigh, err)
	}
	inNS(c1.pid, func(h *netlink.Handle) error {
		l, err := h.LinkByName("eth0")
		if err != nil || l.Attrs().HardwareAddr.String() != mac1 || l.Attrs().MTU != OverlayMTU {
			t.Errorf("c1's eth0: %v %v", l, err)
		}
		return nil
	})
	// DNS on A answers B's container, and the alias across both hosts.
	got, err := query(t, c1.pid, nA.Gateway(), "c2", false)
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]string{ep2.IP().String()}) {
		t.Fatalf("c2 from A: %v %v", got, err)
	}
	first, err := query(t, c1.pid, nA.Gateway(), "web", false)
	if err != nil || len(first) != 2 {
		t.Fatalf("web from A: %v %v", first, err)
	}
	second, _ := query(t, c1.pid, nA.Gateway(), "web", false)
	if len(second) != 2 || second[0] != first[1] {
		t.Fatalf("round robin: %v then %v", first, second)
	}
	want := []string{ep1.IP().String(), ep2.IP().String()}
	sort.Strings(first)
	sort.Strings(want)
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("web → %v, want %v", first, want)
	}
	// The other overlay reaches neither container.
	if err := ping(t, c3.pid, ep2.IP()); err == nil {
		t.Fatal("a container of network other reached one of ov on its own host")
	}
	if err := ping(t, c3.pid, ep1.IP()); err == nil {
		t.Fatal("a container of network other reached one of ov on the other host")
	}
	// Removing ov is refused from B while A has a container on it.
	if err := b.do(t, func() error { return b.m.Remove("ov") }); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use on another host: %v", err)
	}
	// c1 leaves A: after B's sync its entries are gone.
	if err := a.do(t, func() error { return a.m.Detach(ep1) }); err != nil {
		t.Fatal(err)
	}
	if err := b.do(t, func() error { return b.m.SyncOverlayPeers(ctx, "ov") }); err != nil {
		t.Fatal(err)
	}
	if fdb, neigh, err := peersOn(t, b, nA); err != nil || len(fdb) != 0 || len(neigh) != 0 {
		t.Fatalf("B's entries after c1 left: %v %v %v", fdb, neigh, err)
	}
	if err := ping(t, c2.pid, ep1.IP()); err == nil {
		t.Fatal("c1's address still answers")
	}
	// The rest leaves; the networks are removed on one host and leave the
	// other at its sync; the store is empty.
	for _, ep := range []*Endpoint{ep2, ep3} {
		if err := b.do(t, func() error { return b.m.Detach(ep) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.do(t, func() error { return a.m.Remove("ov") }); err != nil {
		t.Fatal(err)
	}
	if err := b.do(t, func() error { return b.m.Remove("other") }); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*ovHost{a, b} {
		if err := h.do(t, func() error {
			if err := h.m.SyncOverlayNetworks(ctx); err != nil {
				return err
			}
			nets, err := h.m.List()
			for _, n := range nets {
				if n.Driver == DriverOverlay {
					err = errors.Join(err, fmt.Errorf("%s still here", n.Name))
				}
			}
			for _, name := range []string{nA.Bridge, nA.Overlay.VXLAN, nB.Bridge, nB.Overlay.VXLAN} {
				if ok, _ := linkExists(name); ok {
					err = errors.Join(err, fmt.Errorf("link %s left", name))
				}
			}
			return err
		}); err != nil {
			t.Fatalf("host %s after removal: %v", h.name, err)
		}
	}
	if keys := s.Keys(); len(keys) != 0 {
		t.Fatalf("store keeps %v", keys)
	}
}
