package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/memstore"
)

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
	hostC = netip.MustParseAddr("192.0.2.3")
)

// defineOverlay writes a network's definition and claims into the store
// as Create on another host would, and returns the network.
func defineOverlay(t *testing.T, s *memstore.Store, name, subnet string, vni uint32) *Network {
	t.Helper()
	id := newID()
	br, vx := overlayNames(id)
	p := netip.MustParsePrefix(subnet)
	n := &Network{Name: name, ID: id, Driver: DriverOverlay, Created: time.Now().UTC(), Bridge: br,
		Options: map[string]string{OptMTU: "1450"},
		IPAM:    IPAM{Config: []IPAMConfig{{Subnet: p.String(), Gateway: p.Addr().Next().String()}}},
		Overlay: &OverlayState{VNI: vni, VXLAN: vx}}
	b, err := json.Marshal(n.overlayDef())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, v := range map[string][]byte{keyNetwork(id): b, keyName(name): []byte(id), keyVNI(vni): []byte(id), keySubnet(p): []byte(id)} {
		if err := s.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func clusterHost(t *testing.T, s ClusterStore, me netip.Addr, tr *explain.Tracer) *Manager {
	t.Helper()
	m, err := Open(t.TempDir(), tr)
	if err != nil {
		t.Fatal(err)
	}
	m.SetCluster(Cluster{Store: s, URL: "etcd://192.0.2.9:2379", Advertise: me})
	return m
}

// Without a store an overlay is refused in one line, before anything is
// written; the same for a synced network's endpoint in a process that
// cannot dial the recorded store.
func TestOverlayNeedsClusterStore(t *testing.T) {
	// A process of minirun dials etcd (etcdstore.go); this test's starts
	// as one that cannot dial, and must send nothing anywhere.
	saved := DialCluster
	DialCluster = nil
	defer func() { DialCluster = saved }()
	dir := t.TempDir()
	m, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(CreateOpts{Name: "ov", Driver: DriverOverlay})
	if !errors.Is(err, ErrNoCluster) || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "minirun daemon --cluster-store etcd://HOST:PORT --cluster-advertise ADDR") {
		t.Fatalf("create without a store: %v", err)
	}
	if ents, _ := os.ReadDir(m.Dir()); len(ents) != 0 {
		t.Fatalf("a refused overlay left %v", ents)
	}
	if err := m.SyncOverlayNetworks(context.Background()); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("sync without a store: %v", err)
	}
	// A record made by the daemon's Manager, used by a shim's (no store,
	// no DialCluster): Reserve says the same.
	s := &memstore.Store{}
	d := defineOverlay(t, s, "ov", "10.79.0.0/24", 4096)
	daemon := clusterHost(t, s, hostA, nil)
	daemon.dir = m.dir
	if err := daemon.SyncOverlayNetworks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve("ov", strings.Repeat("ab", 32), "web", EndpointOpts{}); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("reserve without a store: %v", err)
	}
	// With DialCluster set, the shim's Manager dials the recorded URL,
	// and closes the store once the call is over.
	var dialed []string
	cs := &closingStore{Store: s}
	DialCluster = func(url string) (ClusterStore, error) { dialed = append(dialed, url); return cs, nil }
	ep, err := m.Reserve("ov", strings.Repeat("ab", 32), "web", EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dialed, []string{"etcd://192.0.2.9:2379"}) || ep.IP().String() != "10.79.0.2" || cs.closed != 1 {
		t.Fatalf("dialed %v, got %s, closed %d times", dialed, ep.IPv4Address, cs.closed)
	}
	if _, ok, _ := s.Get(context.Background(), keyIPAM(d.ID, ep.IP())); !ok {
		t.Fatal("the address was not claimed in the store")
	}
	// The daemon restarted with another URL: after its sync the shims
	// dial that one.
	daemon.SetCluster(Cluster{Store: s, URL: "etcd://192.0.2.10:2379", Advertise: hostA})
	if err := daemon.SyncOverlayNetworks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve("ov", strings.Repeat("cd", 32), "db", EndpointOpts{}); err != nil || len(dialed) != 2 || dialed[1] != "etcd://192.0.2.10:2379" {
		t.Fatalf("after the new URL: dialed %v, %v", dialed, err)
	}
}

// closingStore counts its Close calls.
type closingStore struct {
	*memstore.Store
	closed int
}

func (c *closingStore) Close() error { c.closed++; return nil }

// An internal overlay gets neither a default route nor NAT nor ip_forward,
// as an internal bridge; its containers still get its DNS.
func TestOverlayInternal(t *testing.T) {
	rec := &explain.Recorder{}
	m := clusterHost(t, &memstore.Store{}, hostA, explain.NewDryRun(rec))
	if _, err := m.Create(CreateOpts{Name: "ov", Driver: DriverOverlay, Internal: true}); err != nil {
		t.Fatal(err)
	}
	ep, err := m.Reserve("ov", strings.Repeat("ab", 32), "web", EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ep, 0, "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, id := range rec.IDs() {
		if id == StepRoute || id == StepMasquerade || id == StepIPForward || id == StepLocalnetGuard {
			t.Errorf("internal overlay took %s", id)
		}
	}
	if ep.Gateway != "" || ep.DNSServer != "10.79.0.1" {
		t.Fatalf("endpoint gateway %q dns %q", ep.Gateway, ep.DNSServer)
	}
	// Options the overlay driver does not take are refused in one line.
	for _, o := range []map[string]string{{"encrypted": ""}, {OptBridgeName: "mrx"}, {OptVXLANID: "0"}} {
		if _, err := m.Create(CreateOpts{Name: "x", Driver: DriverOverlay, Options: o}); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("options %v: %v", o, err)
		}
	}
	// --attachable is dockerd's on any driver (docker-compose sends it
	// for every network): a dry-run bridge network records it.
	if n, err := m.Create(CreateOpts{Name: "x", Attachable: true}); err != nil || !n.Attachable {
		t.Errorf("--attachable on a bridge network: %+v, %v", n, err)
	}
}

func TestMACFromIP(t *testing.T) {
	for ip, want := range map[string]string{"10.79.0.2": "02:42:0a:4f:00:02", "192.168.255.254": "02:42:c0:a8:ff:fe"} {
		if got := macFromIP(netip.MustParseAddr(ip)).String(); got != want {
			t.Errorf("%s → %s, want %s", ip, got, want)
		}
	}
	if a, b := overlayNames(strings.Repeat("0123456789abcdef", 4)); a != "mrov0123456789" || b != "mrvx0123456789" || len(a) > 15 {
		t.Fatalf("names %s %s", a, b)
	}
}

// Many networks created at once from two hosts each get a VNI and a
// subnet nobody else has, and the claims sit where docs/network.md says.
func TestOverlayClaimsRace(t *testing.T) {
	s := &memstore.Store{}
	ctx := context.Background()
	const per = 15
	var mu sync.Mutex
	var got []*Network
	var wg sync.WaitGroup
	for h := 0; h < 2; h++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				n := &Network{Name: fmt.Sprintf("n%d-%d", h, i), ID: newID(), Overlay: &OverlayState{}}
				used, err := listVNIs(ctx, s)
				if err == nil {
					n.Overlay.VNI, err = freeVNI(used)
				}
				if err == nil {
					err = claimVNI(ctx, s, n, false)
				}
				pick := func() (netip.Prefix, error) {
					cl, err := clusterSubnets(ctx, s)
					if err != nil {
						return netip.Prefix{}, err
					}
					return chooseSubnet(netip.MustParsePrefix(OverlayPool), UserPrefixLen, cl, nil)
				}
				var p netip.Prefix
				if err == nil {
					p, err = pick()
				}
				if err == nil {
					n.IPAM.Config = []IPAMConfig{{Subnet: p.String(), Gateway: p.Addr().Next().String()}}
					err = claimSubnet(ctx, s, n, pick, "")
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	vnis, subnets := map[uint32]string{}, map[netip.Prefix]string{}
	for _, n := range got {
		if o, ok := vnis[n.Overlay.VNI]; ok {
			t.Errorf("VNI %d given to %s and %s", n.Overlay.VNI, o, n.Name)
		}
		if o, ok := subnets[n.Subnet()]; ok {
			t.Errorf("subnet %s given to %s and %s", n.Subnet(), o, n.Name)
		}
		vnis[n.Overlay.VNI], subnets[n.Subnet()] = n.Name, n.Name
		if v, _, _ := s.Get(ctx, keyVNI(n.Overlay.VNI)); string(v) != n.ID {
			t.Errorf("%s holds %q, want %s", keyVNI(n.Overlay.VNI), v, n.ID)
		}
	}
	if len(got) != 2*per {
		t.Fatalf("%d networks made", len(got))
	}
	if _, ok := vnis[OverlayFirstVNI]; !ok {
		t.Errorf("VNIs do not start at %d: %v", OverlayFirstVNI, vnis)
	}
	if _, ok := subnets[netip.MustParsePrefix("10.79.0.0/24")]; !ok {
		t.Errorf("subnets do not start at 10.79.0.0/24")
	}
	// A --subnet overlapping a claimed /24 is refused.
	n := &Network{Name: "big", ID: newID(), IPAM: IPAM{Config: []IPAMConfig{{Subnet: "10.79.0.0/16"}}}}
	if err := claimSubnet(ctx, s, n, func() (netip.Prefix, error) { return n.Subnet(), nil }, ""); err == nil {
		t.Fatal("an overlapping subnet was claimed")
	}
	if _, ok, _ := s.Get(ctx, keySubnet(netip.MustParsePrefix("10.79.0.0/16"))); ok {
		t.Fatal("the refused claim stayed in the store")
	}
}

// Two hosts that learned the network from the store reserve addresses at
// the same time: every address is claimed once in the cluster, each
// endpoint's MAC is derived from its address, and Detach gives it back.
func TestOverlayIPAMAcrossHosts(t *testing.T) {
	s := &memstore.Store{}
	d := defineOverlay(t, s, "ov", "10.79.3.0/24", 4099)
	hosts := []*Manager{clusterHost(t, s, hostB, nil), clusterHost(t, s, hostC, nil)}
	for _, m := range hosts {
		if err := m.SyncOverlayNetworks(context.Background()); err != nil {
			t.Fatal(err)
		}
		n, err := m.Get("ov")
		if err != nil {
			t.Fatal(err)
		}
		if n.ID != d.ID || n.Scope != "global" || n.Bridge != d.Bridge || n.Overlay.VXLAN != d.Overlay.VXLAN || n.Overlay.VNI != 4099 || n.Gateway().String() != "10.79.3.1" {
			t.Fatalf("synced record %+v %+v", n, n.Overlay)
		}
	}
	const per = 20
	var mu sync.Mutex
	ips := map[string]string{}
	var eps [][]*Endpoint = make([][]*Endpoint, 2)
	var wg sync.WaitGroup
	for h, m := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				id := fmt.Sprintf("%x%063x", h+1, i)
				ep, err := m.Reserve("ov", id, fmt.Sprintf("c%d-%d", h, i), EndpointOpts{})
				if err != nil {
					t.Error(err)
					return
				}
				if ep.MacAddress != macFromIP(ep.IP()).String() {
					t.Errorf("%s has MAC %s", ep.IP(), ep.MacAddress)
				}
				mu.Lock()
				if o, ok := ips[ep.IPv4Address]; ok {
					t.Errorf("%s given to %s and %s", ep.IPv4Address, o, ep.Name)
				}
				ips[ep.IPv4Address] = ep.Name
				eps[h] = append(eps[h], ep)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	kvs, _, _ := s.List(context.Background(), prefixIPAM(d.ID))
	if len(kvs) != 2*per || len(ips) != 2*per {
		t.Fatalf("%d claims, %d addresses", len(kvs), len(ips))
	}
	if v := kvs[keyIPAM(d.ID, eps[0][0].IP())]; string(v) != eps[0][0].Name+"@"+hostB.String() {
		t.Fatalf("claim holds %q", v)
	}
	// A --ip another host holds is refused; Detach releases.
	taken := eps[1][0].IP().String()
	if _, err := hosts[0].Reserve("ov", strings.Repeat("e", 64), "dup", EndpointOpts{IP: taken}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("--ip %s held elsewhere: %v", taken, err)
	}
	if err := hosts[1].Detach(eps[1][0]); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(context.Background(), keyIPAM(d.ID, eps[1][0].IP())); ok {
		t.Fatal("Detach left the claim")
	}
	if ep, err := hosts[0].Reserve("ov", strings.Repeat("e", 64), "dup", EndpointOpts{IP: taken}); err != nil || ep.IP().String() != taken {
		t.Fatalf("--ip %s once free: %v", taken, err)
	}
	// Removing the network is refused while any host has an address on
	// it, also from a host that has none.
	idle := clusterHost(t, s, hostA, nil)
	if err := idle.SyncOverlayNetworks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := idle.Remove("ov"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "c1-1@192.0.2.3") {
		t.Fatalf("remove in use elsewhere: %v", err)
	}
}

// A network defined in the store appears on a host at its sync, and goes
// at the sync after it left the store; a local network with the same name
// keeps the cluster's out, with a reason.
func TestSyncOverlayNetworks(t *testing.T) {
	s := &memstore.Store{}
	rec := &explain.Recorder{}
	m := clusterHost(t, s, hostB, explain.NewDryRun(rec))
	d := defineOverlay(t, s, "ov", "10.79.1.0/24", 4097)
	ctx := context.Background()
	if err := m.SyncOverlayNetworks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncOverlayNetworks(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	if got := rec.IDs(); !reflect.DeepEqual(got, []string{StepState}) {
		t.Fatalf("first syncs took %v", got)
	}
	if n, err := m.Get("ov"); err != nil || n.ID != d.ID {
		t.Fatalf("get: %v", err)
	}
	s.Delete(ctx, keyNetwork(d.ID))
	rec.Events = nil
	if err := m.SyncOverlayNetworks(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{StepRulesDelete, StepOverlayVXLANDelete, StepBridgeDelete, StepStateDelete, StepNftTableDel}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("removal took %v, want %v", got, want)
	}
	if _, err := m.Get("ov"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("still there: %v", err)
	}
	// A same-named local network: the cluster's is refused, the rest go on.
	if _, err := m.Create(CreateOpts{Name: "clash"}); err != nil {
		t.Fatal(err)
	}
	defineOverlay(t, s, "clash", "10.79.2.0/24", 4098)
	other := defineOverlay(t, s, "fine", "10.79.4.0/24", 4100)
	err := m.SyncOverlayNetworks(ctx)
	if err == nil || !strings.Contains(err.Error(), "a network named clash already exists on this host") {
		t.Fatalf("clash: %v", err)
	}
	if n, err := m.Get("fine"); err != nil || n.ID != other.ID {
		t.Fatalf("the other network: %v", err)
	}
}

func TestPlanPeers(t *testing.T) {
	ip := netip.MustParseAddr
	p := func(addr, host string) OverlayPeer {
		return OverlayPeer{Name: "c" + addr, IP: addr, MAC: macFromIP(ip(addr)).String(), Host: host}
	}
	f := func(addr, host string) fdbEntry { return fdbEntry{MAC: macFromIP(ip(addr)).String(), Dst: ip(host)} }
	nb := func(addr string) neighEntry { return neighEntry{IP: ip(addr), MAC: macFromIP(ip(addr)).String()} }
	for _, tc := range []struct {
		name  string
		want  []OverlayPeer
		fdb   []fdbEntry
		neigh []neighEntry
		plan  peerPlan
	}{
		{"empty", nil, nil, nil, peerPlan{}},
		{"new peer", []OverlayPeer{p("10.79.0.2", "192.0.2.1")}, nil, nil,
			peerPlan{Add: []OverlayPeer{p("10.79.0.2", "192.0.2.1")}}},
		{"in place", []OverlayPeer{p("10.79.0.2", "192.0.2.1")}, []fdbEntry{f("10.79.0.2", "192.0.2.1")}, []neighEntry{nb("10.79.0.2")},
			peerPlan{}},
		{"gone", nil, []fdbEntry{f("10.79.0.2", "192.0.2.1")}, []neighEntry{nb("10.79.0.2")},
			peerPlan{DelFDB: []fdbEntry{f("10.79.0.2", "192.0.2.1")}, DelNeigh: []neighEntry{nb("10.79.0.2")}}},
		{"moved host: replaced, not deleted", []OverlayPeer{p("10.79.0.2", "192.0.2.3")}, []fdbEntry{f("10.79.0.2", "192.0.2.1")}, []neighEntry{nb("10.79.0.2")},
			peerPlan{Add: []OverlayPeer{p("10.79.0.2", "192.0.2.3")}}},
		{"neighbour missing", []OverlayPeer{p("10.79.0.2", "192.0.2.1")}, []fdbEntry{f("10.79.0.2", "192.0.2.1")}, nil,
			peerPlan{Add: []OverlayPeer{p("10.79.0.2", "192.0.2.1")}}},
		{"one stays, one goes", []OverlayPeer{p("10.79.0.3", "192.0.2.1")},
			[]fdbEntry{f("10.79.0.2", "192.0.2.1"), f("10.79.0.3", "192.0.2.1")}, []neighEntry{nb("10.79.0.2"), nb("10.79.0.3")},
			peerPlan{DelFDB: []fdbEntry{f("10.79.0.2", "192.0.2.1")}, DelNeigh: []neighEntry{nb("10.79.0.2")}}},
	} {
		if got := planPeers(tc.want, tc.fdb, tc.neigh); !reflect.DeepEqual(got, tc.plan) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.plan)
		}
	}
}

// remotePeers keeps other hosts' endpoints, sorted, and refuses a
// malformed one rather than programming garbage.
func TestRemotePeers(t *testing.T) {
	s := &memstore.Store{}
	ctx := context.Background()
	put := func(id string, p OverlayPeer) {
		b, _ := json.Marshal(p)
		s.Put(ctx, keyEndpoint("net1", id), b)
	}
	put("e1", OverlayPeer{Name: "a", IP: "10.79.0.3", MAC: "02:42:0A:4F:00:03", Host: hostA.String()})
	put("e2", OverlayPeer{Name: "b", IP: "10.79.0.2", MAC: "02:42:0a:4f:00:02", Host: hostB.String()})
	put("e3", OverlayPeer{Name: "c", IP: "10.79.0.4", MAC: "02:42:0a:4f:00:04", Host: hostC.String()})
	got, err := remotePeers(ctx, s, "net1", hostB)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name+" "+p.MAC)
	}
	if !reflect.DeepEqual(names, []string{"a 02:42:0a:4f:00:03", "c 02:42:0a:4f:00:04"}) {
		t.Fatalf("peers %v", names)
	}
	s.Put(ctx, keyEndpoint("net1", "bad"), []byte(`{"ip":"10.79.0.9","mac":"zz","host":"192.0.2.1"}`))
	if _, err := remotePeers(ctx, s, "net1", hostB); err == nil {
		t.Fatal("a malformed endpoint was accepted")
	}
}

// The DNS server's members include an overlay's remote endpoints, so a
// shared alias answers across hosts.
func TestOverlayDNSMembers(t *testing.T) {
	n := &Network{Name: "ov", Driver: DriverOverlay, Containers: map[string]*Endpoint{
		"aa": {Name: "web1", IPv4Address: "10.79.0.2/24", Attached: true, Aliases: []string{"web"}},
	}, Overlay: &OverlayState{Peers: []OverlayPeer{{Name: "web2", ContainerID: "bb", IP: "10.79.0.3", Aliases: []string{"web"}}}}}
	r := &Resolver{Network: "ov", Subnet: netip.MustParsePrefix("10.79.0.0/24"), Members: func() []member { return membersOf(n) }}
	got := r.lookup("web")
	sort.Slice(got, func(i, j int) bool { return got[i].Less(got[j]) })
	if fmt.Sprint(got) != "[10.79.0.2 10.79.0.3]" || fmt.Sprint(r.lookup("web2")) != "[10.79.0.3]" {
		t.Fatalf("web → %v", got)
	}
	if !n.HasDNS() {
		t.Fatal("overlay networks have DNS")
	}
}

// A dry run of a whole overlay session narrates every overlay step that
// a session without kernel entries to delete takes, each with its anchor.
func TestOverlayDrySession(t *testing.T) {
	s := &memstore.Store{}
	rec := &explain.Recorder{}
	m := clusterHost(t, s, hostA, explain.NewDryRun(rec))
	n, err := m.Create(CreateOpts{Name: "ov", Driver: DriverOverlay, Attachable: true})
	if err != nil {
		t.Fatal(err)
	}
	if n.Overlay.VNI != OverlayFirstVNI || n.Subnet().String() != "10.79.0.0/24" || n.MTU() != OverlayMTU || !n.Attachable || n.Options[OptVXLANID] != "4096" {
		t.Fatalf("network %+v %+v", n, n.Overlay)
	}
	if len(s.Keys()) != 0 {
		t.Fatalf("a dry run wrote %v", s.Keys())
	}
	// A container on another host, as its Attach announces it.
	b, _ := json.Marshal(OverlayPeer{EndpointID: "e2", Name: "far", IP: "10.79.0.9", MAC: "02:42:0a:4f:00:09", Host: hostB.String()})
	s.Put(context.Background(), keyEndpoint(n.ID, "e2"), b)
	ep, err := m.Reserve("ov", strings.Repeat("ab", 32), "web", EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ep, 0, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	s.Delete(context.Background(), keyEndpoint(n.ID, "e2"))
	if err := m.Remove("ov"); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../docs/network.md")
	if err != nil {
		t.Fatal(err)
	}
	checkNarration(t, rec, string(page))
	for _, id := range []string{StepOverlayPeerDelete, StepOverlayEndpointDelete, StepOverlayIPAMRelease} {
		if !strings.Contains(string(page), `<a id="`+id+`"></a>`) {
			t.Errorf("docs/network.md has no anchor for %s", id)
		}
	}
	want := []string{StepOverlayName, StepOverlayVNI, StepOverlaySubnet, StepOverlayDefine, StepState,
		StepBridge, StepOverlayVXLAN, StepGateway, StepIPForward, StepRouteLocalnet, StepNftTable, StepMasquerade,
		StepIsolation, StepLocalnetGuard, StepForward, StepDNS,
		StepOverlayIPAM, StepIPAM,
		StepVeth, StepBridgePort, StepAddr, StepRoute, StepJoin, StepOverlayEndpoint, StepOverlayPeers, StepOverlayPeer,
		StepVethDelete, StepOverlayEndpointDelete, StepOverlayIPAMRelease, StepIPAMRelease,
		StepOverlayUndefine, StepDNSStop, StepRulesDelete, StepOverlayVXLANDelete, StepBridgeDelete, StepStateDelete, StepNftTableDel}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("order of the steps:\n got %v\nwant %v", got, want)
	}
	for _, ev := range rec.Events {
		if ev.Step.ID == StepOverlayVXLAN && !strings.Contains(ev.Step.Shell, "type vxlan id 4096 local 192.0.2.1 dstport 4789 nolearning proxy") {
			t.Errorf("vxlan shell: %s", ev.Step.Shell)
		}
		if ev.Step.ID == StepVeth && !strings.Contains(ev.Step.Shell, "mtu 1450 address 02:42:0a:4f:00:02") {
			t.Errorf("veth shell: %s", ev.Step.Shell)
		}
	}
}

// listHook is a store whose List first calls hook.
type listHook struct {
	ClusterStore
	hook func()
}

func (l listHook) List(ctx context.Context, prefix string) (map[string][]byte, int64, error) {
	l.hook()
	return l.ClusterStore.List(ctx, prefix)
}

// SyncOverlayNetworks lists the store while it holds the network lock.
// Listed before it, a network this host's Create records in between is
// missing from the listing but present here, and the sync removes it as
// gone from the cluster: the daemon's watch fires on Create's first key
// (the name claim; the definition comes last) and, when those puts are
// more than clusterSettle apart (a slow CPU: tests/vm's TCG guests), its
// sync lists, waits for Create's lock, and then deletes the new network's
// local record (TestOverlayTwoVMs: "no such network" at the first run).
func TestSyncOverlayNetworksListsUnderLock(t *testing.T) {
	s := &memstore.Store{}
	m := clusterHost(t, s, hostB, nil)
	held := make(chan bool, 1)
	m.SetCluster(Cluster{Store: listHook{s, func() {
		// Another open file description: flock(2) conflicts with the
		// manager's own lock, as another minirun process's would.
		f, err := os.OpenFile(filepath.Join(m.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Error(err)
			held <- false
			return
		}
		defer f.Close()
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		held <- errors.Is(err, unix.EWOULDBLOCK)
	}}, URL: "etcd://192.0.2.9:2379", Advertise: hostB})
	if err := os.MkdirAll(m.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncOverlayNetworks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !<-held {
		t.Fatal("SyncOverlayNetworks listed the store without the network lock: a network created here meanwhile is removed as stale")
	}
}
