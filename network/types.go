package network

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"time"
)

// The drivers minirun implements: Docker's three single-host drivers,
// macvlan and ipvlan (macvlan.go, ipvlan.go), and the multi-host overlay
// (DriverOverlay, overlay.go).
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNone   = "none"
)

// The predefined networks, named as Docker names them.
const (
	DefaultNetwork = "bridge" // the default bridge: no DNS, like docker0
	HostNetwork    = "host"   // the container keeps the host's network namespace
	NoneNetwork    = "none"   // a network namespace with only lo
)

// Addresses minirun uses unless told otherwise (see docs/network.md#subnets
// for why these): the default bridge gets DefaultSubnet on DefaultBridge,
// and each user network gets the next free /UserPrefixLen of UserPool that
// overlaps neither another minirun network nor a route of the host.
const (
	DefaultBridge = "mr0"
	DefaultSubnet = "10.77.0.0/16"
	UserPool      = "10.78.0.0/16"
	UserPrefixLen = 24
)

// Options understood by `network create -o KEY=VALUE`.
const (
	// OptBridgeName names the bridge device, as Docker's option does.
	OptBridgeName = "com.docker.network.bridge.name"
	// OptMTU sets the MTU of the bridge and of every veth pair on it, as
	// Docker's option does (default 1500, the Ethernet MTU).
	OptMTU = "com.docker.network.driver.mtu"
	// OptDNSUpstream lists the resolvers (IP or IP:PORT, comma-separated)
	// the network's DNS server forwards other names to, instead of the
	// host's /etc/resolv.conf.
	OptDNSUpstream = "minirun.dns.upstream"
)

// EnvDNSUpstream overrides the upstream resolvers of every DNS server that
// starts with it in its environment (a network's OptDNSUpstream still wins).
const EnvDNSUpstream = "MINIRUN_DNS_UPSTREAM"

// EnvBridgeSubnet overrides DefaultSubnet when the default network is first
// created, like dockerd's --bip: for a machine whose LAN already uses it.
const EnvBridgeSubnet = "MINIRUN_BRIDGE_SUBNET"

// EnvBridgeName names the default network's bridge instead of mr0: a test
// suite with its own data root uses it so it never meets the mr0 of the
// machine's real data root (or of another suite running at the same time).
const EnvBridgeName = "MINIRUN_BRIDGE_NAME"

// Network is one network, shaped like `docker network inspect`. It is saved
// as JSON under the data root; the DNS server reads the same file.
type Network struct {
	Name     string            `json:"Name"`
	ID       string            `json:"Id"`
	Created  time.Time         `json:"Created"`
	Scope    string            `json:"Scope"`
	Driver   string            `json:"Driver"`
	Internal bool              `json:"Internal"`
	IPAM     IPAM              `json:"IPAM"`
	Options  map[string]string `json:"Options"`
	// Containers are the network's endpoints by container id, as in
	// Docker's inspect.
	Containers map[string]*Endpoint `json:"Containers"`

	// Attachable is --attachable, recorded as Docker's inspect shows it:
	// in swarm mode it lets standalone containers join an overlay; minirun
	// has no swarm services, so every network takes containers. dockerd
	// takes it on any driver, and docker-compose 1.29 sends it for every
	// network it creates.
	Attachable bool `json:"Attachable"`

	// Bridge is the Linux bridge device (bridge and overlay drivers).
	Bridge string `json:"Bridge,omitempty"`
	// Overlay is the overlay driver's part of the record (overlay.go).
	Overlay *OverlayState `json:"Overlay,omitempty"`
	// CreatedParent is set when minirun made the macvlan or ipvlan
	// network's parent (Options["parent"]: a dummy, a VLAN sub-interface),
	// so the network's removal deletes it — Docker's CreatedSlaveLink.
	CreatedParent bool `json:"CreatedParent,omitempty"`
	// DNS is the network's DNS server process (user-defined bridges only).
	DNS *DNSProcess `json:"DNS,omitempty"`
	// LastIP is IPAM's cursor: the next address is searched after it, so a
	// released address is not handed out again at once (a peer's ARP cache
	// or a DNS answer may still point at it).
	LastIP string `json:"LastIP,omitempty"`
	// IPAMPoolID is the pool an IPAM plugin gave the network
	// (--ipam-driver): every address request and release names it.
	IPAMPoolID string `json:"IPAMPoolID,omitempty"`
}

// Builtin reports whether driver is one of minirun's own: anything else
// is a network plugin's name (plugin.go).
func Builtin(driver string) bool {
	return driver == DriverBridge || driver == DriverHost || driver == DriverNone || driver == DriverOverlay || isSublink(driver)
}

// ByPlugin reports whether a network plugin (a libnetwork remote driver)
// makes the network's links.
func (n *Network) ByPlugin() bool { return !Builtin(n.Driver) }

// ByIPAMPlugin reports whether an IPAM plugin hands out the network's
// addresses.
func (n *Network) ByIPAMPlugin() bool { return n.IPAMPoolID != "" }

// IPAM is the network's address configuration, as in Docker's inspect.
type IPAM struct {
	Driver string       `json:"Driver"`
	Config []IPAMConfig `json:"Config"`
}

// IPAMConfig is one subnet and its gateway.
type IPAMConfig struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

// DNSProcess records the network's DNS server: its pid and start time
// (proc(5) field 22), so a recycled pid is never mistaken for it, and the
// address it listens on.
type DNSProcess struct {
	Pid       int    `json:"Pid"`
	StartTime uint64 `json:"StartTime"`
	Addr      string `json:"Addr"`
}

// Subnet is the network's subnet (invalid for host and none).
func (n *Network) Subnet() netip.Prefix {
	if len(n.IPAM.Config) == 0 {
		return netip.Prefix{}
	}
	p, _ := netip.ParsePrefix(n.IPAM.Config[0].Subnet)
	return p
}

// Gateway is the bridge's address, the containers' default route.
func (n *Network) Gateway() netip.Addr {
	if len(n.IPAM.Config) == 0 {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(n.IPAM.Config[0].Gateway)
	return a
}

// Predefined reports whether Docker would call the network pre-defined:
// bridge, host and none cannot be created or removed by name.
func (n *Network) Predefined() bool {
	return n.Name == DefaultNetwork || n.Name == HostNetwork || n.Name == NoneNetwork
}

// HasDNS reports whether containers on the network resolve each other's
// names: user-defined bridges and overlays only, as in Docker.
func (n *Network) HasDNS() bool {
	return (n.Driver == DriverBridge && n.Name != DefaultNetwork) || n.Driver == DriverOverlay
}

// MTU is the MTU of the network's links: OptMTU, or 0 for the kernel's
// default (1500 for veth and bridge).
func (n *Network) MTU() int {
	v, err := strconv.Atoi(n.Options[OptMTU])
	if err != nil {
		return 0
	}
	return v
}

// Short is the first 12 characters of the id, as `docker network ls` shows.
func (n *Network) Short() string { return short(n.ID) }

// Tag is the comment on every firewall rule that belongs to the network.
func (n *Network) Tag() string { return tagOf(n.ID) }

// Endpoints returns the network's endpoints sorted by container name.
func (n *Network) Endpoints() []*Endpoint {
	out := make([]*Endpoint, 0, len(n.Containers))
	for _, ep := range n.Containers {
		out = append(out, ep)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Endpoint is one container's attachment to one network: Docker's
// endpoint. The first five fields are those of `docker network inspect`.
type Endpoint struct {
	Name        string `json:"Name"` // the container's name
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"` // 10.78.0.2/24
	IPv6Address string `json:"IPv6Address"`

	ContainerID string        `json:"ContainerID"`
	NetworkID   string        `json:"NetworkID"`
	NetworkName string        `json:"NetworkName"`
	Driver      string        `json:"Driver"`
	Gateway     string        `json:"Gateway,omitempty"`
	Internal    bool          `json:"Internal,omitempty"`
	Aliases     []string      `json:"Aliases,omitempty"`
	Ports       []PortMapping `json:"Ports,omitempty"`
	// DNSServer is the nameserver the container's resolv.conf names: the
	// network's DNS server, on user-defined networks only.
	DNSServer string `json:"DNSServer,omitempty"`

	// Set by Attach. Pid and PidStart (proc(5) field 22) name the
	// container's init, so an endpoint whose container died without a
	// Detach (a killed CLI, a reboot) can be told apart and reaped.
	Attached   bool   `json:"Attached"`
	Pid        int    `json:"Pid,omitempty"`
	PidStart   uint64 `json:"PidStart,omitempty"`
	IfName     string `json:"IfName,omitempty"`     // eth0 inside the container
	HostIfName string `json:"HostIfName,omitempty"` // its veth peer on the host
	// On a plugin's network: PluginIfName is the link the plugin made
	// (Join's SrcName), moved into the container as IfName; External says
	// ProgramExternalConnectivity was called for it.
	PluginIfName string `json:"PluginIfName,omitempty"`
	External     bool   `json:"External,omitempty"`

	// hostLinks are the host's links before the plugin's CreateEndpoint
	// (Reserve takes them, Attach reads them; they travel in the
	// *Endpoint between the two, never in the record): Join's SrcName
	// must name a link that is not among them (see checkPluginLink).
	hostLinks map[int]string
}

// IP is the endpoint's address (invalid for host and none).
func (ep *Endpoint) IP() netip.Addr { return ep.Prefix().Addr() }

// Prefix is the endpoint's address with the subnet's length.
func (ep *Endpoint) Prefix() netip.Prefix {
	p, _ := netip.ParsePrefix(ep.IPv4Address)
	return p
}

// HostNetwork reports whether the container must keep the host's network
// namespace: the runtime must then NOT create a new one.
func (ep *Endpoint) HostNetwork() bool { return ep.Driver == DriverHost }

// NeedsNetNS reports whether the container gets a network namespace of its
// own (every driver but host).
func (ep *Endpoint) NeedsNetNS() bool { return ep.Driver != DriverHost }

// PortMapping is one published port: HostIP:HostPort on the host reaches
// ContainerPort in the container. HostIP "" means every address of the
// host; HostPort 0 means "pick a free one" until Reserve picks it.
type PortMapping struct {
	HostIP        string `json:"HostIp"`
	HostPort      uint16 `json:"HostPort"`
	ContainerPort uint16 `json:"ContainerPort"`
	Proto         string `json:"Proto"` // tcp or udp
}

// String is the mapping as `docker ps` and `docker port` show it:
// 0.0.0.0:8080->80/tcp.
func (p PortMapping) String() string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Proto)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// tagOf is the comment (nftables userdata) on every rule owned by the
// network or container id: `nft list ruleset | grep minirun:` shows whose
// each rule is, and removal deletes exactly the rules with that tag.
func tagOf(id string) string { return "minirun:" + short(id) }
