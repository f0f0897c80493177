package network

import (
	"encoding/json"
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
)

// fakePlugin is a network and IPAM plugin in the test: it records each
// call with its body and answers what a plugin would, or an Err for the
// methods in refuse.
type fakePlugin struct {
	mu     sync.Mutex
	calls  []string
	bodies []map[string]interface{}
	refuse map[string]string
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
			a = map[string]interface{}{"Interface": map[string]string{"MacAddress": "02:42:0a:63:07:09"}}
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
