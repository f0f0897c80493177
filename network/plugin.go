package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/plugins"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Network and IPAM plugins, as libnetwork drives them (its docs/remote.md
// and docs/ipam.md; the protocol is in package plugins):
//
//	network create -d P --ipam-driver I NAME
//	  I GetDefaultAddressSpaces, RequestPool      network-plugin-pool
//	  I RequestAddress (the gateway)              network-plugin-gateway
//	  the record (network.json)                   network-state
//	  P CreateNetwork                             network-plugin-create
//	run --network NAME (before the container exists)
//	  I RequestAddress                            network-plugin-address
//	  P CreateEndpoint                            network-plugin-endpoint
//	  the record                                  network-ipam
//	the container's namespace exists
//	  P Join (SandboxKey /proc/PID/ns/net)        network-plugin-join
//	  move SrcName in as DstPrefix+N              network-plugin-move
//	  address, default route via Join's Gateway   network-addr, network-route
//	  Join's StaticRoutes                         network-plugin-routes
//	  P ProgramExternalConnectivity               network-plugin-external
//	rm: the reverse (network-plugin-revoke, -leave, -endpoint-delete,
//	  -address-release); network rm: network-plugin-delete and
//	  network-plugin-pool-release before the record goes.
//
// Each step that changes something registers its undo (the plugin's
// reverse call), so a plugin that fails half way leaves nothing: neither
// on the host, nor in the plugin, nor in minirun's records. The bridge
// driver takes an IPAM plugin too: the pool and addresses come from it,
// the links from minirun. A remote driver with minirun's own IPAM gets a
// pool as a bridge would (the next free /24 of 10.78.0.0/16).
//
// NOTE: minirun runs no DNS server, firewall rules or port mappings on a
// plugin's network: those are the driver's to make (Docker's embedded DNS
// works there; minirun's does not, see docs/network.md#network-plugin-join).

// PluginDirs are where networks look for plugins.
var PluginDirs = plugins.DirsFromEnv

func netDriver(name string) (*plugins.NetworkDriver, error) {
	d, err := plugins.NetworkPlugin(PluginDirs(), name)
	if err != nil {
		return nil, fmt.Errorf("network driver %s: %w", name, err)
	}
	return d, nil
}

func ipamDriver(name string) (*plugins.IPAMDriver, error) {
	d, err := plugins.IPAMPlugin(PluginDirs(), name)
	if err != nil {
		return nil, fmt.Errorf("ipam driver %s: %w", name, err)
	}
	return d, nil
}

// requestPool asks the IPAM plugin for the network's pool (subnet, when
// given, as --subnet) and its gateway (gateway, when given): it fills
// n.IPAM.Config and n.IPAMPoolID.
func (m *Manager) requestPool(n *Network, subnet netip.Prefix, gateway string, undo *cleanup.Stack) error {
	d, err := ipamDriver(n.IPAM.Driver)
	if err != nil {
		return err
	}
	want := ""
	if subnet.IsValid() {
		want = subnet.String()
	}
	req := &plugins.PoolRequest{Pool: want, Options: map[string]string{}}
	err = m.tr.Do(stepT{
		ID: StepPluginPool, Chapter: explain.ChapterNetwork,
		Title: text("Pede um pool ao plugin de IPAM "+d.Name, "Ask IPAM plugin "+d.Name+" for a pool"),
		Why: text("Com --ipam-driver quem escolhe a sub-rede é o plugin: o minirun pergunta o espaço de endereços local dele e pede um pool nesse espaço (a --subnet, se dada). O PoolID que volta é o nome do pool em todo pedido seguinte.",
			"With --ipam-driver the plugin picks the subnet: minirun asks for its local address space and requests a pool there (the --subnet, if given). The PoolID it answers names the pool in every later request."),
		Shell: d.Shell("/IpamDriver.GetDefaultAddressSpaces", nil) + "\n" + d.Shell("/IpamDriver.RequestPool", req),
		Do: func() error {
			as, err := d.GetDefaultAddressSpaces()
			if err != nil {
				return err
			}
			req.AddressSpace = as.LocalDefaultAddressSpace
			p, err := d.RequestPool(req)
			if err != nil {
				return err
			}
			pool, err := netip.ParsePrefix(p.Pool)
			if err != nil || !pool.Addr().Is4() {
				return errors.Join(fmt.Errorf("ipam plugin %s: RequestPool: pool %q is not an IPv4 CIDR", d.Name, p.Pool), d.ReleasePool(p.PoolID))
			}
			n.IPAMPoolID = p.PoolID
			n.IPAM.Config = []IPAMConfig{{Subnet: pool.Masked().String()}}
			return nil
		},
		Undo:      func() error { return d.ReleasePool(n.IPAMPoolID) },
		Evidence:  func() string { return "PoolID " + n.IPAMPoolID + " → " + n.Subnet().String() },
		UndoShell: d.Shell("/IpamDriver.ReleasePool", map[string]string{"PoolID": "$POOLID"}),
	}, undo)
	if err != nil {
		return err
	}
	areq := plugins.AddressRequest{PoolID: n.IPAMPoolID, Address: gateway, Options: map[string]string{plugins.RequestAddressType: plugins.GatewayAddress}}
	return m.tr.Do(stepT{
		ID: StepPluginGateway, Chapter: explain.ChapterNetwork,
		Title: text("Pede ao plugin "+d.Name+" o endereço do gateway", "Ask plugin "+d.Name+" for the gateway's address"),
		Why: text("O gateway também sai do pool, marcado com RequestAddressType=com.docker.network.gateway, para o plugin nunca o dar a um contêiner.",
			"The gateway comes out of the pool too, marked RequestAddressType=com.docker.network.gateway, so the plugin never hands it to a container."),
		Shell: d.Shell("/IpamDriver.RequestAddress", areq),
		Do: func() error {
			a, err := d.RequestAddress(n.IPAMPoolID, gateway, areq.Options)
			if err != nil {
				return err
			}
			gw, err := pluginAddr(a)
			if err != nil || !n.Subnet().Contains(gw) {
				return errors.Join(fmt.Errorf("ipam plugin %s: RequestAddress: gateway %q is not in the pool %s", d.Name, a, n.Subnet()),
					d.ReleaseAddress(n.IPAMPoolID, a))
			}
			n.IPAM.Config[0].Gateway = gw.String()
			return nil
		},
		Undo:      func() error { return d.ReleaseAddress(n.IPAMPoolID, n.IPAM.Config[0].Gateway) },
		Evidence:  func() string { return n.Gateway().String() },
		UndoShell: d.Shell("/IpamDriver.ReleaseAddress", plugins.AddressRequest{PoolID: n.IPAMPoolID, Address: "$GATEWAY"}),
	}, undo)
}

// pluginAddr reads an address an IPAM plugin answered: CIDR (as the
// protocol says) or bare.
func pluginAddr(s string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		return p.Addr(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

// createNetworkStep tells the network plugin about the new network.
func createNetworkStep(d *plugins.NetworkDriver, n *Network) stepT {
	generic := map[string]string{}
	for k, v := range n.Options {
		generic[k] = v
	}
	req := &plugins.CreateNetworkRequest{
		NetworkID: n.ID,
		Options: map[string]interface{}{
			plugins.GenericOptions:           generic,
			"com.docker.network.enable_ipv6": false,
			"com.docker.network.internal":    n.Internal,
		},
		IPv4Data: []plugins.IPAMData{{AddressSpace: "LocalDefault", Pool: n.Subnet().String(),
			Gateway: netip.PrefixFrom(n.Gateway(), n.Subnet().Bits()).String()}},
	}
	return stepT{
		ID: StepPluginCreate, Chapter: explain.ChapterNetwork,
		Title: text("Pede ao plugin "+d.Name+" a rede "+n.Name, "Ask plugin "+d.Name+" for network "+n.Name),
		Why: text("Num driver remoto (um plugin de rede) quem faz bridges, túneis e regras é o plugin: o minirun passa o id da rede, as opções -o e o pool com o gateway, como o libnetwork faz.",
			"With a remote driver (a network plugin) the plugin makes the bridges, tunnels and rules: minirun hands it the network's id, the -o options and the pool with its gateway, as libnetwork does."),
		Shell:     d.Shell("/NetworkDriver.CreateNetwork", req),
		Do:        func() error { return d.CreateNetwork(req) },
		Undo:      func() error { return d.DeleteNetwork(n.ID) },
		UndoShell: d.Shell("/NetworkDriver.DeleteNetwork", map[string]string{"NetworkID": n.ID}),
	}
}

// pluginDriver finds and activates a network's driver plugin and checks
// that its networks are local: create calls it before anything else, so
// a missing or unfit driver costs no pool.
func pluginDriver(name string) (*plugins.NetworkDriver, error) {
	d, err := netDriver(name)
	if err != nil {
		return nil, err
	}
	if c, err := d.GetCapabilities(); err != nil {
		return nil, err
	} else if c.Scope != "local" {
		return nil, fmt.Errorf("network driver %s has scope %q: minirun has only local networks", name, c.Scope)
	}
	return d, nil
}

// createPluginNetwork is the part of create that belongs to a network
// plugin: the record first (so a crash after the plugin's work leaves
// something `network rm` can find), then CreateNetwork.
func (m *Manager) createPluginNetwork(d *plugins.NetworkDriver, n *Network, undo *cleanup.Stack) error {
	if err := m.tr.Do(m.stateStep(n), undo); err != nil {
		return err
	}
	return m.tr.Do(createNetworkStep(d, n), undo)
}

// removePlugins is the plugins' part of network rm, before the record
// goes: DeleteNetwork, then the gateway and the pool back to IPAM. A
// plugin that refuses stops the removal with the record kept, so `network
// rm` can be tried again once the plugin is fixed.
func (m *Manager) removePlugins(n *Network) error {
	if n.ByPlugin() {
		d, err := netDriver(n.Driver)
		if err != nil {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
		if err := m.tr.Do(stepT{
			ID: StepPluginDelete, Chapter: explain.ChapterNetwork,
			Title: text("Pede ao plugin "+d.Name+" que apague a rede "+n.Name, "Ask plugin "+d.Name+" to delete network "+n.Name),
			Why: text("O que o plugin fez para a rede (bridge, regras) é ele quem desfaz; o registro do minirun só sai se ele aceitar.",
				"What the plugin made for the network (bridge, rules) is the plugin's to undo; minirun's record goes only if it agrees."),
			Shell: d.Shell("/NetworkDriver.DeleteNetwork", map[string]string{"NetworkID": n.ID}),
			Do:    func() error { return d.DeleteNetwork(n.ID) },
		}, nil); err != nil {
			return err
		}
	}
	if n.ByIPAMPlugin() {
		d, err := ipamDriver(n.IPAM.Driver)
		if err != nil {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
		gw := n.Gateway().String()
		return m.tr.Do(stepT{
			ID: StepPluginPoolRelease, Chapter: explain.ChapterNetwork,
			Title: text("Devolve ao plugin "+d.Name+" o gateway e o pool "+n.Subnet().String(), "Give plugin "+d.Name+" back the gateway and pool "+n.Subnet().String()),
			Why: text("Primeiro o endereço do gateway, depois o pool: o plugin pode então dá-lo a outra rede.",
				"First the gateway's address, then the pool: the plugin may then give it to another network."),
			Shell: d.Shell("/IpamDriver.ReleaseAddress", plugins.AddressRequest{PoolID: n.IPAMPoolID, Address: gw}) + "\n" +
				d.Shell("/IpamDriver.ReleasePool", map[string]string{"PoolID": n.IPAMPoolID}),
			Do: func() error {
				if n.Gateway().IsValid() {
					if err := d.ReleaseAddress(n.IPAMPoolID, gw); err != nil {
						return err
					}
				}
				return d.ReleasePool(n.IPAMPoolID)
			},
		}, nil)
	}
	return nil
}

// reservePlugin is Reserve's part on a plugin's network: the address from
// the IPAM plugin (when it has one), then the driver's CreateEndpoint
// (when the driver is a plugin), each undone on undo.
func (m *Manager) reservePlugin(n *Network, ep *Endpoint, want netip.Addr, undo *cleanup.Stack) error {
	if n.ByIPAMPlugin() {
		d, err := ipamDriver(n.IPAM.Driver)
		if err != nil {
			return err
		}
		w := ""
		if want.IsValid() {
			w = want.String()
		}
		req := plugins.AddressRequest{PoolID: n.IPAMPoolID, Address: w}
		if err := m.tr.Do(stepT{
			ID: StepPluginAddress, Chapter: explain.ChapterNetwork,
			Title: text("Pede ao plugin "+d.Name+" um endereço para "+ep.Name, "Ask plugin "+d.Name+" for an address for "+ep.Name),
			Why: text("O IPAM é do plugin: ele escolhe o endereço no pool (ou confere o --ip) e o guarda até o ReleaseAddress.",
				"IPAM belongs to the plugin: it picks the address in the pool (or checks the --ip) and holds it until ReleaseAddress."),
			Shell: d.Shell("/IpamDriver.RequestAddress", req),
			Do: func() error {
				a, err := d.RequestAddress(n.IPAMPoolID, w, nil)
				if err != nil {
					return err
				}
				ip, err := pluginAddr(a)
				if err != nil || !n.Subnet().Contains(ip) || ip == n.Gateway() {
					return errors.Join(fmt.Errorf("ipam plugin %s: RequestAddress: %q is not a free address of %s", d.Name, a, n.Subnet()),
						d.ReleaseAddress(n.IPAMPoolID, a))
				}
				ep.IPv4Address = netip.PrefixFrom(ip, n.Subnet().Bits()).String()
				return nil
			},
			Undo:      func() error { return d.ReleaseAddress(n.IPAMPoolID, ep.IP().String()) },
			Evidence:  func() string { return ep.IPv4Address },
			UndoShell: d.Shell("/IpamDriver.ReleaseAddress", plugins.AddressRequest{PoolID: n.IPAMPoolID, Address: "$ADDRESS"}),
		}, undo); err != nil {
			return err
		}
	} else {
		ip, err := allocate(n, want)
		if err != nil {
			return err
		}
		ep.IPv4Address = netip.PrefixFrom(ip, n.Subnet().Bits()).String()
	}
	if !n.ByPlugin() {
		return nil
	}
	d, err := netDriver(n.Driver)
	if err != nil {
		return err
	}
	req := &plugins.CreateEndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID,
		Interface: &plugins.EndpointInterface{Address: ep.IPv4Address}, Options: map[string]interface{}{}}
	return m.tr.Do(stepT{
		ID: StepPluginEndpoint, Chapter: explain.ChapterNetwork,
		Title: text("Pede ao plugin "+d.Name+" um endpoint para "+ep.Name, "Ask plugin "+d.Name+" for an endpoint for "+ep.Name),
		Why: text("O endpoint é a ligação de um contêiner a uma rede (o modelo CNM do libnetwork): o plugin recebe o endereço que o IPAM deu e pode responder o MAC que quer.",
			"The endpoint is a container's attachment to a network (libnetwork's CNM model): the plugin gets the address IPAM gave and may answer the MAC it wants."),
		Shell: d.Shell("/NetworkDriver.CreateEndpoint", req),
		Do: func() error {
			// ORDER: the host's links are listed before the plugin can
			// make one, so Join's SrcName can be checked against them.
			links, err := hostLinks()
			if err != nil {
				return err
			}
			ep.hostLinks = links
			ifc, err := d.CreateEndpoint(req)
			if err != nil {
				return err
			}
			if ifc.MacAddress != "" {
				if _, err := net.ParseMAC(ifc.MacAddress); err != nil {
					return errors.Join(fmt.Errorf("network plugin %s: CreateEndpoint: bad MacAddress %q", d.Name, ifc.MacAddress), d.DeleteEndpoint(n.ID, ep.EndpointID))
				}
				ep.MacAddress = ifc.MacAddress
			}
			return nil
		},
		Undo:      func() error { return d.DeleteEndpoint(n.ID, ep.EndpointID) },
		UndoShell: d.Shell("/NetworkDriver.DeleteEndpoint", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID}),
	}, undo)
}

// attachPlugin is Attach on a plugin's network: Join, then the link it
// names moved in, its address and routes, then the way out.
func (m *Manager) attachPlugin(n *Network, ep *Endpoint, pid int, undo *cleanup.Stack) error {
	d, err := netDriver(n.Driver)
	if err != nil {
		return err
	}
	sandbox := fmt.Sprintf("/proc/%d/ns/net", pid)
	req := &plugins.JoinRequest{NetworkID: n.ID, EndpointID: ep.EndpointID, SandboxKey: sandbox, Options: map[string]interface{}{}}
	var j *plugins.JoinResponse
	if err := m.tr.Do(stepT{
		ID: StepPluginJoin, Chapter: explain.ChapterNetwork,
		Title: text("Pede ao plugin "+d.Name+" que ligue "+ep.Name+" à rede", "Ask plugin "+d.Name+" to join "+ep.Name+" to the network"),
		Why: text("O Join diz ao plugin qual é o namespace do contêiner (SandboxKey) e o plugin responde a interface que criou no host (SrcName), o prefixo do nome dela lá dentro, o gateway e rotas. Quem a põe lá dentro é o minirun, como o libnetwork.",
			"Join tells the plugin the container's namespace (SandboxKey) and the plugin answers the interface it made on the host (SrcName), the prefix of its name inside, the gateway and routes. minirun puts it inside, as libnetwork does."),
		Shell: d.Shell("/NetworkDriver.Join", req),
		Do: func() error {
			if ep.hostLinks == nil {
				// An endpoint Reserved by another process: the links
				// before Join are all there is to go by (a plugin that
				// made its link in CreateEndpoint is then refused).
				links, err := hostLinks()
				if err != nil {
					return err
				}
				ep.hostLinks = links
			}
			r, err := d.Join(req)
			j = r
			return err
		},
		Undo: func() error { return d.Leave(n.ID, ep.EndpointID) },
		Evidence: func() string {
			return fmt.Sprintf("SrcName %s, DstPrefix %s, Gateway %s", j.InterfaceName.SrcName, j.InterfaceName.DstPrefix, j.Gateway)
		},
		UndoShell: d.Shell("/NetworkDriver.Leave", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID}),
	}, undo); err != nil {
		return err
	}
	if m.tr.DryRun() {
		j = &plugins.JoinResponse{InterfaceName: &plugins.InterfaceName{SrcName: "$SRCNAME", DstPrefix: "eth"}}
	}
	var gw netip.Addr
	if j.Gateway != "" && !j.DisableGatewayService {
		if gw, err = pluginAddr(j.Gateway); err != nil {
			return fmt.Errorf("network plugin %s: Join: Gateway: %w", d.Name, err)
		}
	}
	routes, err := parseStaticRoutes(d.Name, j.StaticRoutes)
	if err != nil {
		return err
	}
	ifName := j.InterfaceName.DstPrefix + "0"
	hadDefault := false
	if !m.tr.DryRun() {
		if ifName, err = nextIfNameWith(pid, j.InterfaceName.DstPrefix); err != nil {
			return err
		}
		if err := inNS(pid, func(h *netlink.Handle) error { hadDefault, err = hasDefaultRoute(h); return err }); err != nil {
			return err
		}
	}
	plan := explain.Plan{
		pluginMoveStep(d.Name, pid, j.InterfaceName.SrcName, ifName, ep.MacAddress, ep.hostLinks),
		addrStep(pid, ifName, ep.Prefix()),
	}
	if gw.IsValid() {
		plan = append(plan, routeStep(pid, ifName, n.Driver, gw))
	}
	if len(routes) > 0 {
		plan = append(plan, staticRoutesStep(pid, ifName, routes))
	}
	if err := m.tr.Run(plan, undo); err != nil {
		return err
	}
	ep.IfName, ep.PluginIfName = ifName, j.InterfaceName.SrcName
	if gw.IsValid() {
		ep.Gateway = gw.String()
	}
	if !gw.IsValid() || hadDefault {
		return nil
	}
	// This endpoint holds the default route: libnetwork asks its driver
	// for the way out (NAT, published ports) — only this one.
	if err := m.tr.Do(stepT{
		ID: StepPluginExternal, Chapter: explain.ChapterNetwork,
		Title: text("Pede ao plugin "+d.Name+" a saída para fora do host", "Ask plugin "+d.Name+" for the way out of the host"),
		Why: text("O endpoint que tem a rota padrão é o que precisa de saída (NAT, portas): o libnetwork chama ProgramExternalConnectivity só para ele.",
			"The endpoint holding the default route is the one that needs a way out (NAT, ports): libnetwork calls ProgramExternalConnectivity for it only."),
		Shell: d.Shell("/NetworkDriver.ProgramExternalConnectivity", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID, Options: map[string]interface{}{}}),
		Do: func() error {
			if err := d.ProgramExternalConnectivity(n.ID, ep.EndpointID, nil); err != nil {
				return err
			}
			ep.External = true
			return nil
		},
		Undo:      func() error { ep.External = false; return d.RevokeExternalConnectivity(n.ID, ep.EndpointID) },
		UndoShell: d.Shell("/NetworkDriver.RevokeExternalConnectivity", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID}),
	}, undo); err != nil {
		return err
	}
	return nil
}

// route is one of Join's StaticRoutes, parsed.
type route struct {
	dst netip.Prefix
	via netip.Addr // invalid: connected
}

func (r route) String() string {
	if r.via.IsValid() {
		return r.dst.String() + " via " + r.via.String()
	}
	return r.dst.String()
}

func parseStaticRoutes(plugin string, rs []plugins.StaticRoute) ([]route, error) {
	var out []route
	for _, r := range rs {
		dst, err := netip.ParsePrefix(r.Destination)
		if err != nil || !dst.Addr().Is4() {
			return nil, fmt.Errorf("network plugin %s: Join: static route destination %q is not an IPv4 CIDR", plugin, r.Destination)
		}
		rt := route{dst: dst.Masked()}
		switch r.RouteType {
		case plugins.RouteConnected:
		case plugins.RouteNextHop:
			if rt.via, err = pluginAddr(r.NextHop); err != nil {
				return nil, fmt.Errorf("network plugin %s: Join: static route to %s: NextHop %w", plugin, r.Destination, err)
			}
		default:
			return nil, fmt.Errorf("network plugin %s: Join: static route to %s: unknown RouteType %d", plugin, r.Destination, r.RouteType)
		}
		out = append(out, rt)
	}
	return out, nil
}

// nextIfNameWith is nextIfName for any prefix: the first prefix+N the
// namespace does not have, as libnetwork numbers DstPrefix.
func nextIfNameWith(pid int, prefix string) (string, error) {
	if prefix == "" || len(prefix) > 12 || strings.ContainsAny(prefix, "/: \x00") {
		return "", fmt.Errorf("network plugin: DstPrefix %q is not a usable interface name prefix", prefix)
	}
	var name string
	err := inNS(pid, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		have := map[string]bool{}
		for _, l := range links {
			have[l.Attrs().Name] = true
		}
		for i := 0; i < 100; i++ {
			if n := prefix + strconv.Itoa(i); !have[n] {
				name = n
				return nil
			}
		}
		return errors.New("no free " + prefix + "N name")
	})
	return name, err
}

// hostLinks lists the links of the host's network namespace (this
// process's: see moveBack) by index, with their names.
func hostLinks() (map[int]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list the host's links: %w", err)
	}
	m := make(map[int]string, len(links))
	for _, l := range links {
		m[l.Attrs().Index] = l.Attrs().Name
	}
	return m, nil
}

// checkPluginLink refuses to move l, the link Join's SrcName names, into
// a container unless it looks like what the protocol says it is: an
// interface the plugin made for this endpoint (libnetwork's remote.md).
// libnetwork itself moves whatever SrcName names; minirun does not trust
// a plugin that far, since a hostile or buggy one answering
// {"SrcName": "eth0"} would take the host's uplink away (or a bridge, or
// another container's veth). So l must be new — its index was not on the
// host before CreateEndpoint (a rename keeps a link's index, and a new
// link gets an unused one: dev_index_reserve, or dev_new_index before
// Linux 6.6, in net/core/dev.c) — and must not be in use: not a bridge,
// not a port of one (it has no master), not up with an address (an IPv6
// link-local one aside, which the kernel gives any link that goes up).
func checkPluginLink(plugin string, l netlink.Link, before map[int]string) error {
	a := l.Attrs()
	refuse := func(why string) error {
		return fmt.Errorf("network plugin %s: Join: refusing to move link %s (index %d) into the container: %s", plugin, a.Name, a.Index, why)
	}
	if old, ok := before[a.Index]; ok {
		if old != a.Name {
			return refuse("it was on the host, as " + old + ", before the endpoint was created")
		}
		return refuse("it was on the host before the endpoint was created")
	}
	if l.Type() == "bridge" {
		return refuse("it is a bridge")
	}
	if a.MasterIndex != 0 {
		return refuse(fmt.Sprintf("it is a port of link index %d (it has a master)", a.MasterIndex))
	}
	if a.Flags&net.FlagUp != 0 {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("network plugin %s: Join: list the addresses of link %s: %w", plugin, a.Name, err)
		}
		for _, ad := range addrs {
			if !ad.IP.IsLinkLocalUnicast() || ad.IP.To4() != nil {
				return refuse("it is up with address " + ad.IPNet.String())
			}
		}
	}
	return nil
}

// pluginMoveStep moves the plugin's link into the container and renames
// it. Its undo is libnetwork's: the link goes back to the host under its
// old name, for the plugin to delete on Leave or DeleteEndpoint (if the
// namespace is gone, the kernel already deleted it). Before anything
// moves, checkPluginLink holds the link against before, the host's links
// before the plugin was asked for it.
func pluginMoveStep(plugin string, pid int, src, ifName, mac string, before map[int]string) stepT {
	macShell := ""
	if mac != "" {
		macShell = fmt.Sprintf(" address %s", mac)
	}
	return stepT{
		ID: StepPluginMove, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Move %s, do plugin, para o contêiner como %s", src, ifName), fmt.Sprintf("Move the plugin's %s into the container as %s", src, ifName)),
		Why: text("O plugin criou a interface no host; o runtime a move para o namespace do contêiner e lhe dá o nome DstPrefix mais o primeiro número livre, como o libnetwork faz. Renomear só é possível com ela desligada. Antes, o minirun confere que ela é nova: uma interface que o host já tinha antes do CreateEndpoint, uma bridge, uma porta de bridge ou uma interface ligada com endereço não sai do host.",
			"The plugin made the interface on the host; the runtime moves it into the container's namespace and names it DstPrefix plus the first free number, as libnetwork does. Renaming only works while it is down. First minirun checks that it is new: an interface the host had before CreateEndpoint, a bridge, a bridge's port or an interface up with an address does not leave the host."),
		Shell: fmt.Sprintf("ip link set %s netns $PID && nsenter -t $PID -n ip link set %s name %s%s", src, src, ifName, macShell),
		Do: func() error {
			l, err := netlink.LinkByName(src)
			if err != nil {
				return fmt.Errorf("the plugin's link %s: %w", src, err)
			}
			// ORDER: checked and moved by the same index (LinkSetNsFd
			// names the link by l's index), so a link renamed in between
			// is not the one that moves.
			if err := checkPluginLink(plugin, l, before); err != nil {
				return err
			}
			ns, err := nsFd(pid)
			if err != nil {
				return err
			}
			defer ns.Close()
			if err := netlink.LinkSetNsFd(l, int(ns)); err != nil {
				return fmt.Errorf("move %s to the namespace of pid %d: %w", src, pid, err)
			}
			// From here the link is in the container. A failure must
			// bring it back itself: the tracer registers Undo only for a
			// step whose Do succeeded, so nothing else would, and the
			// plugin's Leave and DeleteEndpoint look for it on the host.
			return inNS(pid, func(h *netlink.Handle) error {
				in, err := h.LinkByName(src)
				if err != nil {
					return fmt.Errorf("look up %s in the container: %w", src, err)
				}
				if err := renameWithMAC(h, in, ifName, mac); err != nil {
					// By index: after a rename refused because ifName is
					// taken, that name is another link of the container.
					return errors.Join(err, linkToHost(h, in.Attrs().Index, src))
				}
				return nil
			})
		},
		Undo:      func() error { return moveBack(pid, ifName, src) },
		UndoShell: fmt.Sprintf("nsenter -t $PID -n sh -c 'ip link set %s down && ip link set %s name %s && ip link set %s netns 1'", ifName, ifName, src, src),
	}
}

// renameWithMAC names the plugin's link l, just moved into the container
// (h's namespace), ifName and gives it the endpoint's MAC, if it has one.
// The link is still down, as the rename needs.
func renameWithMAC(h *netlink.Handle, l netlink.Link, ifName, mac string) error {
	src := l.Attrs().Name
	if err := h.LinkSetName(l, ifName); err != nil {
		return fmt.Errorf("rename %s to %s: %w", src, ifName, err)
	}
	if mac != "" {
		hw, _ := net.ParseMAC(mac)
		if err := h.LinkSetHardwareAddr(l, hw); err != nil {
			return fmt.Errorf("set %s's MAC %s: %w", ifName, mac, err)
		}
	}
	return nil
}

// moveBack returns the link ifName of pid's namespace to the host as src.
// A namespace or link that is gone is success.
func moveBack(pid int, ifName, src string) error {
	err := inNS(pid, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifName)
		if err != nil {
			if l, err = h.LinkByName(src); err != nil {
				return nil // neither name: gone
			}
		}
		return linkToHost(h, l.Attrs().Index, src)
	})
	if gone(err) {
		return nil
	}
	return err
}

// linkToHost takes the link with index idx in h's namespace down, names
// it src again and moves it to the host's namespace.
func linkToHost(h *netlink.Handle, idx int, src string) error {
	// The host's namespace is this process's own (minirun never setns(2)s
	// a thread; see link.go), not pid 1's, which a sandboxed minirun may
	// not be allowed to open.
	host, err := netns.Get()
	if err != nil {
		return fmt.Errorf("open this process's network namespace: %w", err)
	}
	defer host.Close()
	l, err := h.LinkByIndex(idx)
	if err != nil {
		return fmt.Errorf("look up %s (index %d) in the container: %w", src, idx, err)
	}
	h.LinkSetDown(l)
	if name := l.Attrs().Name; name != src {
		if err := h.LinkSetName(l, src); err != nil {
			return fmt.Errorf("rename %s back to %s: %w", name, src, err)
		}
	}
	if err := h.LinkSetNsFd(l, int(host)); err != nil {
		return fmt.Errorf("move %s back to the host: %w", src, err)
	}
	return nil
}

// staticRoutesStep adds Join's StaticRoutes in the container.
func staticRoutesStep(pid int, ifName string, routes []route) stepT {
	var txt, shell, undoShell []string
	for _, r := range routes {
		txt = append(txt, r.String())
		shell = append(shell, fmt.Sprintf("nsenter -t $PID -n ip route add %s dev %s", r, ifName))
		undoShell = append(undoShell, fmt.Sprintf("nsenter -t $PID -n ip route del %s dev %s", r, ifName))
	}
	nlRoute := func(h *netlink.Handle, r route) (*netlink.Route, error) {
		l, err := h.LinkByName(ifName)
		if err != nil {
			return nil, fmt.Errorf("look up %s in the container: %w", ifName, err)
		}
		nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: r.dst.Addr().AsSlice(), Mask: net.CIDRMask(r.dst.Bits(), 32)}}
		if r.via.IsValid() {
			nr.Gw = net.IP(r.via.AsSlice())
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		return nr, nil
	}
	added := 0
	return stepT{
		ID: StepPluginRoutes, Chapter: explain.ChapterNetwork,
		Title: text("Rotas do plugin: "+strings.Join(txt, ", "), "The plugin's routes: "+strings.Join(txt, ", ")),
		Why: text("Join pode pedir rotas além da padrão: para um próximo salto (RouteType 0) ou direto pela interface (RouteType 1).",
			"Join may ask for routes besides the default one: through a next hop (RouteType 0) or straight out of the interface (RouteType 1)."),
		Shell: strings.Join(shell, "\n"),
		Do: func() error {
			return inNS(pid, func(h *netlink.Handle) error {
				for _, r := range routes {
					nr, err := nlRoute(h, r)
					if err != nil {
						return err
					}
					if err := h.RouteAdd(nr); err != nil {
						return fmt.Errorf("add route %s: %w", r, err)
					}
					added++
				}
				return nil
			})
		},
		Undo: func() error {
			err := inNS(pid, func(h *netlink.Handle) error {
				for _, r := range routes[:added] {
					if nr, err := nlRoute(h, r); err == nil {
						if err := h.RouteDel(nr); err != nil && !gone(err) {
							return err
						}
					}
				}
				return nil
			})
			if gone(err) {
				return nil
			}
			return err
		},
		UndoShell: strings.Join(undoShell, "\n"),
	}
}

// detachPlugin is Detach's part on a plugin's network, in libnetwork's
// order: RevokeExternalConnectivity, the link back to the host, Leave,
// DeleteEndpoint, the address back to IPAM. Each done part is marked on
// ep, so a Detach that stopped half way (a plugin down) does only what is
// left when tried again.
func (m *Manager) detachPlugin(n *Network, ep *Endpoint) error {
	var d *plugins.NetworkDriver
	if n.ByPlugin() {
		var err error
		if d, err = netDriver(n.Driver); err != nil {
			return err
		}
		if ep.External {
			if err := m.tr.Do(stepT{
				ID: StepPluginRevoke, Chapter: explain.ChapterNetwork,
				Title: text("Pede ao plugin "+d.Name+" que retire a saída de "+ep.Name, "Ask plugin "+d.Name+" to revoke "+ep.Name+"'s way out"),
				Why: text("O contrário de ProgramExternalConnectivity: o NAT e as portas do contêiner saem antes de ele deixar a rede.",
					"The reverse of ProgramExternalConnectivity: the container's NAT and ports go before it leaves the network."),
				Shell: d.Shell("/NetworkDriver.RevokeExternalConnectivity", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID}),
				Do:    func() error { return d.RevokeExternalConnectivity(n.ID, ep.EndpointID) },
			}, nil); err != nil {
				return err
			}
			ep.External = false
		}
		if ep.Attached || ep.PluginIfName != "" {
			src, ifName, pid := ep.PluginIfName, ep.IfName, ep.Pid
			if err := m.tr.Do(stepT{
				ID: StepPluginLeave, Chapter: explain.ChapterNetwork,
				Title: text(ep.Name+" deixa a rede "+n.Name+" (Leave)", ep.Name+" leaves network "+n.Name+" (Leave)"),
				Why: text("A interface volta ao host com o nome que o plugin lhe deu (se o contêiner já terminou, o kernel a apagou com o namespace) e o plugin ouve o Leave.",
					"The interface goes back to the host under the name the plugin gave it (if the container has exited, the kernel deleted it with the namespace) and the plugin hears Leave."),
				Shell: fmt.Sprintf("nsenter -t %d -n sh -c 'ip link set %s down && ip link set %s name %s && ip link set %s netns 1'\n", pid, ifName, ifName, src, src) +
					d.Shell("/NetworkDriver.Leave", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID}),
				Do: func() error {
					if src != "" && pid > 0 && !stale(ep) {
						if err := moveBack(pid, ifName, src); err != nil {
							return err
						}
					}
					return d.Leave(n.ID, ep.EndpointID)
				},
			}, nil); err != nil {
				return err
			}
			ep.Attached, ep.PluginIfName = false, ""
		}
		if err := m.tr.Do(stepT{
			ID: StepPluginEndpointDel, Chapter: explain.ChapterNetwork,
			Title: text("Pede ao plugin "+d.Name+" que apague o endpoint de "+ep.Name, "Ask plugin "+d.Name+" to delete "+ep.Name+"'s endpoint"),
			Why: text("O endpoint acaba: o plugin apaga o que criou para ele (o par veth, por exemplo).",
				"The endpoint ends: the plugin deletes what it made for it (the veth pair, say)."),
			Shell: d.Shell("/NetworkDriver.DeleteEndpoint", plugins.EndpointRequest{NetworkID: n.ID, EndpointID: ep.EndpointID}),
			Do:    func() error { return d.DeleteEndpoint(n.ID, ep.EndpointID) },
		}, nil); err != nil {
			return err
		}
	}
	if n.ByIPAMPlugin() && ep.IPv4Address != "" {
		d, err := ipamDriver(n.IPAM.Driver)
		if err != nil {
			return err
		}
		addr := ep.IP().String()
		if err := m.tr.Do(stepT{
			ID: StepPluginAddrRelease, Chapter: explain.ChapterNetwork,
			Title: text("Devolve "+addr+" ao plugin "+d.Name, "Give "+addr+" back to plugin "+d.Name),
			Why: text("O endereço é do pool do plugin: só ele pode dá-lo de novo, e só depois do ReleaseAddress.",
				"The address belongs to the plugin's pool: only it can hand it out again, and only after ReleaseAddress."),
			Shell: d.Shell("/IpamDriver.ReleaseAddress", plugins.AddressRequest{PoolID: n.IPAMPoolID, Address: addr}),
			Do:    func() error { return d.ReleaseAddress(n.IPAMPoolID, addr) },
		}, nil); err != nil {
			return err
		}
	}
	return nil
}
