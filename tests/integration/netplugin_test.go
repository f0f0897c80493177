//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// netVeth is examples/net-veth running for one test: a network and IPAM
// plugin in a temporary plugin directory minirun is pointed at.
type netVeth struct {
	state, log string
}

// startNetVeth serves examples/net-veth (startExamplePlugin), its pools
// cut from 10.99.0.0/16, its state in a file the test reads.
func startNetVeth(t *testing.T) *netVeth {
	t.Helper()
	top := t.TempDir()
	p := &netVeth{state: filepath.Join(top, "state.json")}
	p.log = startExamplePlugin(t, top, "net-veth", "-range", "10.99.0.0/16", "-state", p.state).Name()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("net-veth's log:\n%s", b)
		}
	})
	return p
}

// pluginState is what net-veth holds: its pools with their used
// addresses, its networks and endpoints.
type pluginState struct {
	Pools map[string]struct {
		Prefix string
		Used   map[string]bool
	}
	Networks  map[string]struct{ Bridge, Gateway string }
	Endpoints map[string]struct{ Network, Address string }
}

func (p *netVeth) read(t *testing.T) pluginState {
	t.Helper()
	var s pluginState
	b, err := os.ReadFile(p.state)
	if err != nil {
		return s // nothing asked yet
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("plugin state: %v", err)
	}
	return s
}

// used lists every address the plugin has handed out, sorted.
func (s pluginState) used() []string {
	var out []string
	for _, p := range s.Pools {
		for a := range p.Used {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// pluginLinks lists the host's links net-veth makes (mrv…).
func pluginLinks() []string {
	var out []string
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "mrv") {
			out = append(out, e.Name())
		}
	}
	return out
}

func netInspect(t *testing.T, name string) map[string]interface{} {
	t.Helper()
	var out []map[string]interface{}
	if err := json.Unmarshal([]byte(ok(t, "network", "inspect", name)), &out); err != nil || len(out) != 1 {
		t.Fatalf("network inspect %s: %v", name, err)
	}
	return out[0]
}

func ipamOf(t *testing.T, n map[string]interface{}) (driver, subnet, gateway string) {
	ipam := n["IPAM"].(map[string]interface{})
	cfg := ipam["Config"].([]interface{})
	if len(cfg) != 1 {
		t.Fatalf("IPAM config %v", cfg)
	}
	c := cfg[0].(map[string]interface{})
	return ipam["Driver"].(string), c["Subnet"].(string), c["Gateway"].(string)
}

func addrOf(t *testing.T, ctr string) string {
	t.Helper()
	return strings.TrimSpace(ok(t, "exec", ctr, "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"))
}

// --ipam-driver on a bridge network: minirun makes the bridge and the
// veths, the plugin gives the pool, the gateway and each address, and
// gets each back on rm and network rm.
func TestNetPluginIPAM(t *testing.T) {
	p := startNetVeth(t)
	ok(t, "network", "create", "--ipam-driver", "net-veth", "plugipam")
	removed := false
	t.Cleanup(func() {
		if !removed {
			mr(t, "network", "rm", "plugipam")
		}
	})
	drv, subnet, gw := ipamOf(t, netInspect(t, "plugipam"))
	if drv != "net-veth" || subnet != "10.99.0.0/24" || gw != "10.99.0.1" {
		t.Fatalf("IPAM %s %s %s, want net-veth 10.99.0.0/24 10.99.0.1", drv, subnet, gw)
	}
	if u := p.read(t).used(); strings.Join(u, " ") != "10.99.0.1" {
		t.Fatalf("the plugin holds %v, want only the gateway", u)
	}
	runD(t, "ipam1", "--network", "plugipam", "busybox", "sleep", "60")
	runD(t, "ipam2", "--network", "plugipam", "--ip", "10.99.0.50", "busybox", "sleep", "60")
	a1, a2 := addrOf(t, "ipam1"), addrOf(t, "ipam2")
	if a1 != "10.99.0.2/24" || a2 != "10.99.0.50/24" {
		t.Fatalf("addresses %s and %s, want 10.99.0.2/24 (the plugin's first free) and 10.99.0.50/24 (--ip)", a1, a2)
	}
	if u := p.read(t).used(); strings.Join(u, " ") != "10.99.0.1 10.99.0.2 10.99.0.50" {
		t.Fatalf("the plugin holds %v", u)
	}
	ok(t, "exec", "ipam1", "ping", "-c1", "-W2", "10.99.0.50")
	// An address the plugin refuses: its Err in one line, no container.
	fails(t, "ipam plugin net-veth: RequestAddress: address 10.99.0.50 is already in use",
		"run", "--rm", "--network", "plugipam", "--ip", "10.99.0.50", "busybox", "true")
	ok(t, "rm", "-f", "ipam1")
	if u := p.read(t).used(); strings.Join(u, " ") != "10.99.0.1 10.99.0.50" {
		t.Fatalf("after rm ipam1 the plugin holds %v, want 10.99.0.2 released", u)
	}
	ok(t, "rm", "-f", "ipam2")
	// --subnet and --gateway go to the plugin as RequestPool's Pool and
	// the gateway's RequestAddress; one outside its range is refused.
	ok(t, "network", "create", "--ipam-driver", "net-veth", "--subnet", "10.99.9.0/24", "--gateway", "10.99.9.254", "plugipam2")
	t.Cleanup(func() { mr(t, "network", "rm", "plugipam2") })
	if _, subnet, gw := ipamOf(t, netInspect(t, "plugipam2")); subnet != "10.99.9.0/24" || gw != "10.99.9.254" {
		t.Fatalf("--subnet/--gateway through the plugin: %s %s", subnet, gw)
	}
	ok(t, "network", "rm", "plugipam2")
	fails(t, "ipam plugin net-veth: RequestPool: pool 10.50.0.0/24 is outside this plugin's range 10.99.0.0/16",
		"network", "create", "--ipam-driver", "net-veth", "--subnet", "10.50.0.0/24", "plugipam3")
	if strings.Contains(ok(t, "network", "ls"), "plugipam3") {
		t.Fatal("a refused network has a record")
	}
	ok(t, "network", "rm", "plugipam")
	removed = true
	if s := p.read(t); len(s.Pools) != 0 {
		t.Fatalf("network rm left pools in the plugin: %v", s.Pools)
	}
	b, _ := os.ReadFile(p.log)
	if log := string(b); !strings.Contains(log, "IpamDriver.ReleaseAddress") || !strings.Contains(log, "IpamDriver.ReleasePool") {
		t.Fatalf("no releases in the plugin's log:\n%s", log)
	}
}

// A remote driver (-d net-veth): the plugin makes a bridge and, at Join, a
// veth pair; minirun moves its end in as eth0 with the plugin's address,
// gateway, MAC and static route. Two containers ping each other; rm and
// network rm leave no link of the plugin.
func TestNetPluginDriver(t *testing.T) {
	p := startNetVeth(t)
	id := strings.TrimSpace(ok(t, "network", "create", "-d", "net-veth", "--ipam-driver", "net-veth", "-o", "route=10.123.0.0/16", "plugveth"))
	removed := false
	t.Cleanup(func() {
		if !removed {
			mr(t, "network", "rm", "plugveth")
		}
	})
	bridge := "mrv" + id[:10]
	if l := pluginLinks(); strings.Join(l, " ") != bridge {
		t.Fatalf("the plugin's links %v, want its bridge %s", l, bridge)
	}
	if n := netInspect(t, "plugveth"); n["Driver"] != "net-veth" {
		t.Fatalf("driver %v", n["Driver"])
	}
	runD(t, "veth1", "--network", "plugveth", "busybox", "sleep", "60")
	runD(t, "veth2", "--network", "plugveth", "busybox", "sleep", "60")
	a1, a2 := addrOf(t, "veth1"), addrOf(t, "veth2")
	if a1 != "10.99.0.2/24" || a2 != "10.99.0.3/24" {
		t.Fatalf("addresses %s %s", a1, a2)
	}
	ok(t, "exec", "veth1", "ping", "-c1", "-W2", "10.99.0.3")
	ok(t, "exec", "veth2", "ping", "-c1", "-W2", "10.99.0.2")
	ok(t, "exec", "veth1", "ping", "-c1", "-W2", "10.99.0.1") // the plugin's bridge, the host
	routes := ok(t, "exec", "veth1", "ip", "route")
	if !strings.Contains(routes, "default via 10.99.0.1 dev eth0") || !strings.Contains(routes, "10.123.0.0/16 via 10.99.0.1 dev eth0") {
		t.Fatalf("routes in the container:\n%s", routes)
	}
	if link := ok(t, "exec", "veth1", "ip", "link", "show", "eth0"); !strings.Contains(link, "02:42:0a:63:00:02") {
		t.Fatalf("the MAC the plugin answered in CreateEndpoint is not on eth0:\n%s", link)
	}
	if l := pluginLinks(); len(l) != 3 {
		t.Fatalf("want the bridge and two host ends, got %v", l)
	}
	if s := p.read(t); len(s.Endpoints) != 2 {
		t.Fatalf("the plugin has %d endpoints, want 2", len(s.Endpoints))
	}
	// network connect of a container on the default bridge: the plugin's
	// link comes in as eth1; disconnect sends it back to the host for the
	// plugin's Leave, and the container keeps its eth0.
	runD(t, "veth3", "busybox", "sleep", "60")
	ok(t, "network", "connect", "plugveth", "veth3")
	if out := ok(t, "exec", "veth3", "ip", "-4", "-o", "addr", "show", "eth1"); !strings.Contains(out, "10.99.0.4/24") {
		t.Fatalf("eth1 after connect: %s", out)
	}
	ok(t, "exec", "veth3", "ping", "-c1", "-W2", "10.99.0.2")
	if l := pluginLinks(); len(l) != 4 {
		t.Fatalf("after connect the plugin's links are %v", l)
	}
	ok(t, "network", "disconnect", "plugveth", "veth3")
	if out := ok(t, "exec", "veth3", "ip", "-o", "link"); strings.Contains(out, "eth1") || !strings.Contains(out, "eth0") {
		t.Fatalf("links after disconnect: %s", out)
	}
	if l := pluginLinks(); len(l) != 3 {
		t.Fatalf("after disconnect the plugin's links are %v", l)
	}
	ok(t, "rm", "-f", "veth1", "veth2", "veth3")
	if l := pluginLinks(); strings.Join(l, " ") != bridge {
		t.Fatalf("after rm the plugin's links are %v", l)
	}
	s := p.read(t)
	if len(s.Endpoints) != 0 || strings.Join(s.used(), " ") != "10.99.0.1" {
		t.Fatalf("after rm the plugin has endpoints %v, addresses %v", s.Endpoints, s.used())
	}
	ok(t, "network", "rm", "plugveth")
	removed = true
	if l := pluginLinks(); len(l) != 0 {
		t.Fatalf("network rm left %v", l)
	}
	if s := p.read(t); len(s.Networks) != 0 || len(s.Pools) != 0 {
		t.Fatalf("network rm left the plugin with %v %v", s.Networks, s.Pools)
	}
	b, _ := os.ReadFile(p.log)
	order := []string{"NetworkDriver.CreateNetwork", "NetworkDriver.CreateEndpoint", "NetworkDriver.Join",
		"NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.RevokeExternalConnectivity", "NetworkDriver.Leave",
		"NetworkDriver.DeleteEndpoint", "NetworkDriver.DeleteNetwork", "IpamDriver.ReleasePool"}
	at := 0
	for _, m := range order {
		i := strings.Index(string(b)[at:], m)
		if i < 0 {
			t.Fatalf("%s missing or out of order in the plugin's log:\n%s", m, b)
		}
		at += i
	}

	// With minirun's own IPAM the network gets a pool as a bridge would;
	// --explain narrates the plugin's steps.
	r := mr(t, "network", "create", "-d", "net-veth", "--explain=json", "plugveth2")
	t.Cleanup(func() { mr(t, "network", "rm", "plugveth2") })
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, `"network-plugin-create"`) {
		t.Fatalf("network create --explain=json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if drv, subnet, _ := ipamOf(t, netInspect(t, "plugveth2")); drv != "default" || !strings.HasPrefix(subnet, "10.78.") {
		t.Fatalf("default IPAM on a plugin network: %s %s", drv, subnet)
	}
	if out := ok(t, "run", "--rm", "--network", "plugveth2", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(out, "10.78.") {
		t.Fatalf("container on plugveth2: %s", out)
	}
}

// A plugin that refuses, at each point of the way: a one-line error with
// its Err, and nothing left half-made: no link, no container, no endpoint
// or address in the plugin, no network record.
func TestNetPluginErrors(t *testing.T) {
	p := startNetVeth(t)
	clean := func(when string, wantLinks int) {
		t.Helper()
		if l := pluginLinks(); len(l) != wantLinks {
			t.Fatalf("%s: the plugin's links %v, want %d", when, l, wantLinks)
		}
		s := p.read(t)
		if len(s.Endpoints) != 0 {
			t.Fatalf("%s: the plugin keeps endpoints %v", when, s.Endpoints)
		}
		if out := ok(t, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
			t.Fatalf("%s: containers left: %s", when, out)
		}
	}
	fails(t, `network plugin net-veth: CreateNetwork: unknown option "bogus"`,
		"network", "create", "-d", "net-veth", "--ipam-driver", "net-veth", "-o", "bogus=1", "plugbad")
	if strings.Contains(ok(t, "network", "ls"), "plugbad") {
		t.Fatal("a refused network has a record")
	}
	if s := p.read(t); len(s.Pools) != 0 {
		t.Fatalf("a refused network's pool was not released: %v", s.Pools)
	}
	clean("after a refused CreateNetwork", 0)
	fails(t, "plugin not found: nosuchplugin", "network", "create", "-d", "nosuchplugin", "plugbad")
	fails(t, "plugin not found: nosuchplugin", "network", "create", "--ipam-driver", "nosuchplugin", "plugbad")

	for _, call := range []string{"CreateEndpoint", "Join", "ProgramExternalConnectivity"} {
		name := "plugfail" + strings.ToLower(call[:4])
		ok(t, "network", "create", "-d", "net-veth", "--ipam-driver", "net-veth", "-o", "fail="+call, name)
		fails(t, "network plugin net-veth: "+call+": refusing "+call+", as the fail option asks",
			"run", "--rm", "--network", name, "busybox", "true")
		fails(t, "refusing "+call, "run", "-d", "--name", "plugfailer", "--network", name, "busybox", "sleep", "60")
		clean("after a refused "+call, 1)
		if strings.Join(p.read(t).used(), " ") != "10.99.0.1" {
			t.Fatalf("after a refused %s the plugin holds %v, want only the gateway", call, p.read(t).used())
		}
		if c := netInspect(t, name)["Containers"].(map[string]interface{}); len(c) != 0 {
			t.Fatalf("after a refused %s the network records %v", call, c)
		}
		ok(t, "network", "rm", name)
		clean("after network rm", 0)
	}
	// libnetwork's contract: every call that succeeded has its reverse,
	// even when the way in stopped at a later step.
	for do, undo := range map[string]string{
		"NetworkDriver.CreateNetwork": "NetworkDriver.DeleteNetwork", "NetworkDriver.CreateEndpoint": "NetworkDriver.DeleteEndpoint",
		"NetworkDriver.Join": "NetworkDriver.Leave", "IpamDriver.RequestPool": "IpamDriver.ReleasePool",
		"IpamDriver.RequestAddress": "IpamDriver.ReleaseAddress",
	} {
		if d, u := p.calls(do), p.calls(undo); d == 0 || d != u {
			b, _ := os.ReadFile(p.log)
			t.Errorf("%d successful %s, %d %s:\n%s", d, do, u, undo, b)
		}
	}
}

// calls counts the successful calls of method in the plugin's log (a
// refused one answers "Err").
func (p *netVeth) calls(method string) int {
	b, _ := os.ReadFile(p.log)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[3] == method && !strings.Contains(l, `"Err"`) {
			n++
		}
	}
	return n
}

// The same plugin through the daemon's API, with Docker's own client:
// docker network create -d/--ipam-driver, two containers that reach each
// other over the plugin's network, the plugin's Err as the client's
// error.
func TestDaemonNetPlugin(t *testing.T) {
	p := startNetVeth(t) // before the daemon: it inherits the plugin dirs
	d := startDaemon(t)
	d.dockerOK(t, "network", "create", "-d", "net-veth", "--ipam-driver", "net-veth", "dveth")
	removed := false
	t.Cleanup(func() {
		if !removed {
			mr(t, "network", "rm", "dveth")
		}
	})
	if out := strings.TrimSpace(d.dockerOK(t, "network", "inspect", "-f", "{{.Driver}} {{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "dveth")); out != "net-veth net-veth 10.99.0.0/24 10.99.0.1" {
		t.Fatalf("docker network inspect: %q", out)
	}
	d.dockerOK(t, "run", "-d", "--name", "dveth1", "--network", "dveth", "busybox", "sleep", "60")
	t.Cleanup(func() { mr(t, "rm", "-f", "dveth1") })
	ip := strings.TrimSpace(d.dockerOK(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "dveth1"))
	if ip != "10.99.0.2" {
		t.Fatalf("dveth1's address %q, want the plugin's 10.99.0.2", ip)
	}
	if out := d.dockerOK(t, "run", "--rm", "--network", "dveth", "busybox", "ping", "-c1", "-W2", ip); !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping over the plugin's network: %s", out)
	}
	d.dockerOK(t, "rm", "-f", "dveth1")
	d.dockerOK(t, "network", "rm", "dveth")
	removed = true
	if l := pluginLinks(); len(l) != 0 {
		t.Fatalf("links left: %v", l)
	}
	if s := p.read(t); len(s.Pools) != 0 || len(s.Endpoints) != 0 || len(s.Networks) != 0 {
		t.Fatalf("the plugin still holds %+v", s)
	}
	r := d.docker(t, "network", "create", "-d", "net-veth", "-o", "bogus=1", "dbad")
	if r.code == 0 || !strings.Contains(r.stderr, `network plugin net-veth: CreateNetwork: unknown option \"bogus\"`) &&
		!strings.Contains(r.stderr, `network plugin net-veth: CreateNetwork: unknown option "bogus"`) {
		t.Fatalf("a refused docker network create: exit %d, %q", r.code, r.stderr)
	}
	if strings.Contains(ok(t, "network", "ls"), "dbad") {
		t.Fatal("a refused network has a record")
	}
}
