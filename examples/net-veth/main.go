// Command net-veth is an example Docker network plugin that is also an
// IPAM plugin, speaking libnetwork's remote driver protocol
// (/NetworkDriver.*, libnetwork docs/remote.md) and its IPAM protocol
// (/IpamDriver.*, docs/ipam.md) on a unix socket. It works with minirun
// and with Docker alike:
//
//	net-veth -socket /run/docker/plugins/net-veth.sock -range 10.99.0.0/16
//	minirun network create -d net-veth --ipam-driver net-veth NAME
//
// As a network driver it owns one bridge per network (mrv + 10 characters
// of the network id) with the gateway's address on it, and for each
// endpoint a veth pair (mrv + 9 characters of the endpoint id + h/c): the
// h end on the bridge, the c end handed to the runtime in Join's
// InterfaceName, for it to move into the container. It writes no firewall
// rule: containers on one of its networks reach each other and the host.
//
// As an IPAM driver it serves pools of -bits (default /24) out of -range,
// the next free one or the --subnet asked for if it lies in the range, and
// addresses out of each pool. With -state FILE its pools and addresses
// outlive a restart, so it never hands an address out twice.
//
// Network options (-o on network create):
//
//	route=CIDR[,CIDR]  Join asks for static routes to these through the gateway
//	fail=METHOD        answer Err to that call (Join, CreateEndpoint,
//	                   ProgramExternalConnectivity…), to watch the runtime undo
//	                   what it did
//
// Any other option is refused with an "Err" answer.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
)

const mediaType = "application/vnd.docker.plugins.v1.2+json"

// The address spaces GetDefaultAddressSpaces answers.
const (
	localSpace  = "net-veth-local"
	globalSpace = "net-veth-global"
)

type pool struct {
	Prefix string          `json:"Prefix"`
	Used   map[string]bool `json:"Used"` // addresses handed out
}

type network struct {
	Bridge  string            `json:"Bridge"`
	Gateway string            `json:"Gateway"` // CIDR, on the bridge
	Options map[string]string `json:"Options"`
}

type endpoint struct {
	Network string `json:"Network"`
	Address string `json:"Address"`
}

// plugin is all the state; one mutex orders every request.
type plugin struct {
	mu        sync.Mutex
	rng       netip.Prefix
	bits      int
	stateFile string
	Pools     map[string]*pool     `json:"Pools"` // by PoolID
	Networks  map[string]*network  `json:"Networks"`
	Endpoints map[string]*endpoint `json:"Endpoints"`
}

func (p *plugin) save() error {
	if p.stateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := p.stateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.stateFile)
}

// req is the union of every request body the two protocols send.
type req struct {
	NetworkID, EndpointID, SandboxKey string
	Options                           map[string]interface{}
	IPv4Data                          []struct{ AddressSpace, Pool, Gateway string }
	Interface                         *struct{ Address, AddressIPv6, MacAddress string }

	AddressSpace, Pool, SubPool, PoolID, Address string
	V6                                           bool
}

type answer map[string]interface{}

var errNotFound = errors.New("not found")

func (p *plugin) handle(method string, r *req) (answer, error) {
	if n := p.Networks[r.NetworkID]; n != nil && n.Options["fail"] != "" && method == "NetworkDriver."+n.Options["fail"] {
		return nil, fmt.Errorf("refusing %s, as the fail option asks", n.Options["fail"])
	}
	switch method {
	// IPAM.
	case "IpamDriver.GetCapabilities":
		return answer{"RequiresMACAddress": false, "RequiresRequestReplay": false}, nil
	case "IpamDriver.GetDefaultAddressSpaces":
		return answer{"LocalDefaultAddressSpace": localSpace, "GlobalDefaultAddressSpace": globalSpace}, nil
	case "IpamDriver.RequestPool":
		return p.requestPool(r)
	case "IpamDriver.ReleasePool":
		if pl := p.Pools[r.PoolID]; pl != nil && len(pl.Used) > 0 {
			return nil, fmt.Errorf("pool %s still has %d addresses in use", r.PoolID, len(pl.Used))
		}
		delete(p.Pools, r.PoolID) // an unknown pool is released already
		return answer{}, nil
	case "IpamDriver.RequestAddress":
		return p.requestAddress(r)
	case "IpamDriver.ReleaseAddress":
		if pl := p.Pools[r.PoolID]; pl != nil {
			delete(pl.Used, strings.Split(r.Address, "/")[0])
		}
		return answer{}, nil

	// Network driver.
	case "NetworkDriver.GetCapabilities":
		return answer{"Scope": "local", "ConnectivityScope": "local"}, nil
	case "NetworkDriver.CreateNetwork":
		return p.createNetwork(r)
	case "NetworkDriver.DeleteNetwork":
		if n := p.Networks[r.NetworkID]; n != nil {
			if err := deleteLink(n.Bridge); err != nil {
				return nil, err
			}
			delete(p.Networks, r.NetworkID)
		}
		return answer{}, nil
	case "NetworkDriver.CreateEndpoint":
		return p.createEndpoint(r)
	case "NetworkDriver.EndpointOperInfo":
		if p.Endpoints[r.EndpointID] == nil {
			return nil, fmt.Errorf("endpoint %s: %w", r.EndpointID, errNotFound)
		}
		host, _ := vethNames(r.EndpointID)
		return answer{"Value": map[string]string{"veth": host}}, nil
	case "NetworkDriver.DeleteEndpoint":
		host, _ := vethNames(r.EndpointID)
		if err := deleteLink(host); err != nil {
			return nil, err
		}
		delete(p.Endpoints, r.EndpointID)
		return answer{}, nil
	case "NetworkDriver.Join":
		return p.join(r)
	case "NetworkDriver.Leave":
		// The runtime moved the c end back to the host: deleting the h
		// end deletes both.
		host, _ := vethNames(r.EndpointID)
		return answer{}, deleteLink(host)
	case "NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.RevokeExternalConnectivity",
		"NetworkDriver.DiscoverNew", "NetworkDriver.DiscoverDelete":
		// No NAT and no published ports: this plugin's networks reach the
		// host only. Nothing to program, nothing to revoke.
		return answer{}, nil
	}
	return nil, fmt.Errorf("unknown method %s", method)
}

func (p *plugin) requestPool(r *req) (answer, error) {
	if r.V6 {
		return nil, errors.New("net-veth serves IPv4 pools only")
	}
	if r.SubPool != "" {
		return nil, errors.New("net-veth does not support --ip-range")
	}
	if r.AddressSpace != localSpace && r.AddressSpace != globalSpace {
		return nil, fmt.Errorf("unknown address space %q", r.AddressSpace)
	}
	taken := map[netip.Prefix]bool{}
	for _, pl := range p.Pools {
		taken[netip.MustParsePrefix(pl.Prefix)] = true
	}
	var want netip.Prefix
	if r.Pool != "" {
		w, err := netip.ParsePrefix(r.Pool)
		if err != nil || !w.Addr().Is4() || w.Masked() != w {
			return nil, fmt.Errorf("pool %q is not an IPv4 network address in CIDR", r.Pool)
		}
		if w.Bits() < p.rng.Bits() || !p.rng.Contains(w.Addr()) {
			return nil, fmt.Errorf("pool %s is outside this plugin's range %s", w, p.rng)
		}
		for t := range taken {
			if t.Overlaps(w) {
				return nil, fmt.Errorf("pool %s overlaps pool %s, already given", w, t)
			}
		}
		want = w
	} else {
		step := uint32(1) << (32 - p.bits)
		for a := p.rng.Addr(); p.rng.Contains(a); {
			c := netip.PrefixFrom(a, p.bits)
			free := true
			for t := range taken {
				free = free && !t.Overlaps(c)
			}
			if free {
				want = c
				break
			}
			v := a.As4()
			u := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]) + step
			if u < step {
				break
			}
			a = netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
		}
		if !want.IsValid() {
			return nil, fmt.Errorf("no free /%d left in %s", p.bits, p.rng)
		}
	}
	id := r.AddressSpace + "/" + want.String()
	p.Pools[id] = &pool{Prefix: want.String(), Used: map[string]bool{}}
	return answer{"PoolID": id, "Pool": want.String(), "Data": map[string]string{}}, nil
}

func (p *plugin) requestAddress(r *req) (answer, error) {
	pl := p.Pools[r.PoolID]
	if pl == nil {
		return nil, fmt.Errorf("pool %s: %w", r.PoolID, errNotFound)
	}
	pfx := netip.MustParsePrefix(pl.Prefix)
	last := pfx.Addr()
	for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
		last = a
	}
	if r.Address != "" {
		a, err := netip.ParseAddr(strings.Split(r.Address, "/")[0])
		if err != nil || !pfx.Contains(a) || a == pfx.Addr() || a == last {
			return nil, fmt.Errorf("address %s is not a host address of pool %s", r.Address, pfx)
		}
		if pl.Used[a.String()] {
			return nil, fmt.Errorf("address %s is already in use", a)
		}
		pl.Used[a.String()] = true
		return answer{"Address": netip.PrefixFrom(a, pfx.Bits()).String()}, nil
	}
	for a := pfx.Addr().Next(); a != last; a = a.Next() {
		if !pl.Used[a.String()] {
			pl.Used[a.String()] = true
			return answer{"Address": netip.PrefixFrom(a, pfx.Bits()).String()}, nil
		}
	}
	return nil, fmt.Errorf("pool %s has no free address left", pfx)
}

func (p *plugin) createNetwork(r *req) (answer, error) {
	if len(r.IPv4Data) != 1 || r.IPv4Data[0].Gateway == "" {
		return nil, errors.New("net-veth needs one IPv4 pool with a gateway")
	}
	opts := map[string]string{}
	if g, ok := r.Options["com.docker.network.generic"].(map[string]interface{}); ok {
		for k, v := range g {
			s, _ := v.(string)
			switch k {
			case "route":
				for _, c := range strings.Split(s, ",") {
					if _, err := netip.ParsePrefix(c); err != nil {
						return nil, fmt.Errorf("option route: %q is not a CIDR", c)
					}
				}
			case "fail":
			default:
				return nil, fmt.Errorf("unknown option %q (net-veth knows route and fail)", k)
			}
			opts[k] = s
		}
	}
	if opts["fail"] == "CreateNetwork" {
		return nil, errors.New("refusing CreateNetwork, as the fail option asks")
	}
	gw, err := netip.ParsePrefix(r.IPv4Data[0].Gateway)
	if err != nil {
		return nil, fmt.Errorf("gateway %q is not a CIDR", r.IPv4Data[0].Gateway)
	}
	n := &network{Bridge: "mrv" + short(r.NetworkID, 10), Gateway: gw.String(), Options: opts}
	la := netlink.NewLinkAttrs()
	la.Name = n.Bridge
	br := &netlink.Bridge{LinkAttrs: la}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", n.Bridge, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.Addr().AsSlice(), Mask: net.CIDRMask(gw.Bits(), 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil {
		netlink.LinkDel(br)
		return nil, fmt.Errorf("address %s on %s: %w", gw, n.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		netlink.LinkDel(br)
		return nil, fmt.Errorf("set %s up: %w", n.Bridge, err)
	}
	p.Networks[r.NetworkID] = n
	return answer{}, nil
}

func (p *plugin) createEndpoint(r *req) (answer, error) {
	n := p.Networks[r.NetworkID]
	if n == nil {
		return nil, fmt.Errorf("network %s: %w", r.NetworkID, errNotFound)
	}
	if r.Interface == nil || r.Interface.Address == "" {
		return nil, errors.New("net-veth needs the endpoint's IPv4 address")
	}
	a, err := netip.ParsePrefix(r.Interface.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q is not a CIDR", r.Interface.Address)
	}
	p.Endpoints[r.EndpointID] = &endpoint{Network: r.NetworkID, Address: a.String()}
	ifc := map[string]string{}
	if r.Interface.MacAddress == "" {
		// Docker's bridge driver's rule: 02:42 then the IPv4 address, so
		// a MAC never collides within a network.
		b := a.Addr().As4()
		ifc["MacAddress"] = fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
	}
	return answer{"Interface": ifc}, nil
}

func (p *plugin) join(r *req) (answer, error) {
	ep := p.Endpoints[r.EndpointID]
	if ep == nil {
		return nil, fmt.Errorf("endpoint %s: %w", r.EndpointID, errNotFound)
	}
	n := p.Networks[ep.Network]
	if n == nil {
		return nil, fmt.Errorf("network %s: %w", ep.Network, errNotFound)
	}
	host, peer := vethNames(r.EndpointID)
	la := netlink.NewLinkAttrs()
	la.Name = host
	v := &netlink.Veth{LinkAttrs: la, PeerName: peer}
	if err := netlink.LinkAdd(v); err != nil {
		return nil, fmt.Errorf("create veth %s: %w", host, err)
	}
	br, err := netlink.LinkByName(n.Bridge)
	if err == nil {
		err = netlink.LinkSetMaster(v, br)
	}
	if err == nil {
		err = netlink.LinkSetUp(v)
	}
	if err != nil {
		netlink.LinkDel(v)
		return nil, fmt.Errorf("plug %s into %s: %w", host, n.Bridge, err)
	}
	gw := netip.MustParsePrefix(n.Gateway).Addr()
	var routes []map[string]interface{}
	if s := n.Options["route"]; s != "" {
		for _, c := range strings.Split(s, ",") {
			routes = append(routes, map[string]interface{}{"Destination": c, "RouteType": 0, "NextHop": gw.String()})
		}
	}
	return answer{
		"InterfaceName": map[string]string{"SrcName": peer, "DstPrefix": "eth"},
		"Gateway":       gw.String(),
		"StaticRoutes":  routes,
	}, nil
}

func short(id string, n int) string {
	if len(id) > n {
		return id[:n]
	}
	return id
}

// vethNames are an endpoint's veth pair: at most 13 characters, under
// IFNAMSIZ.
func vethNames(endpointID string) (host, peer string) {
	return "mrv" + short(endpointID, 9) + "h", "mrv" + short(endpointID, 9) + "c"
}

// deleteLink deletes a link; one already gone is success.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

func main() {
	socket := flag.String("socket", "/run/docker/plugins/net-veth.sock", "unix socket to listen on")
	rangeFlag := flag.String("range", "10.99.0.0/16", "the range IPAM pools are cut from")
	bits := flag.Int("bits", 24, "the prefix length of each pool")
	stateFile := flag.String("state", "", "file that keeps pools, networks and endpoints across restarts (default: memory only)")
	flag.Parse()
	log.SetPrefix("net-veth: ")
	rng, err := netip.ParsePrefix(*rangeFlag)
	if err != nil || !rng.Addr().Is4() || *bits < rng.Bits() || *bits > 30 {
		log.Fatalf("-range %s -bits %d: want an IPv4 CIDR and a prefix length between its own and 30", *rangeFlag, *bits)
	}
	p := &plugin{rng: rng.Masked(), bits: *bits, stateFile: *stateFile,
		Pools: map[string]*pool{}, Networks: map[string]*network{}, Endpoints: map[string]*endpoint{}}
	if *stateFile != "" {
		if b, err := os.ReadFile(*stateFile); err == nil {
			if err := json.Unmarshal(b, p); err != nil {
				log.Fatalf("%s: %v", *stateFile, err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(*socket), 0o755); err != nil {
		log.Fatal(err)
	}
	os.Remove(*socket) // a socket left by a killed predecessor
	l, err := net.Listen("unix", *socket)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", mediaType)
		json.NewEncoder(w).Encode(map[string][]string{"Implements": {"NetworkDriver", "IpamDriver"}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, hr *http.Request) {
		method := strings.TrimPrefix(hr.URL.Path, "/")
		var r req
		json.NewDecoder(hr.Body).Decode(&r) // GetCapabilities sends no body
		p.mu.Lock()
		a, err := p.handle(method, &r)
		if err == nil {
			err = p.save()
		}
		p.mu.Unlock()
		if err != nil {
			a = answer{"Err": err.Error()}
		}
		// One line per call: the method, what it named, the answer.
		var named []string
		for _, s := range []string{r.NetworkID, r.EndpointID, r.PoolID, r.Pool, r.Address} {
			if s != "" {
				named = append(named, s)
			}
		}
		b, _ := json.Marshal(a)
		log.Printf("%s %s → %s", method, strings.Join(named, " "), b)
		w.Header().Set("Content-Type", mediaType)
		if strings.HasPrefix(fmt.Sprint(err), "unknown method") {
			w.WriteHeader(http.StatusNotFound)
		}
		w.Write(b)
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; l.Close() }()
	ids := make([]string, 0, len(p.Pools))
	for id := range p.Pools {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	log.Printf("serving pools of %s (/%d) on %s; pools held: %v", p.rng, p.bits, *socket, ids)
	err = http.Serve(l, mux)
	os.Remove(*socket)
	if !errors.Is(err, net.ErrClosed) {
		log.Fatal(err)
	}
}
