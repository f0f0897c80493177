package plugins

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// fakeNetPlugin serves the network and IPAM protocols on a unix socket
// (httptest, with its listener swapped for a unix one) and records each
// call's path and body; answers[path] overrides the answer of a path.
type fakeNetPlugin struct {
	mu      sync.Mutex
	calls   []string
	bodies  map[string]map[string]interface{}
	answers map[string]string
}

func serveNetFake(t *testing.T, dir string, implements ...string) *fakeNetPlugin {
	f := &fakeNetPlugin{bodies: map[string]map[string]interface{}{}, answers: map[string]string{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]interface{}
		json.Unmarshal(b, &body)
		f.mu.Lock()
		f.calls = append(f.calls, r.URL.Path)
		f.bodies[r.URL.Path] = body
		ans, ok := f.answers[r.URL.Path]
		f.mu.Unlock()
		if r.Header.Get("Accept") != MediaType || r.Method != http.MethodPost {
			http.Error(w, "bad request", 400)
			return
		}
		if ok {
			io.WriteString(w, ans)
			return
		}
		switch r.URL.Path {
		case "/Plugin.Activate":
			json.NewEncoder(w).Encode(map[string]interface{}{"Implements": implements})
		default:
			io.WriteString(w, "{}")
		}
	}))
	srv.Listener.Close()
	srv.Listener = listen(t, filepath.Join(dir, "fakenet.sock"))
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeNetPlugin) body(path string) map[string]interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[path]
}

func TestNetworkDriverProtocol(t *testing.T) {
	dir := t.TempDir()
	f := serveNetFake(t, dir, "NetworkDriver")
	f.answers["/NetworkDriver.GetCapabilities"] = `{"Scope":"local"}`
	f.answers["/NetworkDriver.CreateEndpoint"] = `{"Interface":{"MacAddress":"02:42:ac:11:00:02"}}`
	f.answers["/NetworkDriver.Join"] = `{"InterfaceName":{"SrcName":"mrv1234","DstPrefix":"eth"},"Gateway":"10.99.0.1",
		"StaticRoutes":[{"Destination":"10.100.0.0/16","RouteType":0,"NextHop":"10.99.0.254"}]}`
	f.answers["/NetworkDriver.EndpointOperInfo"] = `{"Value":{"veth":"mrv1234"}}`
	d, err := NetworkPlugin(Dirs{Sockets: dir}, "fakenet")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.GetCapabilities(); err != nil || c.Scope != "local" {
		t.Fatalf("GetCapabilities = %+v, %v", c, err)
	}
	err = d.CreateNetwork(&CreateNetworkRequest{NetworkID: "n1", Options: map[string]interface{}{GenericOptions: map[string]string{"k": "v"}},
		IPv4Data: []IPAMData{{AddressSpace: "local", Pool: "10.99.0.0/24", Gateway: "10.99.0.1/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The body is libnetwork's: IPv4Data with CIDR pool and gateway, an
	// empty (not null) IPv6Data.
	b := f.body("/NetworkDriver.CreateNetwork")
	v4, _ := b["IPv4Data"].([]interface{})
	if b["NetworkID"] != "n1" || len(v4) != 1 || v4[0].(map[string]interface{})["Gateway"] != "10.99.0.1/24" || b["IPv6Data"] == nil {
		t.Errorf("CreateNetwork body %v", b)
	}
	ifc, err := d.CreateEndpoint(&CreateEndpointRequest{NetworkID: "n1", EndpointID: "e1", Interface: &EndpointInterface{Address: "10.99.0.2/24"}})
	if err != nil || ifc.MacAddress != "02:42:ac:11:00:02" {
		t.Fatalf("CreateEndpoint = %+v, %v", ifc, err)
	}
	if got := f.body("/NetworkDriver.CreateEndpoint")["Interface"]; !reflect.DeepEqual(got, map[string]interface{}{"Address": "10.99.0.2/24"}) {
		t.Errorf("CreateEndpoint sent Interface %v", got)
	}
	if v, err := d.EndpointOperInfo("n1", "e1"); err != nil || v["veth"] != "mrv1234" {
		t.Errorf("EndpointOperInfo = %v, %v", v, err)
	}
	j, err := d.Join(&JoinRequest{NetworkID: "n1", EndpointID: "e1", SandboxKey: "/proc/42/ns/net"})
	if err != nil {
		t.Fatal(err)
	}
	if j.InterfaceName.SrcName != "mrv1234" || j.InterfaceName.DstPrefix != "eth" || j.Gateway != "10.99.0.1" ||
		len(j.StaticRoutes) != 1 || j.StaticRoutes[0].NextHop != "10.99.0.254" || j.StaticRoutes[0].RouteType != RouteNextHop {
		t.Errorf("Join = %+v", j)
	}
	if f.body("/NetworkDriver.Join")["SandboxKey"] != "/proc/42/ns/net" {
		t.Errorf("Join body %v", f.body("/NetworkDriver.Join"))
	}
	for _, step := range []func() error{
		func() error { return d.ProgramExternalConnectivity("n1", "e1", nil) },
		func() error { return d.RevokeExternalConnectivity("n1", "e1") },
		func() error { return d.Leave("n1", "e1") },
		func() error { return d.DeleteEndpoint("n1", "e1") },
		func() error { return d.DiscoverNew(DiscoveryNode, map[string]string{"Address": "10.0.0.1"}) },
		func() error { return d.DiscoverDelete(DiscoveryNode, map[string]string{"Address": "10.0.0.1"}) },
		func() error { return d.DeleteNetwork("n1") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/Plugin.Activate", "/NetworkDriver.GetCapabilities", "/NetworkDriver.CreateNetwork", "/NetworkDriver.CreateEndpoint",
		"/NetworkDriver.EndpointOperInfo", "/NetworkDriver.Join", "/NetworkDriver.ProgramExternalConnectivity",
		"/NetworkDriver.RevokeExternalConnectivity", "/NetworkDriver.Leave", "/NetworkDriver.DeleteEndpoint",
		"/NetworkDriver.DiscoverNew", "/NetworkDriver.DiscoverDelete", "/NetworkDriver.DeleteNetwork"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls\n%v\nwant\n%v", f.calls, want)
	}
	if f.body("/NetworkDriver.DeleteNetwork")["NetworkID"] != "n1" || f.body("/NetworkDriver.Leave")["EndpointID"] != "e1" ||
		f.body("/NetworkDriver.DiscoverNew")["DiscoveryType"] != float64(1) {
		t.Errorf("bodies: %v %v %v", f.body("/NetworkDriver.DeleteNetwork"), f.body("/NetworkDriver.Leave"), f.body("/NetworkDriver.DiscoverNew"))
	}
}

// A plugin's Err, a Join without an interface, an endpoint whose address
// the driver tries to change: each a one-line error naming the plugin and
// the call.
func TestNetworkDriverErrors(t *testing.T) {
	dir := t.TempDir()
	f := serveNetFake(t, dir, "NetworkDriver")
	d, err := NetworkPlugin(Dirs{Sockets: dir}, "fakenet")
	if err != nil {
		t.Fatal(err)
	}
	f.answers["/NetworkDriver.CreateNetwork"] = `{"Err":"no bridge\nfor you"}`
	err = d.CreateNetwork(&CreateNetworkRequest{NetworkID: "n1"})
	var pe *ProtocolError
	if !errors.As(err, &pe) || err.Error() != "network plugin fakenet: CreateNetwork: no bridge for you" {
		t.Errorf("CreateNetwork Err = %v", err)
	}
	f.answers["/NetworkDriver.Join"] = `{}`
	if _, err := d.Join(&JoinRequest{NetworkID: "n1", EndpointID: "e1"}); err == nil || !strings.Contains(err.Error(), "no InterfaceName") {
		t.Errorf("Join without InterfaceName = %v", err)
	}
	f.answers["/NetworkDriver.CreateEndpoint"] = `{"Interface":{"Address":"10.1.1.1/24"}}`
	if _, err := d.CreateEndpoint(&CreateEndpointRequest{Interface: &EndpointInterface{Address: "10.99.0.2/24"}}); err == nil || !strings.Contains(err.Error(), "attempted to set Address") {
		t.Errorf("CreateEndpoint changing the address = %v", err)
	}
	f.answers["/NetworkDriver.Leave"] = `not json`
	if err := d.Leave("n1", "e1"); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("Leave with a bad answer = %v", err)
	}
	// No such plugin: discovery's error.
	if _, err := NetworkPlugin(Dirs{Sockets: t.TempDir()}, "fakenet"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing plugin: %v", err)
	}
}

func TestIPAMProtocol(t *testing.T) {
	dir := t.TempDir()
	f := serveNetFake(t, dir, "IpamDriver")
	f.answers["/IpamDriver.GetCapabilities"] = `{"RequiresMACAddress":true}`
	f.answers["/IpamDriver.GetDefaultAddressSpaces"] = `{"LocalDefaultAddressSpace":"l","GlobalDefaultAddressSpace":"g"}`
	f.answers["/IpamDriver.RequestPool"] = `{"PoolID":"p1","Pool":"10.99.3.0/24"}`
	f.answers["/IpamDriver.RequestAddress"] = `{"Address":"10.99.3.1/24"}`
	if _, err := NetworkPlugin(Dirs{Sockets: dir}, "fakenet"); err == nil || !strings.Contains(err.Error(), "does not implement NetworkDriver") {
		t.Errorf("an IPAM plugin taken as a network driver: %v", err)
	}
	d, err := IPAMPlugin(Dirs{Sockets: dir}, "fakenet")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.GetCapabilities(); err != nil || !c.RequiresMACAddress {
		t.Errorf("GetCapabilities = %+v, %v", c, err)
	}
	as, err := d.GetDefaultAddressSpaces()
	if err != nil || as.LocalDefaultAddressSpace != "l" || as.GlobalDefaultAddressSpace != "g" {
		t.Fatalf("GetDefaultAddressSpaces = %+v, %v", as, err)
	}
	p, err := d.RequestPool(&PoolRequest{AddressSpace: "l"})
	if err != nil || p.PoolID != "p1" || p.Pool != "10.99.3.0/24" {
		t.Fatalf("RequestPool = %+v, %v", p, err)
	}
	if b := f.body("/IpamDriver.RequestPool"); b["AddressSpace"] != "l" || b["Pool"] != "" || b["V6"] != false {
		t.Errorf("RequestPool body %v", b)
	}
	a, err := d.RequestAddress("p1", "", map[string]string{RequestAddressType: GatewayAddress})
	if err != nil || a != "10.99.3.1/24" {
		t.Fatalf("RequestAddress = %q, %v", a, err)
	}
	b := f.body("/IpamDriver.RequestAddress")
	if b["PoolID"] != "p1" || b["Options"].(map[string]interface{})["RequestAddressType"] != "com.docker.network.gateway" {
		t.Errorf("RequestAddress body %v", b)
	}
	if err := d.ReleaseAddress("p1", "10.99.3.1"); err != nil {
		t.Fatal(err)
	}
	if b := f.body("/IpamDriver.ReleaseAddress"); b["Address"] != "10.99.3.1" || b["PoolID"] != "p1" {
		t.Errorf("ReleaseAddress body %v", b)
	}
	if err := d.ReleasePool("p1"); err != nil {
		t.Fatal(err)
	}
	if b := f.body("/IpamDriver.ReleasePool"); b["PoolID"] != "p1" {
		t.Errorf("ReleasePool body %v", b)
	}
	f.answers["/IpamDriver.RequestAddress"] = `{"Err":"pool p1 is full"}`
	if _, err := d.RequestAddress("p1", "", nil); err == nil || err.Error() != "ipam plugin fakenet: RequestAddress: pool p1 is full" {
		t.Errorf("RequestAddress Err = %v", err)
	}
	f.answers["/IpamDriver.RequestPool"] = `{"PoolID":"p2"}`
	if _, err := d.RequestPool(&PoolRequest{}); err == nil || !strings.Contains(err.Error(), "no PoolID or Pool") {
		t.Errorf("RequestPool without Pool = %v", err)
	}
}
