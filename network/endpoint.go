package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/crashpoint"
	"github.com/vishvananda/netlink"
)

// EndpointOpts are the per-network options of `run`/`network connect`:
// --ip, --network-alias (--alias) and, on the first network only, -p/-P.
type EndpointOpts struct {
	IP      string
	Aliases []string
	Ports   []PortMapping
}

var (
	validContainerID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{12,64}$`) })
	validAlias       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]*[a-zA-Z0-9])?$`) })
)

// Reserve claims a place on a network for a container that does not exist
// yet: the IPAM address (so /etc/hosts can be written into the bundle
// before the container starts) and the published host ports (checked free
// now, so `run -p` fails before anything is created). Nothing on the host
// changes; Attach does that once the container's namespace exists.
func (m *Manager) Reserve(netName, containerID, containerName string, o EndpointOpts) (_ *Endpoint, retErr error) {
	defer m.useDialed()() // after the rollback below, which may need the store
	if !validContainerID().MatchString(containerID) {
		return nil, fmt.Errorf("invalid container id %q: expected 12 to 64 hex digits", containerID)
	}
	if containerName == "" {
		containerName = short(containerID)
	}
	var want netip.Addr
	if o.IP != "" {
		a, err := netip.ParseAddr(o.IP)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("invalid --ip %q: expected an IPv4 address", o.IP)
		}
		want = a
	}
	for _, a := range o.Aliases {
		if !validAlias().MatchString(a) || len(a) > 253 {
			return nil, fmt.Errorf("invalid network alias %q: use letters, digits, '.', '-' and '_'", a)
		}
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	n, err := find(nets, netName)
	if err != nil {
		return nil, err
	}
	if old, ok := n.Containers[containerID]; ok {
		if !stale(old) || m.tr.DryRun() {
			return nil, fmt.Errorf("container %s is already connected to network %s", containerName, n.Name)
		}
		// The same container, started again after it died without a
		// Detach: its old endpoint goes first.
		if err := m.detach(n, old); err != nil {
			return nil, err
		}
		if nets, err = m.list(); err != nil {
			return nil, err
		}
		if n, err = find(nets, netName); err != nil {
			return nil, err
		}
	}
	var taken []PortMapping
	for _, other := range nets {
		for id, ep := range other.Containers {
			taken = append(taken, ep.Ports...)
			if id != containerID {
				continue
			}
			switch {
			case other.Driver == DriverHost || other.Driver == DriverNone:
				return nil, fmt.Errorf("container %s is on the %s network, which cannot be combined with network %s", containerName, other.Name, n.Name)
			case n.Driver == DriverHost || n.Driver == DriverNone:
				return nil, fmt.Errorf("container %s is already on network %s: the %s network cannot be combined with others", containerName, other.Name, n.Name)
			case len(ep.Ports) > 0 && len(o.Ports) > 0:
				return nil, fmt.Errorf("container %s already publishes ports on network %s", containerName, other.Name)
			}
		}
	}
	ep := &Endpoint{
		Name: containerName, EndpointID: newID(), ContainerID: containerID,
		NetworkID: n.ID, NetworkName: n.Name, Driver: n.Driver, Internal: n.Internal,
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	if isSublink(n.Driver) {
		if err := reserveSublink(n, ep, want, o); err != nil {
			return nil, err
		}
	} else if n.ByPlugin() {
		if len(o.Aliases) > 0 || len(o.Ports) > 0 {
			return nil, fmt.Errorf("--network-alias and -p do not apply to network %s: its plugin %s makes its links, and minirun runs no DNS or port mappings there", n.Name, n.Driver)
		}
		if err := m.reservePlugin(n, ep, want, &undo); err != nil {
			return nil, err
		}
		if gw := n.Gateway(); gw.IsValid() && !n.Internal {
			ep.Gateway = gw.String()
		}
	} else if !n.bridged() {
		if want.IsValid() || len(o.Aliases) > 0 || len(o.Ports) > 0 {
			return nil, fmt.Errorf("--ip, --network-alias and -p do not apply to the %s network", n.Name)
		}
	} else {
		if want.IsValid() && !n.HasDNS() {
			return nil, fmt.Errorf("user specified IP address is supported on user defined networks only")
		}
		if len(o.Aliases) > 0 && !n.HasDNS() {
			return nil, fmt.Errorf("network-scoped aliases are supported on user defined networks only")
		}
		if len(o.Ports) > 0 && n.Internal {
			return nil, fmt.Errorf("cannot publish ports on internal network %s: nothing reaches it from outside", n.Name)
		}
		if n.ByIPAMPlugin() {
			if err := m.reservePlugin(n, ep, want, &undo); err != nil {
				return nil, err
			}
		} else if n.Driver == DriverOverlay {
			if err := m.reserveOverlayIP(n, ep, want, &undo); err != nil {
				return nil, err
			}
		} else {
			ip, err := allocate(n, want)
			if err != nil {
				return nil, err
			}
			ep.IPv4Address = netip.PrefixFrom(ip, n.Subnet().Bits()).String()
		}
		ep.Aliases = append([]string(nil), o.Aliases...)
		if !n.Internal {
			ep.Gateway = n.Gateway().String()
		}
		if n.HasDNS() {
			ep.DNSServer = n.Gateway().String()
		}
		for _, p := range o.Ports {
			if p.HostPort == 0 {
				if m.tr.DryRun() {
					p.HostPort = 49153
				} else if p.HostPort, err = pickHostPort(p, taken); err != nil {
					return nil, err
				}
			} else if inUse(p, taken) {
				return nil, fmt.Errorf("bind for %s:%d/%s failed: %w (published by another container)", hostIPText(p.HostIP), p.HostPort, p.Proto, ErrPortInUse)
			} else if !m.tr.DryRun() {
				if err := probePort(p); err != nil {
					return nil, err
				}
			}
			taken = append(taken, p)
			ep.Ports = append(ep.Ports, p)
		}
	}
	// The record changes in memory first; the step writes it (and a dry
	// run, whose steps write nothing, keeps it in memory).
	n.Containers[ep.ContainerID] = ep
	if ip := ep.IP(); ip.IsValid() {
		n.LastIP = ip.String()
	}
	if err := m.tr.Do(m.ipamStep(n, ep), nil); err != nil {
		delete(n.Containers, ep.ContainerID)
		return nil, err
	}
	undo.Release()
	m.rehearse(n)
	cp := *ep
	return &cp, nil
}

func (m *Manager) ipamStep(n *Network, ep *Endpoint) stepT {
	addr := ep.IPv4Address
	if addr == "" {
		addr = "-"
	}
	return stepT{
		ID: StepIPAM, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Reserva %s na rede %s para %s", addr, n.Name, ep.Name),
			fmt.Sprintf("Reserve %s on network %s for %s", addr, n.Name, ep.Name)),
		Why: text("O IPAM (gestão de endereços) lê o JSON da rede, escolhe o próximo endereço livre depois do último dado e grava, tudo sob um flock: dois `minirun run` ao mesmo tempo nunca recebem o mesmo endereço. As portas publicadas são conferidas agora, antes de qualquer coisa ser criada.",
			"IPAM (address management) reads the network's JSON, picks the next free address after the last one handed out and writes it back, all under an flock: two `minirun run` at the same moment never get the same address. Published ports are checked now, before anything is created."),
		Shell: jqShell(m.dir, NetworkFile(m.dir, n.ID), fmt.Sprintf(`.Containers["%s"].IPv4Address = "%s"`, short(ep.ContainerID), addr)),
		Do:    func() error { return m.save(n) },
		Undo: func() error {
			delete(n.Containers, ep.ContainerID)
			return m.save(n)
		},
		Evidence: func() string {
			var ps []string
			for _, p := range ep.Ports {
				ps = append(ps, p.String())
			}
			return fmt.Sprintf("%s %s %s", ep.Name, addr, strings.Join(ps, " "))
		},
		UndoShell: jqShell(m.dir, NetworkFile(m.dir, n.ID), fmt.Sprintf(`del(.Containers["%s"])`, short(ep.ContainerID))),
	}
}

// load finds a network by id and the container's endpoint on it; the lock
// is held.
func (m *Manager) load(ep *Endpoint) (*Network, *Endpoint, error) {
	nets, err := m.list()
	if err != nil {
		return nil, nil, err
	}
	n, err := find(nets, ep.NetworkID)
	if err != nil {
		return nil, nil, err
	}
	return n, n.Containers[ep.ContainerID], nil
}

// Attach connects a reserved endpoint to the container whose init is pid
// (its network namespace exists, nothing runs in it yet): a veth pair
// from the bridge into the namespace, renamed ifName ("" picks the next
// free ethN), the IPAM address, the default route, the published ports'
// DNAT rules and the membership the DNS server reads. A failure at any
// step undoes the steps before it. On the host and none networks there is
// nothing to plug: the endpoint is only marked attached.
func (m *Manager) Attach(ep *Endpoint, pid int, ifName string) (retErr error) {
	defer m.useDialed()()
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, cur, err := m.load(ep)
	if err != nil {
		return err
	}
	if cur == nil {
		return fmt.Errorf("container %s has no address reserved on network %s: call Reserve first", ep.Name, n.Name)
	}
	if cur.Attached {
		return fmt.Errorf("container %s is already attached to network %s", cur.Name, n.Name)
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	var cl Cluster
	if n.Driver == DriverOverlay {
		// Before anything is made: without the store the endpoint could
		// not be announced, and nobody else could reach it.
		if cl, err = m.clusterFor(n); err != nil {
			return err
		}
	}
	if n.bridged() {
		if err := m.ensureUp(n, &undo, false); err != nil {
			return err
		}
		if ifName == "" {
			if m.tr.DryRun() {
				ifName = "eth0"
			} else if ifName, err = nextIfName(pid); err != nil {
				return err
			}
		}
		host := vethName(cur.ContainerID, ifName)
		// ORDER: the veth's names are recorded before the veth is made,
		// so that a Detach always knows what to delete: an Attach killed
		// between the two (a shim killed by `rm -f` while it creates the
		// container, with the network going in beside the init's start)
		// left a veth pair on the host that nothing removed.
		if !m.tr.DryRun() {
			cur.IfName, cur.HostIfName = ifName, host
			if err := m.save(n); err != nil {
				return err
			}
			undo.Add("forget the veth", func() error {
				cur.IfName, cur.HostIfName = "", ""
				return m.save(n)
			})
		}
		plan := attachPlan(n, cur, pid, ifName)
		if err := m.tr.Run(plan, &undo); err != nil {
			return err
		}
		cur.IfName, cur.HostIfName = ifName, host
	} else if isSublink(n.Driver) {
		if ifName == "" {
			if m.tr.DryRun() {
				ifName = "eth0"
			} else if ifName, err = nextIfName(pid); err != nil {
				return err
			}
		}
		if err := m.tr.Run(sublinkAttachPlan(n, cur, pid, ifName), &undo); err != nil {
			return err
		}
		cur.IfName = ifName
	}
	if n.ByPlugin() {
		cur.hostLinks = ep.hostLinks
		if err := m.attachPlugin(n, cur, pid, &undo); err != nil {
			return err
		}
	}
	if err := m.tr.Do(m.joinStep(n, cur, pid), &undo); err != nil {
		return err
	}
	if n.Driver == DriverOverlay {
		if err := m.tr.Do(publishStep(cl, n, cur), &undo); err != nil {
			return err
		}
		// The other hosts' endpoints, now that this host has the devices
		// (the first container here just made them).
		ctx, cancel := clusterCtx()
		err := m.syncPeers(ctx, cl, n)
		cancel()
		if err != nil {
			return err
		}
	}
	if m.tr.DryRun() {
		cur.Attached = true
	}
	m.rehearse(n)
	undo.Release()
	*ep = *cur
	return nil
}

// attachPlan is the order in which a container is plugged into a bridge
// network: the cable (veth), born with its other end inside the
// container, its host end into the switch (bridge), the address, the
// route, the published ports.
func attachPlan(n *Network, ep *Endpoint, pid int, ifName string) explain.Plan {
	host := vethName(ep.ContainerID, ifName)
	plan := explain.Plan{
		vethStep(host, pid, ifName, n.MTU(), ep.overlayMAC(n)),
		bridgePortStep(n, host),
		addrStep(pid, ifName, ep.Prefix()),
	}
	if !n.Internal {
		plan = append(plan, routeStep(pid, ifName, n.Driver, n.Gateway()))
	}
	if len(ep.Ports) > 0 {
		plan = append(plan, dnatStep(ep))
	}
	return plan
}

// overlayMAC is the MAC the container's interface gets: on an overlay,
// the one derived from its address (macFromIP), which the other hosts
// write in their tables; elsewhere nil, the kernel's random one.
func (ep *Endpoint) overlayMAC(n *Network) net.HardwareAddr {
	if n.Driver != DriverOverlay || !ep.IP().IsValid() {
		return nil
	}
	return macFromIP(ep.IP())
}

// vethStep makes the pair: host stays on the host, the other end is born
// in the network namespace of pid, already named ifName (eth0); mac, when
// set, is that end's MAC.
//
// ORDER: the container's end is created inside the namespace
// (IFLA_NET_NS_FD on the peer, rtnetlink(7); `ip link add … peer name eth0
// netns $PID`), not made on the host and moved there afterwards, as
// Docker's libnetwork does: moving a link out of a namespace waits for
// the kernel's synchronize_net() (dev_change_net_namespace in
// net/core/dev.c), an RCU grace period that cost about 20 ms per
// container on a 2-core VM, more than all the other network steps
// together. Born inside, it also needs no rename (a link is renamed only
// while down, and eth0 might already exist on the host).
func vethStep(host string, pid int, ifName string, mtu int, mac net.HardwareAddr) stepT {
	addr := ""
	if mac != nil {
		addr = " address " + mac.String()
	}
	return stepT{
		ID: StepVeth, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Cria o par veth %s ↔ %s, com %s já dentro do contêiner", host, ifName, ifName),
			fmt.Sprintf("Create the veth pair %s ↔ %s, with %s already inside the container", host, ifName, ifName)),
		Why: text("Um par veth é um cabo virtual: o que entra numa ponta sai na outra (veth(4)). Uma ponta fica no host, para ser plugada na bridge; a outra nasce direto no namespace de rede do contêiner, já com o nome "+ifName+". Uma interface pertence a um namespace por vez: a do contêiner não aparece no host. Criá-la lá dentro evita mudá-la de namespace depois, o que faz o kernel esperar um período de graça RCU (uns 20 ms por contêiner).",
			"A veth pair is a virtual cable: what goes in one end comes out of the other (veth(4)). One end stays on the host, to be plugged into the bridge; the other is born straight in the container's network namespace, already named "+ifName+". An interface belongs to one namespace at a time: the container's end does not show on the host. Making it in there saves moving it later, which makes the kernel wait for an RCU grace period (some 20 ms per container)."),
		Shell: fmt.Sprintf("ip link add %s%s type veth peer name %s%s%s netns $PID", host, mtuArg(mtu), ifName, mtuArg(mtu), addr),
		Do: func() error {
			ns, err := nsFd(pid)
			if err != nil {
				return err
			}
			defer ns.Close()
			la := netlink.NewLinkAttrs()
			la.Name = host
			v := &netlink.Veth{LinkAttrs: la, PeerName: ifName, PeerHardwareAddr: mac, PeerNamespace: netlink.NsFd(ns)}
			if mtu > 0 {
				v.MTU, v.PeerMTU = mtu, uint32(mtu)
			}
			if err := netlink.LinkAdd(v); err != nil {
				return fmt.Errorf("create veth %s ↔ %s in the namespace of pid %d: %w", host, ifName, pid, err)
			}
			crashpoint.At("attach-after-veth")
			return nil
		},
		Undo: func() error { return deleteLink(host) },
		Evidence: func() string {
			l, err := netlink.LinkByName(host)
			if err != nil {
				return err.Error()
			}
			var peer string
			if err := inNS(pid, func(h *netlink.Handle) error {
				p, err := h.LinkByName(ifName)
				if err == nil {
					peer = fmt.Sprintf("; nsenter -t %d -n ip link show %s → mac %s", pid, ifName, p.Attrs().HardwareAddr)
				}
				return err
			}); err != nil {
				peer = "; " + err.Error()
			}
			return fmt.Sprintf("ip link show %s → index %d, mac %s%s", host, l.Attrs().Index, l.Attrs().HardwareAddr, peer)
		},
		// Gone already when the container's namespace died: deleting one
		// end deletes both.
		UndoShell: fmt.Sprintf("ip link show %s >/dev/null 2>&1 && ip link del %s", host, host),
	}
}

func bridgePortStep(n *Network, host string) stepT {
	return stepT{
		ID: StepBridgePort, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Pluga %s na bridge %s", host, n.Bridge), fmt.Sprintf("Plug %s into bridge %s", host, n.Bridge)),
		Why: text("A ponta do host vira uma porta do switch virtual: a bridge passa a aprender o MAC do contêiner por ela e a entregar-lhe os quadros.",
			"The host's end becomes a port of the virtual switch: the bridge learns the container's MAC through it and delivers its frames there."),
		Shell: fmt.Sprintf("ip link set %s master %s up   # brctl addif %s %s", host, n.Bridge, n.Bridge, host),
		Do: func() error {
			l, err := netlink.LinkByName(host)
			if err != nil {
				return fmt.Errorf("look up %s: %w", host, err)
			}
			br, err := netlink.LinkByName(n.Bridge)
			if err != nil {
				return fmt.Errorf("look up bridge %s: %w", n.Bridge, err)
			}
			if err := netlink.LinkSetMaster(l, br); err != nil {
				return fmt.Errorf("plug %s into %s: %w", host, n.Bridge, err)
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return fmt.Errorf("set %s up: %w", host, err)
			}
			return nil
		},
		Undo: func() error {
			l, err := netlink.LinkByName(host)
			if gone(err) {
				return nil
			}
			if err := netlink.LinkSetNoMaster(l); err != nil && !gone(err) {
				return fmt.Errorf("unplug %s: %w", host, err)
			}
			return nil
		},
		Evidence: func() string {
			l, err := netlink.LinkByName(host)
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("ip link show master %s → %s (master index %d)", n.Bridge, host, l.Attrs().MasterIndex)
		},
		UndoShell: fmt.Sprintf("ip link show %s >/dev/null 2>&1 && ip link set %s nomaster", host, host),
	}
}

func moveLinkStep(pid int, peer, ifName string) stepT {
	return stepT{
		ID: StepMoveLink, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Move %s para o namespace do contêiner como %s", peer, ifName), fmt.Sprintf("Move %s into the container's namespace as %s", peer, ifName)),
		Why: text("Uma interface pertence a um namespace de rede por vez: movida, ela some do host e aparece no contêiner, que só a conhece como "+ifName+". O nome só pode mudar com a interface desligada, por isso a troca vem antes de ligá-la.",
			"An interface belongs to one network namespace at a time: once moved it vanishes from the host and appears in the container, which only knows it as "+ifName+". The name can only change while the link is down, so the rename comes before bringing it up."),
		Shell: fmt.Sprintf("ip link set %s netns $PID && nsenter -t $PID -n ip link set %s name %s", peer, peer, ifName),
		Do: func() error {
			l, err := netlink.LinkByName(peer)
			if err != nil {
				return fmt.Errorf("look up %s: %w", peer, err)
			}
			ns, err := nsFd(pid)
			if err != nil {
				return err
			}
			defer ns.Close()
			if err := netlink.LinkSetNsFd(l, int(ns)); err != nil {
				return fmt.Errorf("move %s to the namespace of pid %d: %w", peer, pid, err)
			}
			return inNS(pid, func(h *netlink.Handle) error {
				l, err := h.LinkByName(peer)
				if err != nil {
					return fmt.Errorf("look up %s in the container: %w", peer, err)
				}
				if err := h.LinkSetName(l, ifName); err != nil {
					return fmt.Errorf("rename %s to %s: %w", peer, ifName, err)
				}
				return nil
			})
		},
		Undo: func() error {
			err := inNS(pid, func(h *netlink.Handle) error {
				for _, name := range []string{ifName, peer} {
					l, err := h.LinkByName(name)
					if err != nil {
						continue
					}
					// The container's end of a veth pair, or its
					// macvlan/ipvlan child: both were made for it.
					if t := l.Type(); t == "veth" || t == DriverMacvlan || t == DriverIPvlan {
						if err := h.LinkDel(l); err != nil && !gone(err) {
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
		Evidence: func() string {
			var s string
			inNS(pid, func(h *netlink.Handle) error {
				l, err := h.LinkByName(ifName)
				if err == nil {
					s = fmt.Sprintf("nsenter -t %d -n ip link show %s → mac %s", pid, ifName, l.Attrs().HardwareAddr)
				}
				return nil
			})
			return s
		},
		UndoShell: fmt.Sprintf("nsenter -t $PID -n ip link del %s", ifName),
	}
}

func addrStep(pid int, ifName string, p netip.Prefix) stepT {
	return stepT{
		ID: StepAddr, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Dá o endereço %s a %s e a liga", p, ifName), fmt.Sprintf("Give %s the address %s and bring it up", ifName, p)),
		Why: text("O endereço vem do IPAM; a máscara faz o kernel criar a rota da sub-rede, pela qual o contêiner fala direto com os vizinhos da bridge, sem passar pelo gateway.",
			"The address comes from IPAM; the mask makes the kernel add the subnet's route, through which the container talks straight to its bridge neighbours, without the gateway."),
		Shell: fmt.Sprintf("nsenter -t $PID -n sh -c 'ip addr add %s dev %s && ip link set %s up'", p, ifName, ifName),
		Do: func() error {
			return inNS(pid, func(h *netlink.Handle) error {
				l, err := h.LinkByName(ifName)
				if err != nil {
					return fmt.Errorf("look up %s in the container: %w", ifName, err)
				}
				if err := h.AddrAdd(l, nlAddr(p)); err != nil {
					return fmt.Errorf("add address %s to %s: %w", p, ifName, err)
				}
				if err := h.LinkSetUp(l); err != nil {
					return fmt.Errorf("set %s up: %w", ifName, err)
				}
				return nil
			})
		},
		Undo: func() error {
			err := inNS(pid, func(h *netlink.Handle) error {
				l, err := h.LinkByName(ifName)
				if err != nil {
					return nil
				}
				if err := h.AddrDel(l, nlAddr(p)); err != nil && !gone(err) {
					return err
				}
				return nil
			})
			if gone(err) {
				return nil
			}
			return err
		},
		Evidence: func() string {
			var s string
			inNS(pid, func(h *netlink.Handle) error {
				rs, err := h.RouteList(nil, netlink.FAMILY_V4)
				if err != nil {
					return nil
				}
				var b []string
				for _, r := range rs {
					if r.Dst != nil {
						b = append(b, r.Dst.String())
					}
				}
				s = fmt.Sprintf("nsenter -t %d -n ip route → %s dev %s", pid, strings.Join(b, ", "), ifName)
				return nil
			})
			return s
		},
		UndoShell: fmt.Sprintf("nsenter -t $PID -n ip addr del %s dev %s", p, ifName),
	}
}

// routeStep is the container's default route. With a gateway gw it goes
// via gw: the host on a bridge (and whatever a network plugin's Join
// names); a router of the parent's LAN on macvlan and ipvlan l2, where
// minirun neither forwards nor NATs. Without one (the zero Addr: ipvlan
// l3, as Docker sets it) it only leaves through the container's own link,
// and the parent, in the host's namespace, routes. driver picks the text.
func routeStep(pid int, ifName, driver string, gw netip.Addr) stepT {
	st := stepT{
		ID: StepRoute, Chapter: explain.ChapterNetwork,
		Title: text("Rota padrão via "+gw.String(), "Default route via "+gw.String()),
		Why: text("Tudo o que não é da sub-rede vai para o gateway, o host, que encaminha (ip_forward) e faz o NAT. Um contêiner em duas redes fica com a rota padrão da primeira.",
			"Everything outside the subnet goes to the gateway, the host, which forwards it (ip_forward) and NATs it. A container on two networks keeps its first network's default route."),
	}
	route := func(link int) *netlink.Route {
		return &netlink.Route{LinkIndex: link, Gw: net.IP(gw.AsSlice())}
	}
	what := "via " + gw.String() // in the errors
	spec := fmt.Sprintf("default via %s dev %s", gw, ifName)
	switch {
	case !gw.IsValid():
		st.ID = StepRouteDev
		st.Title = text("Rota padrão pela própria "+ifName, "Default route out of "+ifName)
		st.Why = text("Em ipvlan l3 não há gateway na sub-rede: o pai, no namespace do host, roteia tudo o que sai do filho. A rota padrão só diz \"saia por "+ifName+"\".",
			"In ipvlan l3 there is no gateway on the subnet: the parent, in the host's namespace, routes whatever leaves the child. The default route only says \"leave through "+ifName+"\".")
		route = func(link int) *netlink.Route {
			return &netlink.Route{LinkIndex: link, Scope: netlink.SCOPE_LINK}
		}
		what = "dev " + ifName
		spec = "default dev " + ifName
	case isSublink(driver):
		st.Why = text("Tudo o que não é da sub-rede vai para o gateway, um roteador da LAN do pai (o --gateway, ou o primeiro endereço da sub-rede), não o host: sem NAT e sem ip_forward, o contêiner sai com o próprio endereço e o roteador o leva adiante. Um contêiner em duas redes fica com a rota padrão da primeira.",
			"Everything outside the subnet goes to the gateway, a router on the parent's LAN (--gateway, or the subnet's first address), not the host: with no NAT and no ip_forward, the container goes out with its own address and the router carries it on. A container on two networks keeps its first network's default route.")
	}
	added := false
	st.Shell = "nsenter -t $PID -n ip route add " + spec
	st.UndoShell = "nsenter -t $PID -n ip route del " + spec
	st.Do = func() error {
		return inNS(pid, func(h *netlink.Handle) error {
			has, err := hasDefaultRoute(h)
			if err != nil || has {
				return err
			}
			l, err := h.LinkByName(ifName)
			if err != nil {
				return fmt.Errorf("look up %s in the container: %w", ifName, err)
			}
			if err := h.RouteAdd(route(l.Attrs().Index)); err != nil {
				return fmt.Errorf("add default route %s: %w", what, err)
			}
			added = true
			return nil
		})
	}
	st.Undo = func() error {
		if !added {
			return nil
		}
		err := inNS(pid, func(h *netlink.Handle) error {
			l, err := h.LinkByName(ifName)
			if err != nil {
				return nil
			}
			if err := h.RouteDel(route(l.Attrs().Index)); err != nil && !gone(err) {
				return err
			}
			return nil
		})
		if gone(err) {
			return nil
		}
		return err
	}
	return st
}

func dnatStep(ep *Endpoint) stepT {
	rules := portRules(ep)
	var ps []string
	for _, p := range ep.Ports {
		ps = append(ps, p.String())
	}
	tag := tagOf(ep.ContainerID)
	return stepT{
		ID: StepDNAT, Chapter: explain.ChapterNetwork,
		Title: text("Publica "+strings.Join(ps, ", ")+" (DNAT)", "Publish "+strings.Join(ps, ", ")+" (DNAT)"),
		Why: text("Um pacote endereçado ao host nessa porta tem o destino trocado pelo do contêiner antes do roteamento: vale para quem vem de fora (prerouting) e para programas do próprio host, inclusive em localhost (output). O conntrack desfaz a troca nas respostas.",
			"A packet addressed to the host on that port gets the container as its new destination before routing: for clients outside (prerouting) and for programs on the host itself, localhost included (output). Conntrack undoes the swap on replies."),
		Shell:        shellRules(rules),
		Do:           func() error { return addRules(rules) },
		Undo:         func() error { return deleteTagged(tableName, []string{chainPorts}, tag) },
		EvidenceText: func() explain.Text { return listRules(tableName, []string{chainPorts}, tag) },
		UndoShell:    deleteTaggedShell(tableName, []string{chainPorts}, tag),
	}
}

func (m *Manager) joinStep(n *Network, ep *Endpoint, pid int) stepT {
	return stepT{
		ID: StepJoin, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Registra %s como membro da rede %s", ep.Name, n.Name), fmt.Sprintf("Record %s as a member of network %s", ep.Name, n.Name)),
		Why: text("Gravado no JSON da rede, o contêiner aparece em `network inspect` e, numa rede criada pelo usuário, o servidor DNS passa a responder o seu nome, o id curto e os aliases.",
			"Written to the network's JSON, the container shows in `network inspect` and, on a user-defined network, the DNS server starts answering its name, short id and aliases."),
		Shell: jqShell(m.dir, NetworkFile(m.dir, n.ID), fmt.Sprintf(`.Containers["%s"].Attached = true`, short(ep.ContainerID))),
		Do: func() error {
			ep.Attached, ep.Pid = true, pid
			if st, err := procStat(pid); err == nil {
				ep.PidStart = st.start
			}
			if ep.IfName != "" {
				inNS(pid, func(h *netlink.Handle) error {
					if l, err := h.LinkByName(ep.IfName); err == nil {
						ep.MacAddress = l.Attrs().HardwareAddr.String()
					}
					return nil
				})
			}
			return m.save(n)
		},
		Undo: func() error {
			ep.Attached, ep.Pid, ep.PidStart = false, 0, 0
			return m.save(n)
		},
		UndoShell: jqShell(m.dir, NetworkFile(m.dir, n.ID), fmt.Sprintf(`.Containers["%s"].Attached = false`, short(ep.ContainerID))),
	}
}

// Detach undoes Attach and Reserve: the published ports' DNAT rules, the
// veth pair (deleting the host's end deletes the container's), and the
// IPAM address, which goes back to the pool. It is idempotent: an
// endpoint, network, link or rule that is already gone is success. If a
// step fails the endpoint stays recorded, so that a second Detach can
// finish the job instead of leaking a rule.
func (m *Manager) Detach(ep *Endpoint) error {
	defer m.useDialed()()
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, cur, err := m.load(ep)
	if errors.Is(err, ErrNotFound) || (err == nil && cur == nil) {
		return nil
	}
	if err != nil {
		return err
	}
	return m.detach(n, cur)
}

func (m *Manager) detach(n *Network, cur *Endpoint) error {
	var errs []error
	if len(cur.Ports) > 0 {
		errs = append(errs, m.tr.Do(dnatDeleteStep(cur), nil))
	}
	if cur.HostIfName != "" {
		errs = append(errs, m.tr.Do(vethDeleteStep(cur), nil))
	}
	if isSublink(n.Driver) && cur.IfName != "" {
		errs = append(errs, m.tr.Do(sublinkDeleteStep(cur), nil))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if n.Driver == DriverOverlay {
		// The veth is gone: the cluster forgets the endpoint. Should the
		// store be unreachable, the endpoint stays recorded here and the
		// next Detach finishes.
		if err := m.detachOverlay(n, cur); err != nil {
			cur.HostIfName = "" // deleted above
			return errors.Join(err, m.save(n))
		}
	}
	if n.ByPlugin() || n.ByIPAMPlugin() {
		if err := m.detachPlugin(n, cur); err != nil {
			// What was done is marked on the endpoint: keep it, so the
			// next Detach (the plugin back) does only the rest.
			return errors.Join(err, m.save(n))
		}
	}
	delete(n.Containers, cur.ContainerID)
	if err := m.tr.Do(m.releaseStep(n, cur), nil); err != nil {
		return err
	}
	m.rehearse(n)
	return nil
}

func dnatDeleteStep(ep *Endpoint) stepT {
	tag := tagOf(ep.ContainerID)
	return stepT{
		ID: StepDNATDelete, Chapter: explain.ChapterNetwork,
		Title: text("Remove as regras DNAT de "+ep.Name, "Remove "+ep.Name+"'s DNAT rules"),
		Why: text("As regras das portas publicadas levam o comentário "+tag+"; saem exatamente essas, e a porta do host fica livre de novo.",
			"The published ports' rules carry the comment "+tag+"; exactly those go, and the host port is free again."),
		Shell: deleteTaggedShell(tableName, []string{chainPorts}, tag),
		Do:    func() error { return deleteTagged(tableName, []string{chainPorts}, tag) },
	}
}

func vethDeleteStep(ep *Endpoint) stepT {
	return stepT{
		ID: StepVethDelete, Chapter: explain.ChapterNetwork,
		Title: text("Apaga o par veth "+ep.HostIfName, "Delete the veth pair "+ep.HostIfName),
		Why: text("Apagar uma ponta apaga a outra, esteja onde estiver. Se o contêiner já terminou, o kernel já apagou o par junto com o namespace, e não há nada a fazer.",
			"Deleting one end deletes the other, wherever it is. If the container has already exited, the kernel deleted the pair with its namespace and there is nothing to do."),
		Shell: "ip link del " + ep.HostIfName,
		Do:    func() error { return deleteLink(ep.HostIfName) },
	}
}

func (m *Manager) releaseStep(n *Network, ep *Endpoint) stepT {
	return stepT{
		ID: StepIPAMRelease, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Devolve %s da rede %s", orDash(ep.IPv4Address), n.Name), fmt.Sprintf("Release %s on network %s", orDash(ep.IPv4Address), n.Name)),
		Why: text("Sem o registro do contêiner no JSON da rede, o endereço volta ao IPAM e o DNS para de responder o nome.",
			"Without the container's record in the network's JSON, the address goes back to IPAM and DNS stops answering the name."),
		Shell: jqShell(m.dir, NetworkFile(m.dir, n.ID), fmt.Sprintf(`del(.Containers["%s"])`, short(ep.ContainerID))),
		Do: func() error {
			if n.Predefined() && n.Driver != DriverBridge && len(n.Containers) == 0 {
				return removeAllQuiet(m.netDir(n.ID))
			}
			return m.save(n)
		},
	}
}

// stale reports whether an attached endpoint's container is gone: its
// init's pid no longer exists, is a zombie, or belongs to a process
// started at another time. Its network namespace, and with it the
// container's end of the veth pair, died with it. An endpoint that is only
// reserved is never stale: its container may be being created right now.
func stale(ep *Endpoint) bool {
	if !ep.Attached || ep.Pid <= 0 {
		return false
	}
	st, err := procStat(ep.Pid)
	return err != nil || st.state == 'Z' || (ep.PidStart != 0 && st.start != ep.PidStart)
}

// reapStale detaches the network's endpoints whose containers died
// without a Detach; the lock is held.
func (m *Manager) reapStale(n *Network) error {
	var errs []error
	for _, ep := range n.Endpoints() {
		if stale(ep) {
			errs = append(errs, m.detach(n, ep))
		}
	}
	return errors.Join(errs...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Endpoints returns a container's endpoints on every network, ordered by
// interface (eth0 first), for inspect, `port` and rm.
func (m *Manager) Endpoints(containerID string) ([]*Endpoint, error) {
	nets, err := m.List()
	if err != nil {
		return nil, err
	}
	var out []*Endpoint
	for _, n := range nets {
		if ep, ok := n.Containers[containerID]; ok {
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IfName != out[j].IfName {
			return out[i].IfName < out[j].IfName
		}
		return out[i].NetworkName < out[j].NetworkName
	})
	return out, nil
}

// Connect is `network connect` on a running container: Reserve and Attach
// in one go, the new interface named after the container's last one
// (eth1 after eth0), undone if Attach fails.
func (m *Manager) Connect(netName, containerID, containerName string, pid int, o EndpointOpts) (*Endpoint, error) {
	ep, err := m.Reserve(netName, containerID, containerName, o)
	if err != nil {
		return nil, err
	}
	if err := m.Attach(ep, pid, ""); err != nil {
		return nil, errors.Join(err, m.Detach(ep))
	}
	return ep, nil
}

// Disconnect is `network disconnect`: the container's endpoint on the
// network is detached while the container keeps running.
func (m *Manager) Disconnect(netName, containerID string) error {
	n, err := m.Get(netName)
	if err != nil {
		return err
	}
	ep, ok := n.Containers[containerID]
	if !ok {
		return fmt.Errorf("container %s is not connected to network %s", short(containerID), n.Name)
	}
	return m.Detach(ep)
}
