package plugins

import (
	"fmt"
)

// The network protocols, as libnetwork's docs/remote.md and docs/ipam.md
// write them. Every answer may carry "Err"; a non-empty one becomes the
// returned error (*ProtocolError), folded onto one line, so it reaches the
// user. The order in which a runtime calls them (libnetwork's, and
// minirun's network package):
//
//	network create -d P     IPAM RequestPool, RequestAddress(gateway)   (ipam.go)
//	                        → /NetworkDriver.CreateNetwork {NetworkID, Options, IPv4Data}
//	a container's endpoint  IPAM RequestAddress
//	                        → /NetworkDriver.CreateEndpoint {NetworkID, EndpointID, Interface{Address}}
//	the container's netns   → /NetworkDriver.Join {…, SandboxKey} ← {InterfaceName{SrcName, DstPrefix}, Gateway, StaticRoutes}
//	                          the runtime moves SrcName into the sandbox as DstPrefix+N
//	                        → /NetworkDriver.ProgramExternalConnectivity (the endpoint that has the default route)
//	the container goes      → RevokeExternalConnectivity, Leave, DeleteEndpoint; IPAM ReleaseAddress
//	network rm              → /NetworkDriver.DeleteNetwork; IPAM ReleaseAddress(gateway), ReleasePool

// The kinds a network and an IPAM plugin list in Implements.
const (
	NetworkKind = "NetworkDriver"
	IPAMKind    = "IpamDriver"
)

// ProtocolError is an "Err" a network or IPAM plugin answered.
type ProtocolError struct{ Kind, Plugin, Method, Err string }

func (e *ProtocolError) Error() string {
	what := "network plugin"
	if e.Kind == IPAMKind {
		what = "ipam plugin"
	}
	return fmt.Sprintf("%s %s: %s: %s", what, e.Plugin, e.Method, OneLine(e.Err))
}

// errAnswer is the "Err" field every answer of these protocols has.
type errAnswer interface{ errText() string }

// Response is the part every answer shares: Err, empty on success.
type Response struct {
	Err string `json:"Err,omitempty"`
}

func (r *Response) errText() string { return r.Err }

// call is Call for protocols whose answers carry "Err".
func call(c *Client, kind, method string, req interface{}, resp errAnswer) error {
	if err := c.Call("/"+kind+"."+method, req, resp); err != nil {
		return err
	}
	if s := resp.errText(); s != "" {
		return &ProtocolError{Kind: kind, Plugin: c.Name, Method: method, Err: s}
	}
	return nil
}

// NetworkDriver is a client of libnetwork's remote network driver
// protocol (/NetworkDriver.*).
type NetworkDriver struct{ *Client }

// NetworkPlugin finds and activates the network plugin called name.
func NetworkPlugin(d Dirs, name string) (*NetworkDriver, error) {
	c, err := Get(d, name, NetworkKind)
	if err != nil {
		return nil, err
	}
	return &NetworkDriver{c}, nil
}

// Capabilities is GetCapabilities' answer: Scope "local" or "global" (the
// network's data is shared between hosts by the runtime's store), and
// ConnectivityScope, the same for the network's reach.
type Capabilities struct {
	Response
	Scope             string `json:"Scope"`
	ConnectivityScope string `json:"ConnectivityScope,omitempty"`
}

// IPAMData is one address pool of a network as CreateNetwork receives it:
// Pool and Gateway in CIDR notation (10.0.0.0/24, 10.0.0.1/24).
type IPAMData struct {
	AddressSpace string            `json:"AddressSpace"`
	Pool         string            `json:"Pool"`
	Gateway      string            `json:"Gateway,omitempty"`
	AuxAddresses map[string]string `json:"AuxAddresses,omitempty"`
}

// GenericOptions is the key under which libnetwork hands a network's or
// endpoint's -o KEY=VALUE options to the driver.
const GenericOptions = "com.docker.network.generic"

// CreateNetworkRequest is /NetworkDriver.CreateNetwork's body.
type CreateNetworkRequest struct {
	NetworkID string                 `json:"NetworkID"`
	Options   map[string]interface{} `json:"Options"`
	IPv4Data  []IPAMData             `json:"IPv4Data"`
	IPv6Data  []IPAMData             `json:"IPv6Data"`
}

// EndpointInterface is an endpoint's addresses: Address in CIDR notation.
// The runtime sends what IPAM gave; the driver answers only the fields
// the runtime left empty (an answer that sets a field the runtime set is
// an error, as in libnetwork).
type EndpointInterface struct {
	Address     string `json:"Address,omitempty"`
	AddressIPv6 string `json:"AddressIPv6,omitempty"`
	MacAddress  string `json:"MacAddress,omitempty"`
}

// CreateEndpointRequest is /NetworkDriver.CreateEndpoint's body.
type CreateEndpointRequest struct {
	NetworkID  string                 `json:"NetworkID"`
	EndpointID string                 `json:"EndpointID"`
	Interface  *EndpointInterface     `json:"Interface"`
	Options    map[string]interface{} `json:"Options"`
}

type createEndpointResponse struct {
	Response
	Interface *EndpointInterface `json:"Interface,omitempty"`
}

// EndpointRequest is the body of the calls that only name an endpoint:
// DeleteEndpoint, EndpointOperInfo, Leave, RevokeExternalConnectivity
// (and, with Options, ProgramExternalConnectivity).
type EndpointRequest struct {
	NetworkID  string                 `json:"NetworkID"`
	EndpointID string                 `json:"EndpointID"`
	Options    map[string]interface{} `json:"Options,omitempty"`
}

// JoinRequest is /NetworkDriver.Join's body. SandboxKey is the path of
// the container's network namespace (minirun: /proc/PID/ns/net).
type JoinRequest struct {
	NetworkID  string                 `json:"NetworkID"`
	EndpointID string                 `json:"EndpointID"`
	SandboxKey string                 `json:"SandboxKey"`
	Options    map[string]interface{} `json:"Options"`
}

// InterfaceName names the link the driver made for the endpoint: SrcName
// on the host, which the runtime moves into the sandbox and renames
// DstPrefix followed by the first free number (eth0, eth1…).
type InterfaceName struct {
	SrcName   string `json:"SrcName"`
	DstPrefix string `json:"DstPrefix"`
}

// The route types of a StaticRoute (libnetwork's types.NEXTHOP and
// types.CONNECTED).
const (
	RouteNextHop   = 0
	RouteConnected = 1
)

// StaticRoute is a route the runtime adds in the sandbox: Destination in
// CIDR notation, through NextHop (RouteNextHop) or straight out of the
// endpoint's interface (RouteConnected).
type StaticRoute struct {
	Destination string `json:"Destination"`
	RouteType   int    `json:"RouteType"`
	NextHop     string `json:"NextHop,omitempty"`
}

// JoinResponse is /NetworkDriver.Join's answer. Gateway, when set, becomes
// the sandbox's default route; DisableGatewayService says the driver wants
// none.
type JoinResponse struct {
	Response
	InterfaceName         *InterfaceName `json:"InterfaceName"`
	Gateway               string         `json:"Gateway,omitempty"`
	GatewayIPv6           string         `json:"GatewayIPv6,omitempty"`
	StaticRoutes          []StaticRoute  `json:"StaticRoutes,omitempty"`
	DisableGatewayService bool           `json:"DisableGatewayService,omitempty"`
}

// DiscoveryRequest is the body of DiscoverNew and DiscoverDelete: a node
// (DiscoveryType 1) or datastore (2) that came or went.
type DiscoveryRequest struct {
	DiscoveryType int         `json:"DiscoveryType"`
	DiscoveryData interface{} `json:"DiscoveryData"`
}

// The discovery types of DiscoveryRequest (libnetwork's discoverapi).
const (
	DiscoveryNode      = 1
	DiscoveryDatastore = 2
)

type operInfoResponse struct {
	Response
	Value map[string]interface{} `json:"Value"`
}

// GetCapabilities asks the driver its scope. A driver that leaves Scope
// empty is local.
func (d *NetworkDriver) GetCapabilities() (*Capabilities, error) {
	var r Capabilities
	if err := call(d.Client, NetworkKind, "GetCapabilities", nil, &r); err != nil {
		return nil, err
	}
	if r.Scope == "" {
		r.Scope = "local"
	}
	return &r, nil
}

// CreateNetwork tells the driver about a new network and its pools.
func (d *NetworkDriver) CreateNetwork(req *CreateNetworkRequest) error {
	if req.IPv6Data == nil {
		req.IPv6Data = []IPAMData{}
	}
	return call(d.Client, NetworkKind, "CreateNetwork", req, &Response{})
}

// DeleteNetwork tells the driver the network is gone.
func (d *NetworkDriver) DeleteNetwork(networkID string) error {
	return call(d.Client, NetworkKind, "DeleteNetwork", map[string]string{"NetworkID": networkID}, &Response{})
}

// CreateEndpoint asks the driver for an endpoint with the addresses IPAM
// gave and returns what the driver added (a MAC address, say). An answer
// that changes an address the runtime set is refused, as libnetwork does.
func (d *NetworkDriver) CreateEndpoint(req *CreateEndpointRequest) (*EndpointInterface, error) {
	var r createEndpointResponse
	if err := call(d.Client, NetworkKind, "CreateEndpoint", req, &r); err != nil {
		return nil, err
	}
	out := &EndpointInterface{}
	if r.Interface != nil {
		in := req.Interface
		if in == nil {
			in = &EndpointInterface{}
		}
		for _, f := range []struct{ sent, got, name string }{
			{in.Address, r.Interface.Address, "Address"},
			{in.AddressIPv6, r.Interface.AddressIPv6, "AddressIPv6"},
			{in.MacAddress, r.Interface.MacAddress, "MacAddress"},
		} {
			if f.sent != "" && f.got != "" && f.got != f.sent {
				return nil, &ProtocolError{Kind: NetworkKind, Plugin: d.Name, Method: "CreateEndpoint",
					Err: fmt.Sprintf("driver attempted to set %s %s on an endpoint that has %s", f.name, f.got, f.sent)}
			}
		}
		*out = *r.Interface
	}
	return out, nil
}

// EndpointOperInfo asks the driver for what it knows of an endpoint, for
// inspect.
func (d *NetworkDriver) EndpointOperInfo(networkID, endpointID string) (map[string]interface{}, error) {
	var r operInfoResponse
	if err := call(d.Client, NetworkKind, "EndpointOperInfo", &EndpointRequest{NetworkID: networkID, EndpointID: endpointID}, &r); err != nil {
		return nil, err
	}
	return r.Value, nil
}

// DeleteEndpoint tells the driver the endpoint is gone.
func (d *NetworkDriver) DeleteEndpoint(networkID, endpointID string) error {
	return call(d.Client, NetworkKind, "DeleteEndpoint", &EndpointRequest{NetworkID: networkID, EndpointID: endpointID}, &Response{})
}

// Join asks the driver to connect an endpoint to the sandbox at sandboxKey
// and returns the link to move into it. An answer without an interface
// name is an error: the runtime would have nothing to plug in.
func (d *NetworkDriver) Join(req *JoinRequest) (*JoinResponse, error) {
	if req.Options == nil {
		req.Options = map[string]interface{}{}
	}
	var r JoinResponse
	if err := call(d.Client, NetworkKind, "Join", req, &r); err != nil {
		return nil, err
	}
	if r.InterfaceName == nil || r.InterfaceName.SrcName == "" || r.InterfaceName.DstPrefix == "" {
		return nil, &ProtocolError{Kind: NetworkKind, Plugin: d.Name, Method: "Join", Err: "answered no InterfaceName {SrcName, DstPrefix}"}
	}
	return &r, nil
}

// Leave tells the driver the endpoint left its sandbox.
func (d *NetworkDriver) Leave(networkID, endpointID string) error {
	return call(d.Client, NetworkKind, "Leave", &EndpointRequest{NetworkID: networkID, EndpointID: endpointID}, &Response{})
}

// DiscoverNew tells the driver a node or datastore appeared.
func (d *NetworkDriver) DiscoverNew(typ int, data interface{}) error {
	return call(d.Client, NetworkKind, "DiscoverNew", &DiscoveryRequest{DiscoveryType: typ, DiscoveryData: data}, &Response{})
}

// DiscoverDelete tells the driver a node or datastore went away.
func (d *NetworkDriver) DiscoverDelete(typ int, data interface{}) error {
	return call(d.Client, NetworkKind, "DiscoverDelete", &DiscoveryRequest{DiscoveryType: typ, DiscoveryData: data}, &Response{})
}

// ProgramExternalConnectivity asks the driver to give the endpoint a way
// out of the host (NAT, published ports): libnetwork calls it for the
// endpoint that holds the sandbox's default route.
func (d *NetworkDriver) ProgramExternalConnectivity(networkID, endpointID string, opts map[string]interface{}) error {
	if opts == nil {
		opts = map[string]interface{}{}
	}
	return call(d.Client, NetworkKind, "ProgramExternalConnectivity", &EndpointRequest{NetworkID: networkID, EndpointID: endpointID, Options: opts}, &Response{})
}

// RevokeExternalConnectivity undoes ProgramExternalConnectivity.
func (d *NetworkDriver) RevokeExternalConnectivity(networkID, endpointID string) error {
	return call(d.Client, NetworkKind, "RevokeExternalConnectivity", &EndpointRequest{NetworkID: networkID, EndpointID: endpointID}, &Response{})
}
