package network

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minirun/minirun/plugins"
	"github.com/vishvananda/netlink"
)

// fakePlugin is a network and IPAM plugin in the test: it records each
// call with its body and answers what a plugin would, or an Err for the
// methods in refuse.
type fakePlugin struct {
	mu     sync.Mutex
	calls  []string
	bodies []map[string]interface{}
	refuse map[string]string
	// mac is CreateEndpoint's MacAddress ("" for the default); join,
	// when set, makes Join's link (a root test's) and answers its name.
	mac  string
	join func() string
}

func serveFakePlugin(t *testing.T) *fakePlugin {
	t.Helper()
	dir := t.TempDir()
	old := PluginDirs
	PluginDirs = func() plugins.Dirs { return plugins.Dirs{Sockets: dir} }
	t.Cleanup(func() { PluginDirs = old })
	f := &fakePlugin{refuse: map[string]string{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]interface{}
		json.Unmarshal(b, &body)
		method := strings.TrimPrefix(r.URL.Path, "/")
		f.mu.Lock()
		defer f.mu.Unlock()
		if method != "Plugin.Activate" {
			f.calls = append(f.calls, method)
			f.bodies = append(f.bodies, body)
		}
		if e, ok := f.refuse[method]; ok {
			json.NewEncoder(w).Encode(map[string]string{"Err": e})
			return
		}
		var a interface{} = map[string]string{}
		switch method {
		case "Plugin.Activate":
			a = map[string][]string{"Implements": {"NetworkDriver", "IpamDriver"}}
		case "NetworkDriver.GetCapabilities":
			a = map[string]string{"Scope": "local"}
		case "IpamDriver.GetDefaultAddressSpaces":
			a = map[string]string{"LocalDefaultAddressSpace": "fakelocal"}
		case "IpamDriver.RequestPool":
			a = map[string]string{"PoolID": "fakelocal/10.99.7.0/24", "Pool": "10.99.7.0/24"}
		case "IpamDriver.RequestAddress":
			if o, _ := body["Options"].(map[string]interface{}); o["RequestAddressType"] == "com.docker.network.gateway" {
				a = map[string]string{"Address": "10.99.7.1/24"}
			} else {
				a = map[string]string{"Address": "10.99.7.9/24"}
			}
		case "NetworkDriver.CreateEndpoint":
			mac := "02:42:0a:63:07:09"
			if f.mac != "" {
				mac = f.mac
			}
			a = map[string]interface{}{"Interface": map[string]string{"MacAddress": mac}}
		case "NetworkDriver.Join":
			if f.join != nil {
				a = map[string]interface{}{"InterfaceName": map[string]string{"SrcName": f.join(), "DstPrefix": "eth"}}
			}
		}
		json.NewEncoder(w).Encode(a)
	}))
	srv.Listener.Close()
	l, err := net.Listen("unix", filepath.Join(dir, "fake.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

// take returns the calls so far and forgets them.
func (f *fakePlugin) take() ([]string, []map[string]interface{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, b := f.calls, f.bodies
	f.calls, f.bodies = nil, nil
	return c, b
}

func wantCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("calls\n got %v\nwant %v", got, want)
	}
}

// A plugin network's life without a container's namespace: the calls, in
// libnetwork's order, and what minirun records from their answers.
func TestPluginNetworkLifecycle(t *testing.T) {
	f := serveFakePlugin(t)
	m, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Create(CreateOpts{Name: "pnet", Driver: "fake", IPAMDriver: "fake", Options: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	calls, bodies := f.take()
	wantCalls(t, calls, "NetworkDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces", "IpamDriver.RequestPool",
		"IpamDriver.RequestAddress", "NetworkDriver.CreateNetwork")
	if len(bodies) == 5 {
		if bodies[2]["AddressSpace"] != "fakelocal" {
			t.Errorf("RequestPool body %v", bodies[2])
		}
		cn := bodies[4]
		v4 := cn["IPv4Data"].([]interface{})[0].(map[string]interface{})
		gen := cn["Options"].(map[string]interface{})[plugins.GenericOptions].(map[string]interface{})
		if cn["NetworkID"] != n.ID || v4["Pool"] != "10.99.7.0/24" || v4["Gateway"] != "10.99.7.1/24" || gen["k"] != "v" {
			t.Errorf("CreateNetwork body %v", cn)
		}
	}
	if n.Subnet().String() != "10.99.7.0/24" || n.Gateway().String() != "10.99.7.1" || n.IPAMPoolID != "fakelocal/10.99.7.0/24" ||
		n.IPAM.Driver != "fake" || n.Driver != "fake" || n.Bridge != "" {
		t.Errorf("network %+v", n)
	}
	id := strings.Repeat("ab", 32)
	if _, err := m.Reserve("pnet", id, "web", EndpointOpts{Aliases: []string{"x"}}); err == nil || !strings.Contains(err.Error(), "--network-alias and -p do not apply") {
		t.Errorf("an alias on a plugin network: %v", err)
	}
	ep, err := m.Reserve("pnet", id, "web", EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	calls, bodies = f.take()
	wantCalls(t, calls, "IpamDriver.RequestAddress", "NetworkDriver.CreateEndpoint")
	if ep.IPv4Address != "10.99.7.9/24" || ep.MacAddress != "02:42:0a:63:07:09" || ep.Gateway != "10.99.7.1" {
		t.Errorf("endpoint %+v", ep)
	}
	if len(bodies) == 2 {
		if ifc := bodies[1]["Interface"].(map[string]interface{}); ifc["Address"] != "10.99.7.9/24" || bodies[1]["EndpointID"] != ep.EndpointID {
			t.Errorf("CreateEndpoint body %v", bodies[1])
		}
	}
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	calls, bodies = f.take()
	wantCalls(t, calls, "NetworkDriver.DeleteEndpoint", "IpamDriver.ReleaseAddress")
	if len(bodies) == 2 && bodies[1]["Address"] != "10.99.7.9" {
		t.Errorf("ReleaseAddress body %v", bodies[1])
	}
	if err := m.Remove("pnet"); err != nil {
		t.Fatal(err)
	}
	calls, _ = f.take()
	wantCalls(t, calls, "NetworkDriver.DeleteNetwork", "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool")
	if _, err := os.Stat(m.netDir(n.ID)); err == nil {
		t.Error("network rm left the record")
	}
}

// A plugin that refuses: the error is its Err on one line, and everything
// done before it is undone — the plugin's reverse calls included.
func TestPluginNetworkRollback(t *testing.T) {
	f := serveFakePlugin(t)
	dir := t.TempDir()
	m, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.refuse["NetworkDriver.CreateNetwork"] = "no\nbridge"
	_, err = m.Create(CreateOpts{Name: "pnet", Driver: "fake", IPAMDriver: "fake"})
	if err == nil || err.Error() != "network plugin fake: CreateNetwork: no bridge" {
		t.Fatalf("Create = %v", err)
	}
	calls, _ := f.take()
	wantCalls(t, calls, "NetworkDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces", "IpamDriver.RequestPool",
		"IpamDriver.RequestAddress", "NetworkDriver.CreateNetwork", "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool")
	if ents, _ := os.ReadDir(m.Dir()); len(ents) != 1 || ents[0].Name() != "lock" {
		t.Fatalf("a refused network left %v", ents)
	}
	delete(f.refuse, "NetworkDriver.CreateNetwork")

	// The gateway refused: the pool goes back.
	f.refuse["IpamDriver.RequestAddress"] = "pool is full"
	if _, err := m.Create(CreateOpts{Name: "pnet", Driver: "fake", IPAMDriver: "fake"}); err == nil || !strings.Contains(err.Error(), "pool is full") {
		t.Fatalf("Create = %v", err)
	}
	calls, _ = f.take()
	wantCalls(t, calls, "NetworkDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces", "IpamDriver.RequestPool",
		"IpamDriver.RequestAddress", "IpamDriver.ReleasePool")
	delete(f.refuse, "IpamDriver.RequestAddress")

	n, err := m.Create(CreateOpts{Name: "pnet", Driver: "fake", IPAMDriver: "fake"})
	if err != nil {
		t.Fatal(err)
	}
	f.take()
	f.refuse["NetworkDriver.CreateEndpoint"] = "no endpoint"
	id := strings.Repeat("cd", 32)
	if _, err := m.Reserve("pnet", id, "web", EndpointOpts{}); err == nil || err.Error() != "network plugin fake: CreateEndpoint: no endpoint" {
		t.Fatalf("Reserve = %v", err)
	}
	calls, _ = f.take()
	wantCalls(t, calls, "IpamDriver.RequestAddress", "NetworkDriver.CreateEndpoint", "IpamDriver.ReleaseAddress")
	if got, _ := m.Get("pnet"); len(got.Containers) != 0 {
		t.Fatalf("a refused endpoint is recorded: %v", got.Containers)
	}
	delete(f.refuse, "NetworkDriver.CreateEndpoint")

	// DeleteNetwork refused: the record stays, for a later network rm.
	f.refuse["NetworkDriver.DeleteNetwork"] = "busy"
	if err := m.Remove("pnet"); err == nil || err.Error() != "network plugin fake: DeleteNetwork: busy" {
		t.Fatalf("Remove = %v", err)
	}
	if _, err := m.Get(n.ID); err != nil {
		t.Fatalf("the record went with a refused DeleteNetwork: %v", err)
	}
	delete(f.refuse, "NetworkDriver.DeleteNetwork")
	f.take()
	if err := m.Remove("pnet"); err != nil {
		t.Fatal(err)
	}
	calls, _ = f.take()
	wantCalls(t, calls, "NetworkDriver.DeleteNetwork", "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool")

	// Names: a plugin that is not there, a driver name that cannot be one.
	if _, err := m.Create(CreateOpts{Name: "x", Driver: "nosuch"}); err == nil || !strings.Contains(err.Error(), "network driver nosuch: plugin not found") {
		t.Errorf("missing plugin: %v", err)
	}
	if _, err := m.Create(CreateOpts{Name: "x", Driver: "../evil"}); err == nil || !strings.Contains(err.Error(), "unknown network driver") {
		t.Errorf("bad driver name: %v", err)
	}
	if _, err := m.Create(CreateOpts{Name: "x", IPAMDriver: "bridge"}); err == nil || !strings.Contains(err.Error(), "invalid --ipam-driver") {
		t.Errorf("bad ipam driver: %v", err)
	}
}

// Join's SrcName against the host's links, without a kernel: a link that
// was there before the endpoint, a bridge, a bridge's port are refused,
// each with one line naming the plugin and the link.
func TestCheckPluginLink(t *testing.T) {
	before := map[int]string{1: "lo", 2: "eth0", 3: "docker0"}
	link := func(idx int, name string, master int) netlink.Link {
		return &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: name, MasterIndex: master}}
	}
	for _, c := range []struct {
		l    netlink.Link
		want string
	}{
		{link(2, "eth0", 0), "network plugin fake: Join: refusing to move link eth0 (index 2) into the container: it was on the host before the endpoint was created"},
		{link(2, "mrv0c", 0), "network plugin fake: Join: refusing to move link mrv0c (index 2) into the container: it was on the host, as eth0, before the endpoint was created"},
		{&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: 9, Name: "br9"}}, "network plugin fake: Join: refusing to move link br9 (index 9) into the container: it is a bridge"},
		{link(10, "mrv0h", 3), "network plugin fake: Join: refusing to move link mrv0h (index 10) into the container: it is a port of link index 3 (it has a master)"},
		{link(11, "mrv0c", 0), ""},
	} {
		err := checkPluginLink("fake", c.l, before)
		if got := fmt.Sprint(err); (c.want == "" && err != nil) || (c.want != "" && got != c.want) {
			t.Errorf("%s: got %v\nwant %q", c.l.Attrs().Name, err, c.want)
		}
	}
}

// addTestLink makes a link in the test host namespace (root tests only:
// TestMain's namespace, never the machine's) and removes it, if it is
// still there, when the test ends. Names start with mrt: the leak check
// leaves them to the tests. It does not stop the test (a plugin's handler
// calls it, off the test's goroutine): the caller checks the error.
func addTestLink(t *testing.T, l netlink.Link) (netlink.Link, error) {
	name := l.Attrs().Name
	if !strings.HasPrefix(name, "mrt") || os.Getenv(nsEnv) != "1" {
		return nil, fmt.Errorf("test link %s: only mrt* links, in the test host namespace", name)
	}
	if err := netlink.LinkAdd(l); err != nil {
		return nil, fmt.Errorf("add test link %s: %w", name, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(name); err == nil {
			netlink.LinkDel(l)
		}
	})
	return netlink.LinkByName(name)
}

// mustTestLink is addTestLink on the test's goroutine.
func mustTestLink(t *testing.T, l netlink.Link) netlink.Link {
	t.Helper()
	got, err := addTestLink(t, l)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testVeth is a veth pair name + name"p" (not a dummy link: kernels
// without the dummy module have veth, which minirun needs anyway).
func testVeth(name string) *netlink.Veth {
	return &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
}

// inCtr reports whether pid's namespace has a link named name.
func inCtr(t *testing.T, pid int, name string) bool {
	t.Helper()
	found := false
	if err := inNS(pid, func(h *netlink.Handle) error {
		_, err := h.LinkByName(name)
		found = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// pluginHost is a root test's plugin network: the fake plugin as driver
// and IPAM, a container for it.
func pluginHost(t *testing.T) (*fakePlugin, *Manager, *ctr) {
	f := serveFakePlugin(t)
	m := rootHost(t) // its cleanup (Detach, Reset) runs before the plugin's goes
	if _, err := m.Create(CreateOpts{Name: "pnet", Driver: "fake", IPAMDriver: "fake"}); err != nil {
		t.Fatal(err)
	}
	return f, m, newCtr(t, "web")
}

// A plugin whose Join names a link the host had before the endpoint (the
// host's eth0, say — here a veth made for the test), or one in use (a
// bridge, a bridge's port, a link up with an address), is refused before
// anything moves: the link stays where it was, the Join is undone with
// Leave. A link the plugin made for the endpoint moves in.
func TestPluginJoinRefusesHostLinks(t *testing.T) {
	f, m, c := pluginHost(t)
	pre := mustTestLink(t, testVeth("mrtestpre0"))
	br := mustTestLink(t, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "mrtestbr0"}})
	// Each make runs in the plugin's Join, so the link is new but for
	// mrtestpre0, made before the endpoint.
	for _, tc := range []struct {
		name, why string
		make      func() (netlink.Link, error)
	}{
		{"mrtestpre0", "it was on the host before the endpoint was created", func() (netlink.Link, error) { return pre, nil }},
		{"mrtestbr1", "it is a bridge", func() (netlink.Link, error) {
			return addTestLink(t, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "mrtestbr1"}})
		}},
		{"mrtestport0", "it is a port of link index", func() (netlink.Link, error) {
			l, err := addTestLink(t, testVeth("mrtestport0"))
			if err == nil {
				err = netlink.LinkSetMaster(l, br)
			}
			return l, err
		}},
		{"mrtestup0", "it is up with address 192.0.2.7/24", func() (netlink.Link, error) {
			l, err := addTestLink(t, testVeth("mrtestup0"))
			if err == nil {
				err = netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 7), Mask: net.CIDRMask(24, 32)}})
			}
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			return l, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l netlink.Link
			var makeErr error
			f.join = func() string { l, makeErr = tc.make(); return tc.name }
			ep, err := m.Reserve("pnet", c.id, c.name, EndpointOpts{})
			if err != nil {
				t.Fatal(err)
			}
			f.take()
			err = m.Attach(ep, c.pid, "")
			if makeErr != nil {
				t.Fatalf("make %s: %v", tc.name, makeErr)
			}
			want := "network plugin fake: Join: refusing to move link " + tc.name + " (index "
			if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.why) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Attach = %v\nwant one line starting %q, saying %q", err, want, tc.why)
			}
			calls, _ := f.take()
			wantCalls(t, calls, "NetworkDriver.Join", "NetworkDriver.Leave")
			if now, err := netlink.LinkByName(tc.name); err != nil || now.Attrs().Index != l.Attrs().Index {
				t.Errorf("link %s is no longer on the host as it was: %v", tc.name, err)
			}
			if inCtr(t, c.pid, tc.name) || inCtr(t, c.pid, "eth0") {
				t.Errorf("link %s went into the container", tc.name)
			}
			if err := m.Detach(ep); err != nil {
				t.Fatal(err)
			}
		})
	}

	// The link the plugin makes in Join: in, as eth0; back out on Detach.
	var makeErr error
	f.join = func() string { _, makeErr = addTestLink(t, testVeth("mrtestnew0")); return "mrtestnew0" }
	ep, err := m.Reserve("pnet", c.id, c.name, EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ep, c.pid, ""); err != nil || makeErr != nil {
		t.Fatalf("attach a new link: %v (make: %v)", err, makeErr)
	}
	if !inCtr(t, c.pid, "eth0") {
		t.Error("the plugin's new link is not the container's eth0")
	}
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("mrtestnew0"); err != nil {
		t.Errorf("Detach did not give the plugin its link back: %v", err)
	}
}

// A move that fails half way — the link in the container, but its rename
// or its MAC refused — puts the link back on the host under its name, for
// the plugin to delete: no step's undo covers a step that failed.
func TestPluginMoveFailsBack(t *testing.T) {
	f, m, c := pluginHost(t)

	// The MAC: CreateEndpoint answers a multicast one, which parses but
	// no interface takes (EADDRNOTAVAIL); the rename went through.
	f.mac = "03:00:00:00:00:01"
	var made netlink.Link
	var makeErr error
	f.join = func() string { made, makeErr = addTestLink(t, testVeth("mrtestmac0")); return "mrtestmac0" }
	ep, err := m.Reserve("pnet", c.id, c.name, EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	f.take()
	err = m.Attach(ep, c.pid, "")
	if makeErr != nil {
		t.Fatal(makeErr)
	}
	if err == nil || !strings.Contains(err.Error(), "set eth0's MAC 03:00:00:00:00:01") {
		t.Errorf("Attach = %v, want the MAC refused", err)
	}
	calls, _ := f.take()
	wantCalls(t, calls, "NetworkDriver.Join", "NetworkDriver.Leave")
	if l, err := netlink.LinkByName("mrtestmac0"); err != nil {
		t.Errorf("mrtestmac0 did not come back to the host: %v", err)
	} else if l.Attrs().Index != made.Attrs().Index {
		t.Errorf("mrtestmac0 is another link (index %d, was %d)", l.Attrs().Index, made.Attrs().Index)
	}
	if inCtr(t, c.pid, "eth0") || inCtr(t, c.pid, "mrtestmac0") {
		t.Error("the link stayed in the container")
	}
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}

	// The rename: the name is taken in the container (lo, here).
	l := mustTestLink(t, testVeth("mrtestren0"))
	err = pluginMoveStep("fake", c.pid, "mrtestren0", "lo", "", nil).Do()
	if err == nil || !strings.Contains(err.Error(), "rename mrtestren0 to lo") {
		t.Errorf("move = %v, want the rename refused", err)
	}
	if back, err := netlink.LinkByName("mrtestren0"); err != nil || back.Attrs().Index != l.Attrs().Index {
		t.Errorf("mrtestren0 did not come back to the host: %v", err)
	}
	if inCtr(t, c.pid, "mrtestren0") || !inCtr(t, c.pid, "lo") {
		t.Error("the container's links are not as they were")
	}
}
