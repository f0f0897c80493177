package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// What macvlan and ipvlan share: a parent link on the host, a child link
// per container made on the parent and moved into the container's network
// namespace, addresses from minirun's IPAM, and nothing else — no bridge,
// no veth, no NAT, no firewall rules, no DNS server, as in Docker.
// macvlan.go and ipvlan.go hold what differs.

// OptParent is Docker's -o parent: the host link the containers hang off.
// NAME.VID (eth0.10) names an 802.1Q VLAN sub-interface of NAME, which the
// network creates when it does not exist and deletes with the network.
const OptParent = "parent"

// Step ids of the macvlan and ipvlan drivers (anchors in docs/network.md).
const (
	StepDriverCheck   = "network-driver-check"
	StepParent        = "network-parent"
	StepSublink       = "network-sublink"
	StepRouteDev      = "network-route-dev"
	StepSublinkDelete = "network-sublink-delete"
	StepParentDelete  = "network-parent-delete"
)

// isSublink reports whether the driver gives containers a child link of
// a host NIC (macvlan, ipvlan).
func isSublink(driver string) bool { return driver == DriverMacvlan || driver == DriverIPvlan }

// dummyParent is the parent Docker makes when -o parent is not given: a
// dummy link named after the network ("dm-<id12>" in Docker; minirun's
// links start with mr), and the network is then internal.
func dummyParent(id string) string { return "mrdm-" + id[:10] }

// createSublink is Create for macvlan and ipvlan: Docker's checks, in
// Docker's order (moby libnetwork drivers/macvlan/macvlan_network.go,
// CreateNetwork), then the kernel's driver, then the steps.
func (m *Manager) createSublink(o CreateOpts) (n *Network, retErr error) {
	opts := map[string]string{}
	for k, v := range o.Options {
		switch {
		case k == OptParent:
		case k == OptMacvlanMode && o.Driver == DriverMacvlan:
		case (k == OptIPvlanMode || k == OptIPvlanFlag) && o.Driver == DriverIPvlan:
		default:
			known := OptParent + ", " + OptMacvlanMode
			if o.Driver == DriverIPvlan {
				known = OptParent + ", " + OptIPvlanMode + ", " + OptIPvlanFlag
			}
			return nil, fmt.Errorf("unknown %s network option %q: the %s driver takes %s", o.Driver, k, o.Driver, known)
		}
		opts[k] = v
	}
	var err error
	if o.Driver == DriverMacvlan {
		if opts[OptMacvlanMode], err = macvlanMode(opts[OptMacvlanMode]); err != nil {
			return nil, err
		}
	} else {
		if opts[OptIPvlanMode], err = ipvlanMode(opts[OptIPvlanMode]); err != nil {
			return nil, err
		}
		if opts[OptIPvlanFlag], err = ipvlanFlag(opts[OptIPvlanFlag]); err != nil {
			return nil, err
		}
	}
	parent := opts[OptParent]
	if parent == "lo" {
		return nil, fmt.Errorf("loopback interface is not a valid %s parent link", o.Driver)
	}
	if len(parent) > 15 || strings.ContainsAny(parent, "/ :") {
		return nil, fmt.Errorf("invalid -o parent %q: a link name has at most 15 characters and no '/', ':' or space", parent)
	}
	subnet, nets, unlock, err := m.beginCreate(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if subnet.IsValid() {
		// A macvlan network usually IS the parent's LAN, whose route the
		// host has: only other networks count, as in Docker's IPAM.
		for _, other := range nets {
			if s := other.Subnet(); s.IsValid() && s.Overlaps(subnet) {
				return nil, fmt.Errorf("Pool overlaps with other one on this address space: subnet %s overlaps network %s (%s)", subnet, other.Name, s)
			}
		}
	} else {
		var routes []hostRoute
		if !m.tr.DryRun() {
			if routes, err = hostRoutes(); err != nil {
				return nil, err
			}
		}
		if subnet, err = chooseSubnet(m.Pool, m.PoolBits, nets, routes); err != nil {
			return nil, err
		}
	}
	gw, err := parseGateway(o.Gateway, subnet)
	if err != nil {
		return nil, err
	}
	id := newID()
	n = &Network{
		Name: o.Name, ID: id, Created: time.Now().UTC(), Scope: "local", Driver: o.Driver,
		Internal: o.Internal, Options: opts, Containers: map[string]*Endpoint{},
		IPAM: IPAM{Driver: "default", Config: []IPAMConfig{{Subnet: subnet.String(), Gateway: gw.String()}}},
	}
	if parent == "" {
		// Docker: "if parent interface not specified, create a dummy type
		// link to use named dummy+net_id"; empty parent and --internal are
		// handled the same.
		parent = dummyParent(id)
		n.Options[OptParent], n.Internal = parent, true
	}
	for _, other := range nets {
		if !isSublink(other.Driver) || other.Options[OptParent] != parent {
			continue
		}
		if other.Driver != o.Driver {
			// Docker's drivers each see only their own networks; the
			// kernel refuses the mix (macvlan_port_create and
			// ipvlan_port_create answer EBUSY), but only at the first
			// container. Say it now.
			return nil, fmt.Errorf("parent %s is already used by %s network %s: a link cannot have both macvlan and ipvlan children", parent, other.Driver, other.Name)
		}
		if o.Driver == DriverIPvlan {
			return nil, ipvlanShare(other)
		}
		if err := macvlanShare(n, other); err != nil {
			return nil, err
		}
	}
	// The kernel's driver first: on a kernel without it nothing is made.
	if err := m.tr.Do(driverCheckStep(o.Driver), nil); err != nil {
		return nil, err
	}
	mk, err := parentStep(n, parent)
	if err != nil {
		return nil, err
	}
	n.CreatedParent = mk.ID != ""
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
			n = nil
		}
	}()
	// Recorded before the parent is made, with CreatedParent set: a
	// create killed in between leaves a record whose `network rm`
	// deletes the parent, never a parent that nothing names.
	if err := m.tr.Do(m.stateStep(n), &undo); err != nil {
		return nil, err
	}
	m.rehearse(n)
	if mk.ID != "" {
		if err := m.tr.Do(mk, &undo); err != nil {
			return nil, err
		}
	}
	undo.Release()
	return n, nil
}

// probeKind asks the kernel whether it has the link type kind, changing
// nothing: an RTM_NEWLINK of that kind whose parent is lo. A kernel with
// the driver (built in, or a module rtnetlink loads through request_module
// "rtnl-link-KIND") refuses lo as a parent, EINVAL ("Master is either lo
// or non-ether device"), before it makes anything; a kernel without it
// answers EOPNOTSUPP ("Unknown device type" in ip(8)).
func probeKind(kind string) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("look up lo: %w", err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex = "mrprobe"+hex.EncodeToString(b), lo.Attrs().Index
	var l netlink.Link = &netlink.Macvlan{LinkAttrs: la, Mode: netlink.MACVLAN_MODE_BRIDGE}
	if kind == DriverIPvlan {
		l = &netlink.IPVlan{LinkAttrs: la}
	}
	err = netlink.LinkAdd(l)
	switch {
	case err == nil:
		// No kernel takes lo as a parent; should one, the link goes.
		return deleteLink(la.Name)
	case errors.Is(err, unix.EINVAL):
		return nil
	case errors.Is(err, unix.EOPNOTSUPP):
		return noDriver(kind, strings.ToUpper(kind))
	}
	return fmt.Errorf("ask the kernel for the %s driver: %w", kind, err)
}

// noDriver says that the kernel lacks a link type, and which option of
// the kernel's configuration would give it.
func noDriver(kind, config string) error {
	var u unix.Utsname
	unix.Uname(&u)
	return fmt.Errorf("this kernel (%s) has no %s driver (CONFIG_%s not built in, no module to load)",
		unix.ByteSliceToString(u.Release[:]), kind, config)
}

func driverCheckStep(kind string) stepT {
	return stepT{
		ID: StepDriverCheck, Chapter: explain.ChapterNetwork,
		Title: text("Confere se o kernel tem o driver "+kind, "Check that the kernel has the "+kind+" driver"),
		Why: text("O "+kind+" é um tipo de link do kernel (CONFIG_"+strings.ToUpper(kind)+", em geral um módulo que o rtnetlink carrega sozinho no primeiro uso). Sem ele nenhum contêiner teria rede: melhor recusar agora, antes de criar qualquer coisa.",
			kind+" is a kernel link type (CONFIG_"+strings.ToUpper(kind)+", usually a module rtnetlink loads by itself on first use). Without it no container would get a network: better refuse now, before anything is made."),
		Shell: fmt.Sprintf("ip link add mrprobe link lo type %s   # 'Unknown device type': no driver; 'Invalid argument' (lo refused): the driver is there", kind),
		Do:    func() error { return probeKind(kind) },
	}
}

// parentStep decides what the parent needs, as Docker's createNetwork
// does: an existing link is used as it is (no step: ID ""); a missing one
// is made — a dummy for an internal network (Docker's createDummyLink),
// else an 802.1Q sub-interface NAME.VID of an existing NAME (Docker's
// createVlanLink), with Docker's messages when neither applies.
//
// It only reads the host's links, so a dry run decides as a real one.
func parentStep(n *Network, parent string) (stepT, error) {
	ok, err := linkExists(parent)
	if err != nil {
		return stepT{}, err
	}
	if ok {
		return stepT{}, nil
	}
	// Only the parent minirun names itself (no -o parent) is made a
	// dummy, as Docker makes one only for its own dm-<id>: a typo in
	// -o parent on an --internal network must not become a dummy link
	// under the mistyped name.
	if parent == dummyParent(n.ID) {
		return dummyParentStep(parent), nil
	}
	base, vid, err := parseVlanParent(parent)
	if err != nil {
		return stepT{}, err
	}
	return vlanParentStep(base, parent, vid), nil
}

// parseVlanParent splits -o parent=eth0.10 into eth0 and 10, with the
// messages of Docker's parseVlan and createVlanLink.
func parseVlanParent(parent string) (string, int, error) {
	if !strings.Contains(parent, ".") {
		return "", 0, fmt.Errorf("invalid subinterface vlan name %s, example formatting is eth0.10", parent)
	}
	base, vidText, ok := strings.Cut(parent, ".")
	if !ok || strings.Contains(vidText, ".") {
		return "", 0, fmt.Errorf("required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received: %s", parent)
	}
	vid, err := strconv.Atoi(vidText)
	if err != nil {
		return "", 0, fmt.Errorf("unable to parse a valid vlan id from: %s (ex. eth0.10 for vlan 10)", vidText)
	}
	if ok, err := linkExists(base); err != nil {
		return "", 0, err
	} else if !ok {
		return "", 0, fmt.Errorf("-o parent interface was not found on the host: %s", base)
	}
	// IEEE 802.1Q: the VLAN id is 12 bits, 0 and 4095 are reserved.
	if vid < 1 || vid > 4094 {
		return "", 0, fmt.Errorf("vlan id must be between 1-4094, received: %d", vid)
	}
	return base, vid, nil
}

func dummyParentStep(name string) stepT {
	return stepT{
		ID: StepParent, Chapter: explain.ChapterNetwork,
		Title: text("Cria o link pai "+name+" (dummy)", "Create parent link "+name+" (dummy)"),
		Why: text("Sem -o parent, o Docker pendura a rede num link dummy só dela, que não leva a lugar algum: a rede é interna, os contêineres só falam entre si. Ele sai com a rede.",
			"Without -o parent, Docker hangs the network off a dummy link of its own that leads nowhere: the network is internal, its containers only talk to each other. It goes with the network."),
		Shell: fmt.Sprintf("ip link add %s type dummy && ip link set %s up", name, name),
		Do: func() error {
			la := netlink.NewLinkAttrs()
			la.Name = name
			return addParent(&netlink.Dummy{LinkAttrs: la})
		},
		Undo:      func() error { return deleteLink(name) },
		Evidence:  func() string { return linkEvidence(name) },
		UndoShell: "ip link del " + name,
	}
}

func vlanParentStep(base, name string, vid int) stepT {
	return stepT{
		ID: StepParent, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Cria a sub-interface VLAN %s (id %d) sobre %s", name, vid, base), fmt.Sprintf("Create VLAN sub-interface %s (id %d) on %s", name, vid, base)),
		Why: text(fmt.Sprintf("-o parent=%s pede a VLAN %d de %s: os quadros dos contêineres saem por %s com a etiqueta 802.1Q %d, e o switch os separa das outras VLANs. Como o Docker, o minirun cria a sub-interface que falta e a apaga com a rede.", name, vid, base, base, vid),
			fmt.Sprintf("-o parent=%s asks for VLAN %d of %s: the containers' frames leave through %s with the 802.1Q tag %d, and the switch keeps them apart from other VLANs. Like Docker, minirun makes the missing sub-interface and deletes it with the network.", name, vid, base, base, vid)),
		Shell: fmt.Sprintf("ip link add link %s name %s type vlan id %d && ip link set %s up", base, name, vid, name),
		Do: func() error {
			b, err := netlink.LinkByName(base)
			if err != nil {
				return fmt.Errorf("failed to find master interface %s on the host: %w", base, err)
			}
			la := netlink.NewLinkAttrs()
			la.Name, la.ParentIndex = name, b.Attrs().Index
			return addParent(&netlink.Vlan{LinkAttrs: la, VlanId: vid})
		},
		Undo:      func() error { return deleteLink(name) },
		Evidence:  func() string { return linkEvidence(name) },
		UndoShell: "ip link del " + name,
	}
}

// addParent creates a parent link and brings it up; a half-made one goes.
func addParent(l netlink.Link) error {
	name := l.Attrs().Name
	if err := netlink.LinkAdd(l); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			config := map[string]string{"dummy": "DUMMY", "vlan": "VLAN_8021Q"}[l.Type()]
			return fmt.Errorf("failed to create %s %s link: %w", name, l.Type(), noDriver(l.Type(), config))
		}
		return fmt.Errorf("failed to create %s %s link: %w", name, l.Type(), err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return errors.Join(fmt.Errorf("set %s up: %w", name, err), deleteLink(name))
	}
	return nil
}

func linkEvidence(name string) string {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("ip -d link show %s → %s, index %d, mac %s, %s", name, l.Type(), l.Attrs().Index, l.Attrs().HardwareAddr, l.Attrs().OperState)
}

// parentDelete removes, with the network, the parent minirun made for it
// (dummy or VLAN sub-interface) — unless another network still hangs off
// it: that one inherits it and deletes it last.
func (m *Manager) parentDelete(n *Network, nets []*Network) error {
	parent := n.Options[OptParent]
	for _, other := range nets {
		if other.ID != n.ID && isSublink(other.Driver) && other.Options[OptParent] == parent {
			other.CreatedParent = true
			return m.save(other)
		}
	}
	return m.tr.Do(stepT{
		ID: StepParentDelete, Chapter: explain.ChapterNetwork,
		Title: text("Apaga o link pai "+parent+", que o minirun criou", "Delete parent link "+parent+", which minirun made"),
		Why: text("O link pai foi criado junto com a rede (dummy ou sub-interface VLAN), e nenhuma outra rede o usa: sai com ela, como no Docker. Um pai que já existia antes fica.",
			"The parent was made with the network (a dummy or a VLAN sub-interface) and no other network uses it: it goes with it, as in Docker. A parent that was there before stays."),
		Shell: "ip link del " + parent,
		Do:    func() error { return deleteLink(parent) },
	}, nil)
}

// sublinkName is the child link's name on the host, before it moves into
// the container: "mr" + 10 hex digits of the container id + the interface
// number + m (macvlan) or i (ipvlan).
func sublinkName(containerID, ifName, driver string) string {
	host := vethName(containerID, ifName)
	suffix := "m"
	if driver == DriverIPvlan {
		suffix = "i"
	}
	return strings.TrimSuffix(host, "h") + suffix
}

// sublinkAttachPlan is the order in which a container is plugged into a
// macvlan or ipvlan network: the child link on the parent, its move into
// the container (renamed), the address, the default route.
func sublinkAttachPlan(n *Network, ep *Endpoint, pid int, ifName string) explain.Plan {
	tmp := sublinkName(ep.ContainerID, ifName, n.Driver)
	plan := explain.Plan{
		sublinkStep(n, tmp),
		moveLinkStep(pid, tmp, ifName),
		addrStep(pid, ifName, ep.Prefix()),
	}
	switch {
	case n.Internal:
	case ipvlanL3(n):
		plan = append(plan, routeStep(pid, ifName, n.Driver, netip.Addr{})) // no gateway: out of ifName
	default:
		plan = append(plan, routeStep(pid, ifName, n.Driver, n.Gateway()))
	}
	return plan
}

func sublinkStep(n *Network, tmp string) stepT {
	parent := n.Options[OptParent]
	why := text("Um link macvlan é um filho do pai com MAC próprio: para a LAN do pai o contêiner é mais uma máquina. No modo bridge os filhos de um mesmo pai se falam direto no kernel; o host não fala com eles pelo pai (o kernel não entrega ao pai o que vem de um filho).",
		"A macvlan link is a child of the parent with a MAC of its own: to the parent's LAN the container is one more machine. In bridge mode the children of one parent talk straight through the kernel; the host cannot reach them through the parent (the kernel does not hand the parent what comes from a child).")
	shell := macvlanShell(n, tmp, parent)
	if n.Driver == DriverIPvlan {
		why = text("Um link ipvlan é um filho do pai com o MAC do pai: os contêineres se distinguem só pelo IP, o que serve a switches e nuvens que aceitam um MAC por porta. Em l2 eles respondem ARP na LAN do pai; em l3 o pai roteia por eles.",
			"An ipvlan link is a child of the parent with the parent's MAC: containers are told apart by IP alone, which suits switches and clouds that accept one MAC per port. In l2 they answer ARP on the parent's LAN; in l3 the parent routes for them.")
		shell = ipvlanShell(n, tmp, parent)
	}
	return stepT{
		ID: StepSublink, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Cria o link %s %s sobre %s", n.Driver, tmp, parent), fmt.Sprintf("Create %s link %s on %s", n.Driver, tmp, parent)),
		Why:   why,
		Shell: shell,
		Do: func() error {
			p, err := netlink.LinkByName(parent)
			if err != nil {
				return fmt.Errorf("look up parent %s of network %s: %w", parent, n.Name, err)
			}
			l := macvlanLink(n, tmp, p.Attrs().Index)
			if n.Driver == DriverIPvlan {
				l = ipvlanLink(n, tmp, p.Attrs().Index)
			}
			if err := netlink.LinkAdd(l); err != nil {
				if errors.Is(err, unix.EOPNOTSUPP) {
					return fmt.Errorf("create %s link %s on %s: this kernel has no %s driver: %w", n.Driver, tmp, parent, n.Driver, err)
				}
				return fmt.Errorf("create %s link %s on %s: %w", n.Driver, tmp, parent, err)
			}
			return nil
		},
		// Moved already, the move's undo deleted it in the container.
		Undo:      func() error { return deleteLink(tmp) },
		Evidence:  func() string { return linkEvidence(tmp) },
		UndoShell: fmt.Sprintf("ip link show %s >/dev/null 2>&1 && ip link del %s", tmp, tmp),
	}
}

// sublinkDeleteStep removes a live container's child link (network
// disconnect). A container that has exited needs nothing: the kernel
// deleted its links with its network namespace.
func sublinkDeleteStep(ep *Endpoint) stepT {
	return stepT{
		ID: StepSublinkDelete, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Apaga o link %s %s de %s", ep.Driver, ep.IfName, ep.Name), fmt.Sprintf("Delete %s's %s link %s", ep.Name, ep.Driver, ep.IfName)),
		Why: text("Não há ponta no host: o link vive no namespace do contêiner e é apagado lá. Se o contêiner já terminou, o kernel o apagou junto com o namespace.",
			"There is no host end: the link lives in the container's namespace and is deleted there. If the container has exited, the kernel deleted it with the namespace."),
		Shell: fmt.Sprintf("nsenter -t %d -n ip link del %s", ep.Pid, ep.IfName),
		Do: func() error {
			if !ep.Attached || ep.Pid <= 0 || stale(ep) {
				return nil
			}
			err := inNS(ep.Pid, func(h *netlink.Handle) error {
				l, err := h.LinkByName(ep.IfName)
				if err != nil || (l.Type() != DriverMacvlan && l.Type() != DriverIPvlan) {
					return nil
				}
				if err := h.LinkDel(l); err != nil && !gone(err) {
					return fmt.Errorf("delete %s in the container: %w", ep.IfName, err)
				}
				return nil
			})
			if gone(err) {
				return nil
			}
			return err
		},
	}
}

// reserveSublink is Reserve's part for macvlan and ipvlan: an address of
// the subnet (--ip allowed, as on any network with a user subnet), the
// gateway as default route unless internal or ipvlan l3. Aliases and
// published ports have nothing to work with: no DNS server, no NAT.
func reserveSublink(n *Network, ep *Endpoint, want netip.Addr, o EndpointOpts) error {
	if len(o.Aliases) > 0 {
		return fmt.Errorf("network-scoped aliases need minirun's DNS server, which runs on bridge networks only (network %s is %s)", n.Name, n.Driver)
	}
	if len(o.Ports) > 0 {
		return fmt.Errorf("cannot publish ports on %s network %s: there is no NAT, the container has its own address on %s's LAN: reach it there", n.Driver, n.Name, n.Options[OptParent])
	}
	ip, err := allocate(n, want)
	if err != nil {
		return err
	}
	ep.IPv4Address = netip.PrefixFrom(ip, n.Subnet().Bits()).String()
	if !n.Internal && !ipvlanL3(n) {
		ep.Gateway = n.Gateway().String()
	}
	return nil
}
