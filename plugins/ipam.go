package plugins

// IPAMDriver is a client of libnetwork's IPAM plugin protocol
// (/IpamDriver.*, libnetwork docs/ipam.md): the plugin owns a network's
// pools and hands out its addresses, the gateway's included.
type IPAMDriver struct{ *Client }

// IPAMPlugin finds and activates the IPAM plugin called name.
func IPAMPlugin(d Dirs, name string) (*IPAMDriver, error) {
	c, err := Get(d, name, IPAMKind)
	if err != nil {
		return nil, err
	}
	return &IPAMDriver{c}, nil
}

// IPAMCapabilities is GetCapabilities' answer.
type IPAMCapabilities struct {
	Response
	RequiresMACAddress    bool `json:"RequiresMACAddress"`
	RequiresRequestReplay bool `json:"RequiresRequestReplay"`
}

// AddressSpaces is GetDefaultAddressSpaces' answer: the names of the
// plugin's local and global address spaces, one of which every RequestPool
// names.
type AddressSpaces struct {
	Response
	LocalDefaultAddressSpace  string `json:"LocalDefaultAddressSpace"`
	GlobalDefaultAddressSpace string `json:"GlobalDefaultAddressSpace"`
}

// PoolRequest is /IpamDriver.RequestPool's body: Pool is the --subnet
// asked for ("" lets the plugin choose), SubPool the --ip-range.
type PoolRequest struct {
	AddressSpace string            `json:"AddressSpace"`
	Pool         string            `json:"Pool"`
	SubPool      string            `json:"SubPool"`
	Options      map[string]string `json:"Options"`
	V6           bool              `json:"V6"`
}

// PoolResponse is RequestPool's answer: PoolID names the pool in every
// later call, Pool is its CIDR.
type PoolResponse struct {
	Response
	PoolID string            `json:"PoolID"`
	Pool   string            `json:"Pool"`
	Data   map[string]string `json:"Data,omitempty"`
}

// AddressRequest is the body of RequestAddress and ReleaseAddress: an
// Address of "" asks the plugin to choose.
type AddressRequest struct {
	PoolID  string            `json:"PoolID"`
	Address string            `json:"Address"`
	Options map[string]string `json:"Options,omitempty"`
}

type addressResponse struct {
	Response
	Address string            `json:"Address"`
	Data    map[string]string `json:"Data,omitempty"`
}

// RequestAddressType is the option by which RequestAddress says what the
// address is for; GatewayAddress marks the network's gateway, which
// libnetwork requests right after the pool.
const (
	RequestAddressType = "RequestAddressType"
	GatewayAddress     = "com.docker.network.gateway"
)

// GetCapabilities asks what the plugin needs with each request.
func (d *IPAMDriver) GetCapabilities() (*IPAMCapabilities, error) {
	var r IPAMCapabilities
	if err := call(d.Client, IPAMKind, "GetCapabilities", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetDefaultAddressSpaces returns the plugin's address spaces.
func (d *IPAMDriver) GetDefaultAddressSpaces() (*AddressSpaces, error) {
	var r AddressSpaces
	if err := call(d.Client, IPAMKind, "GetDefaultAddressSpaces", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequestPool asks for a pool; it returns the pool's id and CIDR.
func (d *IPAMDriver) RequestPool(req *PoolRequest) (*PoolResponse, error) {
	if req.Options == nil {
		req.Options = map[string]string{}
	}
	var r PoolResponse
	if err := call(d.Client, IPAMKind, "RequestPool", req, &r); err != nil {
		return nil, err
	}
	if r.PoolID == "" || r.Pool == "" {
		return nil, &ProtocolError{Kind: IPAMKind, Plugin: d.Name, Method: "RequestPool", Err: "answered no PoolID or Pool"}
	}
	return &r, nil
}

// ReleasePool gives a pool back.
func (d *IPAMDriver) ReleasePool(poolID string) error {
	return call(d.Client, IPAMKind, "ReleasePool", map[string]string{"PoolID": poolID}, &Response{})
}

// RequestAddress asks for an address of the pool (want, or any if "") and
// returns it in CIDR notation (10.0.0.2/24).
func (d *IPAMDriver) RequestAddress(poolID, want string, opts map[string]string) (string, error) {
	var r addressResponse
	if err := call(d.Client, IPAMKind, "RequestAddress", &AddressRequest{PoolID: poolID, Address: want, Options: opts}, &r); err != nil {
		return "", err
	}
	if r.Address == "" {
		return "", &ProtocolError{Kind: IPAMKind, Plugin: d.Name, Method: "RequestAddress", Err: "answered no Address"}
	}
	return r.Address, nil
}

// ReleaseAddress gives an address back to its pool (address without the
// prefix length, as libnetwork sends it).
func (d *IPAMDriver) ReleaseAddress(poolID, address string) error {
	return call(d.Client, IPAMKind, "ReleaseAddress", &AddressRequest{PoolID: poolID, Address: address}, &Response{})
}
