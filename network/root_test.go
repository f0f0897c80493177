package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
)

func TestRootSameNetworkPings(t *testing.T) {
	m := rootHost(t)
	n, err := m.Create(CreateOpts{Name: "curso"})
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet().String() != "10.78.0.0/24" || n.Gateway().String() != "10.78.0.1" {
		t.Fatalf("first user network got %s gw %s", n.Subnet(), n.Gateway())
	}
	a, b := newCtr(t, "a"), newCtr(t, "b")
	epA := a.join(t, m, "curso", EndpointOpts{})
	epB := b.join(t, m, "curso", EndpointOpts{})
	if epA.IfName != "eth0" || !strings.HasPrefix(epA.HostIfName, "mr"+a.id[:10]) || len(epA.HostIfName) > 15 {
		t.Fatalf("names: %s / %s", epA.IfName, epA.HostIfName)
	}
	if err := ping(t, a.pid, epB.IP()); err != nil {
		t.Fatalf("a → b: %v", err)
	}
	if err := ping(t, b.pid, epA.IP()); err != nil {
		t.Fatalf("b → a: %v", err)
	}
	if err := ping(t, a.pid, n.Gateway()); err != nil {
		t.Fatalf("a → gateway: %v", err)
	}
	// The container's side: eth0 with the address, a default route.
	inNS(a.pid, func(h *netlink.Handle) error {
		if ok, _ := hasDefaultRoute(h); !ok {
			t.Error("no default route in the container")
		}
		return nil
	})
	// Remove refuses while in use, then works once both are detached, and
	// leaves nothing of the network behind.
	if err := m.Remove("curso"); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use: %v", err)
	}
	for _, ep := range []*Endpoint{epA, epB} {
		if err := m.Detach(ep); err != nil {
			t.Fatal(err)
		}
		if ok, _ := linkExists(ep.HostIfName); ok {
			t.Fatalf("veth %s left after Detach", ep.HostIfName)
		}
	}
	if err := m.Detach(epA); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
	if err := m.Remove("curso"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := linkExists(n.Bridge); ok {
		t.Fatal("bridge left after Remove")
	}
	if rs, _ := taggedRules(tableName, allMinirunChains, n.Tag()); len(rs) > 0 {
		t.Fatalf("%d rules of the network left", len(rs))
	}
	if alive(n.DNS) {
		t.Fatal("dns server still running after Remove")
	}
	if ok, _ := tableExists(); ok {
		t.Fatal("table ip minirun left after the last network")
	}
}

func TestRootNetworksAreIsolated(t *testing.T) {
	m := rootHost(t)
	for _, name := range []string{"um", "dois"} {
		if _, err := m.Create(CreateOpts{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := newCtr(t, "a"), newCtr(t, "b"), newCtr(t, "c")
	a.join(t, m, "um", EndpointOpts{})
	epB := b.join(t, m, "dois", EndpointOpts{})
	epC := c.join(t, m, "dois", EndpointOpts{})
	if err := ping(t, c.pid, epB.IP()); err != nil {
		t.Fatalf("same network: %v", err)
	}
	if err := ping(t, a.pid, epB.IP()); err == nil {
		t.Fatal("a container of network um reached one of network dois")
	}
	if err := ping(t, b.pid, netip.MustParseAddr("10.78.0.2")); err == nil {
		t.Fatal("dois reached um")
	}
	_ = epC
}

// dnsUpstream is an upstream resolver the test runs on the test host's
// loopback: it answers every A query with 192.0.2.123 and records names.
type dnsUpstream struct {
	addr  string
	mu    sync.Mutex
	names []string
}

func newUpstream(t *testing.T) *dnsUpstream {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &dnsUpstream{addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		u.mu.Lock()
		u.names = append(u.names, q.Question[0].Name)
		u.mu.Unlock()
		r := new(dns.Msg)
		r.SetReply(q)
		r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 123)})
		w.WriteMsg(r)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

func (u *dnsUpstream) asked() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.names...)
}

// query asks the network's DNS server from inside a container.
func query(t *testing.T, pid int, server netip.Addr, name string, tcp bool) ([]string, error) {
	var out []string
	err := inNetNS(t, pid, func() error {
		c := &dns.Client{Timeout: 2 * time.Second}
		if tcp {
			c.Net = "tcp"
		}
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), dns.TypeA)
		r, _, err := c.Exchange(q, net.JoinHostPort(server.String(), "53"))
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		return nil
	})
	return out, err
}

func TestRootDNS(t *testing.T) {
	m := rootHost(t)
	up := newUpstream(t)
	n, err := m.Create(CreateOpts{Name: "dnsnet", Options: map[string]string{OptDNSUpstream: up.addr}})
	if err != nil {
		t.Fatal(err)
	}
	if !alive(n.DNS) || n.DNS.Addr != "10.78.0.1:53" {
		t.Fatalf("dns server %+v", n.DNS)
	}
	w1, w2, cl := newCtr(t, "web1"), newCtr(t, "web2"), newCtr(t, "client")
	ep1 := w1.join(t, m, "dnsnet", EndpointOpts{Aliases: []string{"web"}})
	ep2 := w2.join(t, m, "dnsnet", EndpointOpts{Aliases: []string{"web"}})
	cl.join(t, m, "dnsnet", EndpointOpts{})
	gw := n.Gateway()
	for _, tc := range []struct {
		name string
		want string
	}{{"web1", ep1.IP().String()}, {"web2", ep2.IP().String()}, {w1.id[:12], ep1.IP().String()}, {"web1.dnsnet", ep1.IP().String()}} {
		got, err := query(t, cl.pid, gw, tc.name, false)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.name, got, err, tc.want)
		}
	}
	// The alias: both addresses, in an order that rotates.
	first, err := query(t, cl.pid, gw, "web", false)
	if err != nil || len(first) != 2 {
		t.Fatalf("web: %v %v", first, err)
	}
	second, err := query(t, cl.pid, gw, "web", true) // over TCP too
	if err != nil || len(second) != 2 || second[0] != first[1] || second[1] != first[0] {
		t.Fatalf("round robin: %v then %v", first, second)
	}
	// Other names go to the upstream the network names (on loopback).
	got, err := query(t, cl.pid, gw, "example.test", false)
	if err != nil || len(got) != 1 || got[0] != "192.0.2.123" {
		t.Fatalf("forwarded: %v %v", got, err)
	}
	if a := up.asked(); len(a) != 1 || a[0] != "example.test." {
		t.Fatalf("upstream asked %v", a)
	}
	// Membership follows the state on disk: web2 leaves, web is one.
	if err := m.Detach(ep2); err != nil {
		t.Fatal(err)
	}
	if got, err := query(t, cl.pid, gw, "web", false); err != nil || len(got) != 1 || got[0] != ep1.IP().String() {
		t.Fatalf("after web2 left: %v %v", got, err)
	}
	// The server survives whoever started it: it is in its own session.
	if sid, _ := unixGetsid(n.DNS.Pid); sid != n.DNS.Pid {
		t.Fatalf("dns server session %d, want its own (%d)", sid, n.DNS.Pid)
	}
	// The default bridge has no DNS server, like Docker's.
	def, err := m.EnsureDefault()
	if err != nil {
		t.Fatal(err)
	}
	if def.DNS != nil || def.Bridge != DefaultBridge {
		t.Fatalf("default network %+v", def)
	}
}

func TestRootOutboundNATAndInternal(t *testing.T) {
	m := rootHost(t)
	out := uplink(t, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.100/24"))
	listen(t, out.pid, "tcp", "0.0.0.0:9000")
	if _, err := m.EnsureDefault(); err != nil {
		t.Fatal(err)
	}
	c := newCtr(t, "c")
	ep := c.join(t, m, DefaultNetwork, EndpointOpts{})
	if !netip.MustParsePrefix(DefaultSubnet).Contains(ep.IP()) {
		t.Fatalf("default network address %s", ep.IP())
	}
	seen, err := dial(t, c.pid, "tcp", "192.0.2.100:9000")
	if err != nil {
		t.Fatalf("container → outside: %v", err)
	}
	if seen != "192.0.2.1" {
		t.Fatalf("outside saw %s, want the host's 192.0.2.1 (masquerade)", seen)
	}
	// Inside the subnet nothing is translated.
	d := newCtr(t, "d")
	epD := d.join(t, m, DefaultNetwork, EndpointOpts{})
	listen(t, d.pid, "tcp", "0.0.0.0:7000")
	if seen, err := dial(t, c.pid, "tcp", net.JoinHostPort(epD.IP().String(), "7000")); err != nil || seen != ep.IP().String() {
		t.Fatalf("inside the subnet d saw %q (%v), want %s", seen, err, ep.IP())
	}
	// The outside cannot open a connection to a container's address.
	if err := inNS(out.pid, func(h *netlink.Handle) error {
		l, _ := h.LinkByName("eth0")
		return h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: prefixNet(netip.MustParsePrefix(DefaultSubnet)), Gw: net.IPv4(192, 0, 2, 1)})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, out.pid, "tcp", net.JoinHostPort(epD.IP().String(), "7000")); err == nil {
		t.Fatal("outside reached an unpublished container port")
	}
	// An internal network: no route out, no NAT.
	if _, err := m.Create(CreateOpts{Name: "interna", Internal: true}); err != nil {
		t.Fatal(err)
	}
	i := newCtr(t, "i")
	i.join(t, m, "interna", EndpointOpts{})
	inNS(i.pid, func(h *netlink.Handle) error {
		if ok, _ := hasDefaultRoute(h); ok {
			t.Error("container on an internal network has a default route")
		}
		return nil
	})
	if _, err := dial(t, i.pid, "tcp", "192.0.2.100:9000"); err == nil {
		t.Fatal("internal network reached the outside")
	}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func TestRootPublishedPorts(t *testing.T) {
	m := rootHost(t)
	out := uplink(t, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.100/24"))
	if _, err := m.Create(CreateOpts{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	s := newCtr(t, "srv")
	listen(t, s.pid, "tcp", "0.0.0.0:80")
	listen(t, s.pid, "udp", "0.0.0.0:53")
	ports, _ := ParsePublish("8080:80")
	udp, _ := ParsePublish("127.0.0.1:5353:53/udp")
	random, _ := ParsePublish("80")
	ep := s.join(t, m, "web", EndpointOpts{Ports: append(append(ports, udp...), random...)})
	if ep.Ports[2].HostPort == 0 {
		t.Fatal("-p 80 got no host port")
	}
	if lo, hi := ephemeralRange(); ep.Ports[2].HostPort < lo || ep.Ports[2].HostPort > hi {
		t.Fatalf("random host port %d outside %d-%d", ep.Ports[2].HostPort, lo, hi)
	}
	gw := "10.78.0.1"
	for _, tc := range []struct {
		from  int
		proto string
		addr  string
		saw   string
	}{
		{0, "tcp", "127.0.0.1:8080", gw},                  // localhost: output DNAT + route_localnet + masquerade
		{0, "tcp", "192.0.2.1:8080", "192.0.2.1"},         // the host's own IP
		{out.pid, "tcp", "192.0.2.1:8080", "192.0.2.100"}, // a remote client keeps its address
		{0, "udp", "127.0.0.1:5353", gw},
		{0, "tcp", fmt.Sprintf("127.0.0.1:%d", ep.Ports[2].HostPort), gw},
	} {
		seen, err := dial(t, tc.from, tc.proto, tc.addr)
		if err != nil || seen != tc.saw {
			t.Errorf("from %d to %s/%s: server saw %q (%v), want %s", tc.from, tc.addr, tc.proto, seen, err, tc.saw)
		}
	}
	// The udp port was published on 127.0.0.1 only.
	if _, err := dial(t, out.pid, "udp", "192.0.2.1:5353"); err == nil {
		t.Error("udp port published on 127.0.0.1 answered on the host's IP")
	}
	// Hairpin: a container of the same network through the host's port.
	h := newCtr(t, "hairpin")
	h.join(t, m, "web", EndpointOpts{})
	if seen, err := dial(t, h.pid, "tcp", "192.0.2.1:8080"); err != nil || seen != gw {
		t.Errorf("hairpin: server saw %q (%v), want %s", seen, err, gw)
	}
	// A port another program holds, or another container publishes: a
	// clear error, and nothing reserved.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	before, _ := m.Get("web")
	for _, spec := range []string{fmt.Sprintf("%d:80", busy), "8080:81"} {
		ps, _ := ParsePublish(spec)
		_, err := m.Reserve("web", newID(), "late", EndpointOpts{Ports: ps})
		if !errors.Is(err, ErrPortInUse) || strings.Contains(err.Error(), "\n") {
			t.Errorf("-p %s: %v", spec, err)
		}
	}
	after, _ := m.Get("web")
	if len(after.Containers) != len(before.Containers) {
		t.Fatal("a failed Reserve left an endpoint")
	}
	// Detach takes the DNAT rules away.
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	if rs, _ := taggedRules(tableName, []string{chainPorts}, tagOf(s.id)); len(rs) != 0 {
		t.Fatalf("%d DNAT rules left", len(rs))
	}
}

// A FORWARD (and INPUT) policy of DROP in iptables' filter table, set by
// the test as Docker or ufw would: the network still works, through the
// one jump minirun adds, which iptables-nft itself can read back; and it
// goes, with minirun's chains, when the network goes.
func TestRootForwardDropPolicy(t *testing.T) {
	m := rootHost(t)
	out := uplink(t, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.100/24"))
	listen(t, out.pid, "tcp", "0.0.0.0:9000")
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	filter := c.AddTable(filterTableObj())
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"FORWARD", nftables.ChainHookForward}, {"INPUT", nftables.ChainHookInput}} {
		c.AddChain(&nftables.Chain{Name: h.name, Table: filter, Type: nftables.ChainTypeFilter, Hooknum: h.hook, Priority: nftables.ChainPriorityFilter, Policy: policy(nftables.ChainPolicyDrop)})
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.DelTable(filter)
		c.Flush()
	})
	up := newUpstream(t)
	n, err := m.Create(CreateOpts{Name: "drop", Options: map[string]string{OptDNSUpstream: up.addr}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := newCtr(t, "a"), newCtr(t, "b")
	a.join(t, m, "drop", EndpointOpts{})
	epB := b.join(t, m, "drop", EndpointOpts{})
	check := func() error {
		if err := ping(t, a.pid, epB.IP()); err != nil {
			return fmt.Errorf("same network (bridged, seen by FORWARD through br_netfilter): %w", err)
		}
		if seen, err := dial(t, a.pid, "tcp", "192.0.2.100:9000"); err != nil || seen != "192.0.2.1" {
			return fmt.Errorf("outside: %q %v", seen, err)
		}
		if got, err := query(t, a.pid, n.Gateway(), "b", false); err != nil || len(got) != 1 {
			return fmt.Errorf("dns through INPUT drop: %v %v", got, err)
		}
		return nil
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("iptables", "-S", "FORWARD").CombinedOutput(); err != nil || !strings.Contains(string(out), "-A FORWARD -m comment --comment minirun -j MINIRUN-FORWARD") {
		t.Errorf("iptables -S FORWARD (%v):\n%s", err, out)
	}
	if out, err := exec.Command("iptables", "-S", "MINIRUN-FORWARD").CombinedOutput(); err != nil || !strings.Contains(string(out), "-A MINIRUN-FORWARD -i "+n.Bridge+" -m comment --comment \""+n.Tag()+"\" -j ACCEPT") {
		t.Errorf("iptables -S MINIRUN-FORWARD (%v):\n%s", err, out)
	}
	// Without the jump the DROP policy wins: the check above can fail.
	jumps, _ := jumpRules(compatFwd)
	for _, r := range jumps {
		c.DelRule(r)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, a.pid, "tcp", "192.0.2.100:9000"); err == nil {
		t.Fatal("traffic passed the DROP policy without minirun's jump")
	}
	// Attach puts what is missing back.
	late := newCtr(t, "late")
	late.join(t, m, "drop", EndpointOpts{})
	if err := check(); err != nil {
		t.Fatalf("after repair: %v", err)
	}
	for _, ep := range mustEndpoints(t, m, "drop") {
		m.Detach(ep)
	}
	if err := m.Remove("drop"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{compatForward, compatInput} {
		if ok, _ := chainExists(ch); ok {
			t.Errorf("%s left", ch)
		}
	}
	if js, _ := jumpRules(compatFwd); len(js) > 0 {
		t.Error("jump left in FORWARD")
	}
	if drops, _ := chainPolicyDrop("FORWARD"); !drops {
		t.Error("the host's FORWARD policy was changed")
	}
}

func mustEndpoints(t *testing.T, m *Manager, net string) []*Endpoint {
	n, err := m.Get(net)
	if err != nil {
		t.Fatal(err)
	}
	return n.Endpoints()
}

func TestRootFiftyConcurrentAttach(t *testing.T) {
	m := rootHost(t)
	if _, err := m.Create(CreateOpts{Name: "muitos"}); err != nil {
		t.Fatal(err)
	}
	const count = 50
	ctrs := make([]*ctr, count)
	for i := range ctrs {
		ctrs[i] = newCtr(t, fmt.Sprintf("c%02d", i))
	}
	eps := make([]*Endpoint, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i, c := range ctrs {
		wg.Add(1)
		go func(i int, c *ctr) {
			defer wg.Done()
			m2, err := Open(strings.TrimSuffix(m.Dir(), "/network"), nil)
			if err != nil {
				errs[i] = err
				return
			}
			ep, err := m2.Reserve("muitos", c.id, c.name, EndpointOpts{})
			if err == nil {
				err = m2.Attach(ep, c.pid, "")
			}
			eps[i], errs[i] = ep, err
		}(i, c)
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("container %d: %v", i, err)
		}
		if seen[eps[i].IP()] {
			t.Fatalf("address %s twice", eps[i].IP())
		}
		seen[eps[i].IP()] = true
	}
	if err := ping(t, ctrs[0].pid, eps[count-1].IP()); err != nil {
		t.Fatalf("first → last: %v", err)
	}
	var wg2 sync.WaitGroup
	for i, ep := range eps {
		wg2.Add(1)
		go func(i int, ep *Endpoint) { defer wg2.Done(); errs[i] = m.Detach(ep) }(i, ep)
	}
	wg2.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Get("muitos"); len(n.Containers) != 0 {
		t.Fatalf("%d endpoints left after Detach", len(n.Containers))
	}
}

func TestRootConnectDisconnectLive(t *testing.T) {
	m := rootHost(t)
	for _, name := range []string{"front", "back"} {
		if _, err := m.Create(CreateOpts{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	app, db := newCtr(t, "app"), newCtr(t, "db")
	app.join(t, m, "front", EndpointOpts{})
	epDB := db.join(t, m, "back", EndpointOpts{Aliases: []string{"database"}})
	if err := ping(t, app.pid, epDB.IP()); err == nil {
		t.Fatal("reached back before connect")
	}
	ep, err := m.Connect("back", app.id, app.name, app.pid, EndpointOpts{Aliases: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	if ep.IfName != "eth1" {
		t.Fatalf("second interface is %s, want eth1", ep.IfName)
	}
	if err := ping(t, app.pid, epDB.IP()); err != nil {
		t.Fatalf("after connect: %v", err)
	}
	back, _ := m.Get("back")
	if got, err := query(t, app.pid, back.Gateway(), "database", false); err != nil || len(got) != 1 || got[0] != epDB.IP().String() {
		t.Fatalf("alias database: %v %v", got, err)
	}
	eps, _ := m.Endpoints(app.id)
	if len(eps) != 2 || eps[0].IfName != "eth0" || eps[1].IfName != "eth1" {
		t.Fatalf("endpoints %+v", eps)
	}
	if err := m.Disconnect("back", app.id); err != nil {
		t.Fatal(err)
	}
	inNS(app.pid, func(h *netlink.Handle) error {
		if _, err := h.LinkByName("eth1"); err == nil {
			t.Error("eth1 still in the container after disconnect")
		}
		return nil
	})
	if err := m.Disconnect("back", app.id); err == nil {
		t.Fatal("second disconnect succeeded")
	}
}

func TestRootHostAndNone(t *testing.T) {
	m := rootHost(t)
	c := newCtr(t, "h")
	ep, err := m.Reserve(HostNetwork, c.id, c.name, EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if !ep.HostNetwork() || ep.NeedsNetNS() || ep.IP().IsValid() {
		t.Fatalf("host endpoint %+v", ep)
	}
	if err := m.Attach(ep, c.pid, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve("bridge", c.id, c.name, EndpointOpts{}); err == nil {
		t.Fatal("host-network container joined another network")
	}
	n, _ := m.Get(HostNetwork)
	if n.Containers[c.id] == nil || !n.Containers[c.id].Attached {
		t.Fatal("host network does not list the container")
	}
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	d := newCtr(t, "n")
	ep, err = m.Reserve(NoneNetwork, d.id, d.name, EndpointOpts{})
	if err != nil || !ep.NeedsNetNS() {
		t.Fatalf("none: %+v %v", ep, err)
	}
	if err := m.Attach(ep, d.pid, ""); err != nil {
		t.Fatal(err)
	}
	inNS(d.pid, func(h *netlink.Handle) error {
		ls, _ := h.LinkList()
		if len(ls) != 1 || ls[0].Attrs().Name != "lo" {
			t.Errorf("none network container has %d links", len(ls))
		}
		return nil
	})
	if err := m.Remove(NoneNetwork); err == nil {
		t.Fatal("removed the none network")
	}
	m.Detach(ep)
}

func TestRootBadInputLeavesNothing(t *testing.T) {
	m := rootHost(t)
	uplink(t, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.100/24"))
	if _, err := m.Create(CreateOpts{Name: "ok", Subnet: "10.78.50.0/24"}); err != nil {
		t.Fatal(err)
	}
	linksBefore := mrLinks(t)
	for _, tc := range []struct {
		o    CreateOpts
		want string
	}{
		{CreateOpts{Name: "x", Subnet: "10.78.50.0/25"}, "overlaps network ok"},
		{CreateOpts{Name: "x", Subnet: "192.0.2.0/25"}, "overlaps the host's route to 192.0.2.0/24"},
		{CreateOpts{Name: "x", Subnet: "10.78.60.7/24"}, "host bits"},
		{CreateOpts{Name: "x", Subnet: "10.78.60.0/24", Gateway: "10.78.61.1"}, "not in subnet"},
		{CreateOpts{Name: "ok"}, "already exists"},
		{CreateOpts{Name: "x", Driver: "overlay"}, "need a cluster store"},
		{CreateOpts{Name: "x", Driver: "macvlan", Options: map[string]string{OptMacvlanMode: "bogus"}}, "requested macvlan mode 'bogus' is not valid"},
		{CreateOpts{Name: "bad name"}, "invalid network name"},
		{CreateOpts{Name: "x", Options: map[string]string{"foo": "bar"}}, "unknown network option"},
		{CreateOpts{Name: "x", Options: map[string]string{OptBridgeName: "eth9"}}, "start with mr"},
	} {
		_, err := m.Create(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Create(%+v): %v, want one line with %q", tc.o, err, tc.want)
		}
	}
	if err := m.Remove("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove unknown: %v", err)
	}
	if err := m.Remove(DefaultNetwork); err == nil {
		t.Error("removed bridge")
	}
	// Attach fails half-way (the container already has an eth0 that is
	// not ours): every step before is undone, the endpoint stays only
	// reserved, and it can still be detached.
	c := newCtr(t, "c")
	if err := inNS(c.pid, func(h *netlink.Handle) error {
		la := netlink.NewLinkAttrs()
		la.Name = "eth0"
		return h.LinkAdd(&netlink.Bridge{LinkAttrs: la})
	}); err != nil {
		t.Fatal(err)
	}
	ep, err := m.Reserve("ok", c.id, c.name, EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ep, c.pid, "eth0"); err == nil {
		t.Fatal("attach over an existing eth0 succeeded")
	}
	if got := mrLinks(t); strings.Join(got, " ") != strings.Join(linksBefore, " ") {
		t.Fatalf("links after a failed attach: %v, before %v", got, linksBefore)
	}
	if err := m.Attach(ep, 999999999, ""); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("attach to a missing pid: %v", err)
	}
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	n, _ := m.Get("ok")
	if len(n.Containers) != 0 {
		t.Fatal("endpoint left")
	}
	ents, _ := os.ReadDir(m.Dir())
	if len(ents) != 2 { // lock + the one network
		t.Fatalf("state dir holds %d entries", len(ents))
	}
}

func mrLinks(t *testing.T) []string {
	ls, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		if strings.HasPrefix(l.Attrs().Name, "mr") {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// What minirun meant to install is what the kernel has: nft's own listing
// of each chain shows the rules as rule.nftText renders them.
func TestRootRulesAsNftListsThem(t *testing.T) {
	m := rootHost(t)
	n, err := m.Create(CreateOpts{Name: "regras"})
	if err != nil {
		t.Fatal(err)
	}
	c := newCtr(t, "c")
	ps, _ := ParsePublish("127.0.0.1:8081:80")
	ep := c.join(t, m, "regras", EndpointOpts{Ports: ps})
	counters := regexp.MustCompile(`counter packets \d+ bytes \d+`)
	for _, group := range [][]rule{baseRules(), masqueradeRules(n), isolationRules(n), guardRules(n), portRules(ep)} {
		for _, r := range group {
			listing := counters.ReplaceAllString(nftList(t, r.table, r.chain), "counter")
			if !strings.Contains(listing, r.nftText()) {
				t.Errorf("chain %s lacks\n  %s\nnft lists:\n%s", r.chain, r.nftText(), listing)
			}
		}
	}
}

// After a reboot the state on disk remains and the kernel's objects are
// gone: the next Attach puts them all back.
func TestRootRecoversAfterReboot(t *testing.T) {
	m := rootHost(t)
	n, err := m.Create(CreateOpts{Name: "boot"})
	if err != nil {
		t.Fatal(err)
	}
	stopDNSProcess(n.DNS)
	deleteLink(n.Bridge)
	deleteTable()
	a, b := newCtr(t, "a"), newCtr(t, "b")
	a.join(t, m, "boot", EndpointOpts{})
	epB := b.join(t, m, "boot", EndpointOpts{})
	if err := ping(t, a.pid, epB.IP()); err != nil {
		t.Fatal(err)
	}
	n, _ = m.Get("boot")
	if !alive(n.DNS) {
		t.Fatal("dns server not restarted")
	}
	if got, err := query(t, a.pid, n.Gateway(), "b", false); err != nil || len(got) != 1 {
		t.Fatalf("dns after restart: %v %v", got, err)
	}
}

// A container that dies without a Detach (its CLI was killed, the host
// rebooted) leaves an endpoint whose process is gone: Remove, Prune and a
// new Reserve of the same container reap it instead of refusing forever.
func TestRootStaleEndpointsAreReaped(t *testing.T) {
	m := rootHost(t)
	if _, err := m.Create(CreateOpts{Name: "velha"}); err != nil {
		t.Fatal(err)
	}
	a, b := newCtr(t, "a"), newCtr(t, "b")
	a.join(t, m, "velha", EndpointOpts{})
	b.join(t, m, "velha", EndpointOpts{})
	if err := m.Remove("velha"); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove with live containers: %v", err)
	}
	kill := func(c *ctr) {
		p, _ := os.FindProcess(c.pid)
		p.Kill()
		for i := 0; i < 200 && !stale(&Endpoint{Attached: true, Pid: c.pid}); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	kill(a)
	// a restarts under the same id (and a new pid): its old endpoint goes.
	a2 := newCtr(t, "a")
	a2.id = a.id
	a2.join(t, m, "velha", EndpointOpts{})
	kill(a2)
	kill(b)
	if err := m.Remove("velha"); err != nil {
		t.Fatalf("remove with only dead containers: %v", err)
	}
}

// Docker's MTU option reaches the bridge and both ends of every veth.
func TestRootMTUOption(t *testing.T) {
	m := rootHost(t)
	if _, err := m.Create(CreateOpts{Name: "x", Options: map[string]string{OptMTU: "70000"}}); err == nil {
		t.Fatal("MTU 70000 accepted")
	}
	n, err := m.Create(CreateOpts{Name: "jumbo", Options: map[string]string{OptMTU: "9000"}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := newCtr(t, "a"), newCtr(t, "b")
	ep := a.join(t, m, "jumbo", EndpointOpts{})
	epB := b.join(t, m, "jumbo", EndpointOpts{})
	for _, name := range []string{n.Bridge, ep.HostIfName} {
		if l, err := netlink.LinkByName(name); err != nil || l.Attrs().MTU != 9000 {
			t.Errorf("%s: mtu %v %v", name, l, err)
		}
	}
	inNS(a.pid, func(h *netlink.Handle) error {
		if l, err := h.LinkByName("eth0"); err != nil || l.Attrs().MTU != 9000 {
			t.Errorf("container eth0 mtu: %v", err)
		}
		return nil
	})
	if err := ping(t, a.pid, epB.IP()); err != nil {
		t.Fatal(err)
	}
}
