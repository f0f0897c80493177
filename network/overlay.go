package network

// The overlay driver: Docker's classic multi-host overlay (Docker 1.9 to
// 1.12, before swarm mode), rebuilt from moby libnetwork's
// drivers/overlay (ov_network.go, ov_endpoint.go, joinleave.go,
// peerdb.go) on the same kernel objects: one Linux bridge and one VXLAN
// device per network on every host, the VXLAN's forwarding (FDB) and
// neighbour (ARP) tables filled by hand with every remote endpoint, and a
// cluster-wide key-value store (etcd; Docker's --cluster-store) that
// holds what all hosts must agree on.
//
//	network create -d overlay NAME        (any host)
//	  names/NAME, vni/N, subnet/CIDR      network-overlay-name, -vni, -subnet
//	  networks/ID (the definition)        network-overlay-define
//	  network.json, bridge mrov<id10>     network-state, network-bridge
//	  VXLAN mrvx<id10> on the bridge      network-overlay-vxlan
//	  gateway, NAT, isolation, DNS        as a bridge network's
//	SyncOverlayNetworks (every other host, on the daemon's etcd watch)
//	  networks/ → network.json            network-state (devices come lazily)
//	run --network NAME
//	  ipam/NETID/IP (PutNew)              network-overlay-ipam, network-ipam
//	  devices, if first here; veth...     network-overlay-vxlan, network-veth...
//	  endpoints/NETID/EPID                network-overlay-endpoint
//	SyncOverlayPeers (every host, on the daemon's etcd watch)
//	  remote endpoints → FDB + neighbour  network-overlay-peer(-delete)
//	  remote endpoints → network.json     network-overlay-peers (for DNS)
//
// Where minirun differs from libnetwork, on purpose:
//   - libnetwork puts each overlay network's bridge and VXLAN in a network
//     namespace of their own ("ov-<vni>-<id>") and gives each container a
//     second leg, on the host's docker_gwbridge, for NAT to the outside.
//     minirun keeps the bridge in the host's namespace, with the
//     network's gateway address on it as a bridge network has (the same
//     address on every host: ARP for it never crosses the VXLAN, see
//     below), so a non-internal overlay reaches the outside through the
//     host's NAT on its own bridge, and its DNS server listens on the
//     gateway as on a bridge network. One leg, no docker_gwbridge.
//   - libnetwork turns VXLAN learning on and answers the kernel's L2/L3
//     miss notifications from its peer database; minirun turns learning
//     off and writes every remote endpoint in advance (`proxy` makes the
//     VXLAN answer ARP from its neighbour table, so no ARP request is
//     ever flooded to other hosts). The tables then hold exactly what the
//     store says, which SyncOverlayPeers can reconcile.
//   - the host devices of a network are made on Create on the creating
//     host, and lazily on the first Attach on the others (as libnetwork
//     makes its sandbox on the first Join); they stay when the last local
//     container leaves (libnetwork deletes the sandbox then) and go with
//     `network rm`, or when a sync finds the network gone from the store.
//
// How a Manager reaches the store. The opener gives it one with
// SetCluster: `minirun daemon --cluster-store etcd://… --cluster-advertise
// ADDR` dials etcd once and hands its client to the Managers it opens, and
// tests hand an in-memory one (internal/memstore). But Reserve, Attach and
// Detach also run in the container's shim, a minirun process the daemon
// does not open Managers for (container/ opens them with network.Open
// alone). So each overlay network's network.json records the store's URL
// and the host's advertise address, and a Manager without a store dials
// that URL through DialCluster, which cmd/minirun sets to the etcd
// client's dial function: network/ never imports the etcd client, and no
// process needs to be told about the cluster twice. A nil DialCluster, or
// a record without a URL, gives ErrNoCluster.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/vishvananda/netlink"
)

// DriverOverlay is the multi-host driver (overlay.go).
const DriverOverlay = "overlay"

// ClusterStore is the cluster-wide key-value store (etcd) overlay networks keep their state in.
type ClusterStore interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	List(ctx context.Context, prefix string) (kvs map[string][]byte, rev int64, err error)
	Put(ctx context.Context, key string, val []byte) error
	PutNew(ctx context.Context, key string, val []byte) (created bool, err error) // txn: create_revision == 0
	Delete(ctx context.Context, key string) error
}

// Cluster is what a Manager needs to build overlay networks: the store,
// the URL it was dialed with (recorded in each overlay network's
// network.json, for processes that must dial it themselves) and this
// host's address on the underlay, where the other hosts send its VXLAN
// packets (Docker's --cluster-advertise).
type Cluster struct {
	Store     ClusterStore
	URL       string
	Advertise netip.Addr
}

// DialCluster opens the store at url (etcd://HOST:PORT): the way a
// minirun process that was given no store (the shim, see above) reaches
// the one its overlay network records. cmd/minirun sets it; nil means
// only SetCluster gives a Manager a store. A store that is an io.Closer
// is closed at the end of the Manager call that dialed it.
var DialCluster func(url string) (ClusterStore, error)

// ClusterPrefix is where minirun's keys live in the store; the daemon
// watches ClusterPrefix+"networks/" (then SyncOverlayNetworks) and
// ClusterPrefix+"endpoints/NETID/" (then SyncOverlayPeers of NETID).
const ClusterPrefix = "/minirun/"

// ErrNoCluster is the error of an overlay operation without a store.
var ErrNoCluster = errors.New("overlay networks need a cluster store: start `minirun daemon --cluster-store etcd://HOST:PORT --cluster-advertise ADDR`")

// SetCluster gives the Manager the cluster's store and this host's
// advertise address, which every overlay operation needs.
func (m *Manager) SetCluster(c Cluster) { m.cl = c }

// Overlay defaults, as Docker's: VNIs from 4096 up (libnetwork's
// vxlanIDStart; below are left to hand-made VXLANs), the IANA VXLAN port
// (RFC 7348 §5), and an MTU 50 bytes under Ethernet's 1500 for the outer
// Ethernet (14), IPv4 (20), UDP (8) and VXLAN (8) headers.
const (
	OverlayPool      = "10.79.0.0/16"
	OverlayFirstVNI  = 4096
	OverlayMaxVNI    = 1<<24 - 1
	VXLANPort        = 4789
	OverlayMTU       = 1450
	OptVXLANID       = "com.docker.network.driver.overlay.vxlanid_list"
	clusterPrefix    = ClusterPrefix
	clusterTimeout   = 10 * time.Second
	overlayClaimsMax = 64
)

// Step ids of the overlay driver (anchors in docs/network.md).
const (
	StepOverlayName           = "network-overlay-name"
	StepOverlayVNI            = "network-overlay-vni"
	StepOverlaySubnet         = "network-overlay-subnet"
	StepOverlayDefine         = "network-overlay-define"
	StepOverlayVXLAN          = "network-overlay-vxlan"
	StepOverlayIPAM           = "network-overlay-ipam"
	StepOverlayEndpoint       = "network-overlay-endpoint"
	StepOverlayPeers          = "network-overlay-peers"
	StepOverlayPeer           = "network-overlay-peer"
	StepOverlayPeerDelete     = "network-overlay-peer-delete"
	StepOverlayEndpointDelete = "network-overlay-endpoint-delete"
	StepOverlayIPAMRelease    = "network-overlay-ipam-release"
	StepOverlayUndefine       = "network-overlay-undefine"
	StepOverlayVXLANDelete    = "network-overlay-vxlan-delete"
)

// OverlayState is an overlay network's part of network.json.
type OverlayState struct {
	VNI   uint32 `json:"VNI"`
	VXLAN string `json:"VXLAN"` // mrvx<id10>
	// Store is the store's URL (DialCluster), Advertise this host's
	// address, as the Manager that wrote the record had them.
	Store     string `json:"Store,omitempty"`
	Advertise string `json:"Advertise"`
	// Peers are the network's endpoints on other hosts, as the last
	// SyncOverlayPeers found them: the DNS server answers their names too.
	Peers []OverlayPeer `json:"Peers,omitempty"`
}

// OverlayPeer is one endpoint of an overlay network, as the store keeps it
// at /minirun/endpoints/NETID/EPID.
type OverlayPeer struct {
	EndpointID  string   `json:"id"`
	ContainerID string   `json:"container"`
	Name        string   `json:"name"`
	IP          string   `json:"ip"`
	MAC         string   `json:"mac"`
	Host        string   `json:"host"` // the advertise address of its host
	Aliases     []string `json:"aliases,omitempty"`
}

// overlayDef is a network's definition at /minirun/networks/ID: what
// every host needs to make the same network.
type overlayDef struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Driver     string            `json:"driver"`
	Subnet     string            `json:"subnet"`
	Gateway    string            `json:"gateway"`
	VNI        uint32            `json:"vni"`
	Internal   bool              `json:"internal"`
	Attachable bool              `json:"attachable"`
	Options    map[string]string `json:"options"`
	Created    time.Time         `json:"created"`
}

// The store's keys (docs/network.md#overlay-keys).
func keyNetwork(id string) string                { return clusterPrefix + "networks/" + id }
func keyName(name string) string                 { return clusterPrefix + "names/" + name }
func keyVNI(vni uint32) string                   { return clusterPrefix + "vni/" + strconv.FormatUint(uint64(vni), 10) }
func keySubnet(p netip.Prefix) string            { return clusterPrefix + "subnet/" + p.String() }
func prefixIPAM(netID string) string             { return clusterPrefix + "ipam/" + netID + "/" }
func keyIPAM(netID string, ip netip.Addr) string { return prefixIPAM(netID) + ip.String() }
func prefixEndpoints(netID string) string        { return clusterPrefix + "endpoints/" + netID + "/" }
func keyEndpoint(netID, epID string) string      { return prefixEndpoints(netID) + epID }

// overlayNames are the host devices of network id: at most 15 characters
// (IFNAMSIZ), mr-prefixed like all of minirun's links.
func overlayNames(id string) (bridge, vxlan string) {
	return "mrov" + id[:10], "mrvx" + id[:10]
}

// macFromIP is the MAC of a container's overlay interface, 02:42 and the
// four bytes of its address, as libnetwork derives it
// (netutils.GenerateMACFromIP): locally administered, unique wherever the
// address is, so a host can write a remote endpoint's FDB and neighbour
// entries from the store alone.
func macFromIP(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// dialedStores are the stores a Manager dialed (clusterFor). Every
// public method that may dial counts itself a user for its whole
// duration (useDialed), rollback included; the last user to finish closes
// them, so goroutines sharing a Manager never lose a store mid-call.
type dialedStores struct {
	mu     sync.Mutex
	users  int
	stores map[string]ClusterStore
}

// useDialed registers a call; the returned func, deferred first, ends it.
func (m *Manager) useDialed() func() {
	d := &m.dialed
	d.mu.Lock()
	d.users++
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.users--; d.users > 0 {
			return
		}
		for url, s := range d.stores {
			if c, ok := s.(io.Closer); ok {
				c.Close()
			}
			delete(d.stores, url)
		}
	}
}

// clusterFor returns the store for an operation on n (nil: creating
// one): the Manager's own, else one dialed from n's record, closed when
// the Manager's last call in progress ends (useDialed).
func (m *Manager) clusterFor(n *Network) (Cluster, error) {
	if m.cl.Store != nil {
		return m.cl, nil
	}
	if n == nil || n.Overlay == nil || n.Overlay.Store == "" || DialCluster == nil {
		return Cluster{}, ErrNoCluster
	}
	adv, err := netip.ParseAddr(n.Overlay.Advertise)
	if err != nil {
		return Cluster{}, fmt.Errorf("network %s records no advertise address: %w", n.Name, ErrNoCluster)
	}
	d := &m.dialed
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.stores[n.Overlay.Store]; s != nil {
		return Cluster{Store: s, URL: n.Overlay.Store, Advertise: adv}, nil
	}
	s, err := DialCluster(n.Overlay.Store)
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster store %s: %w", n.Overlay.Store, err)
	}
	if d.stores == nil {
		d.stores = map[string]ClusterStore{}
	}
	d.stores[n.Overlay.Store] = s
	return Cluster{Store: s, URL: n.Overlay.Store, Advertise: adv}, nil
}

func clusterCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), clusterTimeout)
}

// bridged reports whether the network is a Linux bridge of minirun's
// with its gateway, NAT, rules and DNS: the bridge driver's, and the
// overlay's, whose bridge also has the VXLAN as a port.
func (n *Network) bridged() bool { return n.Driver == DriverBridge || n.Driver == DriverOverlay }

// etcdPutNewShell is PutNew by hand: etcdctl's transaction "if the key
// was never created (create revision 0), put it".
func etcdPutNewShell(key, val string) string {
	return fmt.Sprintf("printf '%%s\\n' 'create(\"%s\") = \"0\"' '' 'put %s %s' '' '' | etcdctl txn", key, key, val)
}

// createOverlay is Create for the overlay driver. The lock is taken as
// for any network (the name must be free on this host too); the store's
// PutNew claims make the name, the VNI and the subnet unique across the
// cluster, each undone if a later step fails.
func (m *Manager) createOverlay(o CreateOpts) (n *Network, retErr error) {
	defer m.useDialed()()
	if o.IPAMDriver != "" {
		return nil, fmt.Errorf("--ipam-driver with the overlay driver: minirun's overlay networks take their addresses from the cluster store")
	}
	opts := map[string]string{}
	var wantVNI uint32
	for k, v := range o.Options {
		switch k {
		case OptMTU:
			if mtu, err := strconv.Atoi(v); err != nil || mtu < 68 || mtu > 65535 {
				return nil, fmt.Errorf("invalid %s %q: an MTU is 68 to 65535 bytes", k, v)
			}
		case OptDNSUpstream:
			if _, err := parseUpstreams(v); err != nil {
				return nil, fmt.Errorf("invalid %s: %w", k, err)
			}
		case OptVXLANID:
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil || id < 1 || id > OverlayMaxVNI {
				return nil, fmt.Errorf("invalid %s %q: one VXLAN id, 1 to %d", k, v, OverlayMaxVNI)
			}
			wantVNI = uint32(id)
		case "encrypted":
			return nil, errors.New("-o encrypted (IPsec between the hosts) is not built by minirun: see docs/network.md#overlay")
		default:
			return nil, fmt.Errorf("unknown overlay network option %q: minirun knows %s, %s and %s", k, OptMTU, OptDNSUpstream, OptVXLANID)
		}
		opts[k] = v
	}
	if opts[OptMTU] == "" {
		opts[OptMTU] = strconv.Itoa(OverlayMTU)
	}
	c, err := m.clusterFor(nil)
	if err != nil {
		return nil, err
	}
	subnet, nets, unlock, err := m.beginCreate(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var routes []hostRoute
	if !m.tr.DryRun() {
		if routes, err = hostRoutes(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := clusterCtx()
	defer cancel()
	id := newID()
	br, vx := overlayNames(id)
	n = &Network{
		Name: o.Name, ID: id, Created: time.Now().UTC(), Scope: "global", Driver: DriverOverlay,
		Internal: o.Internal, Attachable: o.Attachable, Options: opts, Containers: map[string]*Endpoint{},
		IPAM: IPAM{Driver: "default", Config: []IPAMConfig{}}, Bridge: br,
		Overlay: &OverlayState{VXLAN: vx, Store: c.URL, Advertise: c.Advertise.String()},
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
			n = nil
		}
	}()
	if err := m.tr.Do(claimNameStep(ctx, c, n), &undo); err != nil {
		return nil, err
	}
	// The VNI and the subnet are the first free ones the store lists now;
	// if another host claims the same one first, the step's PutNew fails
	// and it takes the next (the evidence says which it got).
	used, err := listVNIs(ctx, c.Store)
	if err != nil {
		return nil, err
	}
	vni := wantVNI
	if vni == 0 {
		if vni, err = freeVNI(used); err != nil {
			return nil, err
		}
	} else if owner, ok := used[vni]; ok {
		return nil, fmt.Errorf("VXLAN id %d is already used by network %s", vni, short(owner))
	}
	n.Overlay.VNI = vni
	if err := m.tr.Do(claimVNIStep(ctx, c, n, wantVNI != 0), &undo); err != nil {
		return nil, err
	}
	opts[OptVXLANID] = strconv.FormatUint(uint64(n.Overlay.VNI), 10)
	pick := func() (netip.Prefix, error) {
		cluster, err := clusterSubnets(ctx, c.Store)
		if err != nil {
			return netip.Prefix{}, err
		}
		all := append(append([]*Network{}, nets...), cluster...)
		if subnet.IsValid() {
			return subnet, checkOverlap(subnet, all, routes)
		}
		return chooseSubnet(netip.MustParsePrefix(OverlayPool), UserPrefixLen, all, routes)
	}
	first, err := pick()
	if err != nil {
		return nil, err
	}
	gw, err := parseGateway(o.Gateway, first)
	if err != nil {
		return nil, err
	}
	n.IPAM.Config = []IPAMConfig{{Subnet: first.String(), Gateway: gw.String()}}
	if err := m.tr.Do(claimSubnetStep(ctx, c, n, pick, o.Gateway), &undo); err != nil {
		return nil, err
	}
	if err := m.tr.Do(defineStep(ctx, c, n), &undo); err != nil {
		return nil, err
	}
	if err := m.record(n, &undo); err != nil {
		return nil, err
	}
	undo.Release()
	return n, nil
}

func claimNameStep(ctx context.Context, c Cluster, n *Network) stepT {
	key := keyName(n.Name)
	return stepT{
		ID: StepOverlayName, Chapter: explain.ChapterNetwork,
		Title: text("Reserva o nome "+n.Name+" no cluster", "Claim the name "+n.Name+" in the cluster"),
		Why: text("Dois hosts criando `"+n.Name+"` ao mesmo tempo fariam duas redes com o mesmo nome. Uma transação do etcd grava a chave só se ela nunca existiu (create_revision = 0): um dos dois ganha, o outro recebe um erro de nome já em uso.",
			"Two hosts creating `"+n.Name+"` at the same moment would make two networks with one name. An etcd transaction writes the key only if it never existed (create_revision = 0): one of them wins, the other gets \"already exists\"."),
		Shell: etcdPutNewShell(key, n.ID),
		Do: func() error {
			ok, err := c.Store.PutNew(ctx, key, []byte(n.ID))
			if err != nil {
				return fmt.Errorf("claim %s: %w", key, err)
			}
			if !ok {
				return fmt.Errorf("network with name %s already exists in the cluster", n.Name)
			}
			return nil
		},
		Undo:      func() error { return deleteKeys(c.Store, key) },
		Evidence:  func() string { return "etcdctl get " + key + " → " + short(n.ID) },
		UndoShell: "etcdctl del " + key,
	}
}

// listVNIs reads the VNIs the cluster has given out, with their networks.
func listVNIs(ctx context.Context, s ClusterStore) (map[uint32]string, error) {
	kvs, _, err := s.List(ctx, clusterPrefix+"vni/")
	if err != nil {
		return nil, fmt.Errorf("list %svni/: %w", clusterPrefix, err)
	}
	out := map[uint32]string{}
	for k, v := range kvs {
		if id, err := strconv.ParseUint(strings.TrimPrefix(k, clusterPrefix+"vni/"), 10, 32); err == nil {
			out[uint32(id)] = string(v)
		}
	}
	return out, nil
}

func freeVNI(used map[uint32]string) (uint32, error) {
	for v := uint32(OverlayFirstVNI); v <= OverlayMaxVNI; v++ {
		if _, ok := used[v]; !ok {
			return v, nil
		}
	}
	return 0, errors.New("no free VXLAN id left in the cluster")
}

// claimVNI claims n.Overlay.VNI, or when another host took it since the
// listing (and the VNI was not asked for), the next free one.
func claimVNI(ctx context.Context, s ClusterStore, n *Network, fixed bool) error {
	for try := 0; try < overlayClaimsMax; try++ {
		ok, err := s.PutNew(ctx, keyVNI(n.Overlay.VNI), []byte(n.ID))
		if err != nil {
			return fmt.Errorf("claim %s: %w", keyVNI(n.Overlay.VNI), err)
		}
		if ok {
			return nil
		}
		if fixed {
			return fmt.Errorf("VXLAN id %d is already used by another network", n.Overlay.VNI)
		}
		used, err := listVNIs(ctx, s)
		if err != nil {
			return err
		}
		if n.Overlay.VNI, err = freeVNI(used); err != nil {
			return err
		}
	}
	return fmt.Errorf("no VXLAN id claimed after %d tries: too many networks created at once", overlayClaimsMax)
}

func claimVNIStep(ctx context.Context, c Cluster, n *Network, fixed bool) stepT {
	first := n.Overlay.VNI
	return stepT{
		ID: StepOverlayVNI, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Reserva o VNI %d no cluster", first), fmt.Sprintf("Claim VNI %d in the cluster", first)),
		Why: text("O VNI (VXLAN Network Identifier, 24 bits, RFC 7348) vai em cada pacote entre os hosts e diz a qual rede o quadro pertence: é o que separa duas redes overlay no mesmo cabo. Tem de ser o mesmo em todos os hosts e único no cluster; a partir de 4096, como no Docker. Se outro host o pegar primeiro, a transação falha e o próximo livre é tentado.",
			"The VNI (VXLAN Network Identifier, 24 bits, RFC 7348) travels in every packet between hosts and says which network the frame belongs to: it is what keeps two overlay networks apart on one wire. It must be the same on every host and unique in the cluster; from 4096 up, as in Docker. If another host takes it first, the transaction fails and the next free one is tried."),
		Shell: etcdPutNewShell(keyVNI(first), n.ID),
		Do:    func() error { return claimVNI(ctx, c.Store, n, fixed) },
		Undo:  func() error { return deleteKeys(c.Store, keyVNI(n.Overlay.VNI)) },
		Evidence: func() string {
			if n.Overlay.VNI != first {
				return fmt.Sprintf("etcdctl get %s → %s (%d was taken meanwhile)", keyVNI(n.Overlay.VNI), short(n.ID), first)
			}
			return fmt.Sprintf("etcdctl get %s → %s", keyVNI(n.Overlay.VNI), short(n.ID))
		},
		UndoShell: "etcdctl del " + keyVNI(first),
	}
}

// clusterSubnets lists the cluster's overlay subnets as networks, for the
// overlap checks (named after the network that holds each).
func clusterSubnets(ctx context.Context, s ClusterStore) ([]*Network, error) {
	kvs, _, err := s.List(ctx, clusterPrefix+"subnet/")
	if err != nil {
		return nil, fmt.Errorf("list %ssubnet/: %w", clusterPrefix, err)
	}
	var out []*Network
	for k, v := range kvs {
		p, err := netip.ParsePrefix(strings.TrimPrefix(k, clusterPrefix+"subnet/"))
		if err != nil {
			continue
		}
		out = append(out, &Network{Name: short(string(v)) + " (cluster)", ID: string(v), IPAM: IPAM{Config: []IPAMConfig{{Subnet: p.String()}}}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// claimSubnet claims n's subnet. Equal subnets collide on the key; two
// different but overlapping ones (a --subnet 10.79.0.0/16 beside a pool
// /24) do not, so after its claim each creator lists again and backs off
// if another overlapping claim is there: with the store linearizable, two
// overlapping subnets can never both stay (at worst both back off).
func claimSubnet(ctx context.Context, s ClusterStore, n *Network, pick func() (netip.Prefix, error), gateway string) error {
	for try := 0; try < overlayClaimsMax; try++ {
		p := n.Subnet()
		ok, err := s.PutNew(ctx, keySubnet(p), []byte(n.ID))
		if err != nil {
			return fmt.Errorf("claim %s: %w", keySubnet(p), err)
		}
		if !ok {
			if p, err = pick(); err != nil {
				return err
			}
			gw, err := parseGateway(gateway, p)
			if err != nil {
				return err
			}
			n.IPAM.Config = []IPAMConfig{{Subnet: p.String(), Gateway: gw.String()}}
			continue
		}
		others, err := clusterSubnets(ctx, s)
		if err != nil {
			return errors.Join(err, deleteKeys(s, keySubnet(p)))
		}
		for _, o := range others {
			if o.ID != n.ID && o.Subnet().Overlaps(p) {
				return errors.Join(fmt.Errorf("subnet %s overlaps %s of network %s, claimed at the same moment: try again", p, o.Subnet(), o.Name),
					deleteKeys(s, keySubnet(p)))
			}
		}
		return nil
	}
	return fmt.Errorf("no subnet claimed after %d tries: too many networks created at once", overlayClaimsMax)
}

func claimSubnetStep(ctx context.Context, c Cluster, n *Network, pick func() (netip.Prefix, error), gateway string) stepT {
	first := n.Subnet()
	return stepT{
		ID: StepOverlaySubnet, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Reserva a sub-rede %s no cluster", first), fmt.Sprintf("Claim subnet %s in the cluster", first)),
		Why: text("Numa overlay os contêineres de todos os hosts estão no mesmo segmento L2: a sub-rede é uma só para o cluster e não pode repetir a de outra overlay. Sem --subnet, o primeiro /24 livre de "+OverlayPool+" (o "+UserPool+" é das bridges locais), pulando as rotas e redes deste host.",
			"On an overlay the containers of all hosts share one L2 segment: the subnet is one for the whole cluster and must not repeat another overlay's. Without --subnet, the first free /24 of "+OverlayPool+" ("+UserPool+" is the local bridges'), skipping this host's routes and networks."),
		Shell: etcdPutNewShell(keySubnet(first), n.ID),
		Do:    func() error { return claimSubnet(ctx, c.Store, n, pick, gateway) },
		Undo:  func() error { return deleteKeys(c.Store, keySubnet(n.Subnet())) },
		Evidence: func() string {
			return fmt.Sprintf("etcdctl get %s → %s, gateway %s", keySubnet(n.Subnet()), short(n.ID), n.Gateway())
		},
		UndoShell: "etcdctl del " + keySubnet(first),
	}
}

func (n *Network) overlayDef() overlayDef {
	return overlayDef{
		Name: n.Name, ID: n.ID, Driver: DriverOverlay, Subnet: n.Subnet().String(), Gateway: n.Gateway().String(),
		VNI: n.Overlay.VNI, Internal: n.Internal, Attachable: n.Attachable, Options: n.Options, Created: n.Created,
	}
}

func defineStep(ctx context.Context, c Cluster, n *Network) stepT {
	key := keyNetwork(n.ID)
	b, _ := json.Marshal(n.overlayDef())
	return stepT{
		ID: StepOverlayDefine, Chapter: explain.ChapterNetwork,
		Title: text("Publica a definição da rede "+n.Name+" no cluster", "Publish network "+n.Name+"'s definition to the cluster"),
		Why: text("Nome, id, VNI, sub-rede e gateway ficam no etcd: os outros hosts veem a chave (o daemon observa o prefixo da rede) e criam a mesma rede com o mesmo id, como o Docker clássico fazia com --cluster-store.",
			"Name, id, VNI, subnet and gateway go to etcd: the other hosts see the key (the daemon watches /minirun/networks/) and make the same network with the same id, as classic Docker did with --cluster-store."),
		Shell: "etcdctl put " + key + " " + shQuoteData(string(b)),
		Do: func() error {
			b, err := json.Marshal(n.overlayDef())
			if err != nil {
				return err
			}
			if err := c.Store.Put(ctx, key, b); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			return nil
		},
		Undo:      func() error { return deleteKeys(c.Store, key) },
		Evidence:  func() string { return fmt.Sprintf("etcdctl get %s → %d bytes", key, len(b)) },
		UndoShell: "etcdctl del " + key,
	}
}

// deleteKeys deletes keys with a context of its own: an undo runs after
// the operation's context may be gone.
func deleteKeys(s ClusterStore, keys ...string) error {
	ctx, cancel := clusterCtx()
	defer cancel()
	var errs []error
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// vxlanStep makes the network's VXLAN device and plugs it into the
// bridge, as libnetwork's createVxlan and setupSubnetSandbox do.
func vxlanStep(n *Network) stepT {
	vx, vni := n.Overlay.VXLAN, n.Overlay.VNI
	adv, _ := netip.ParseAddr(n.Overlay.Advertise)
	mtu := n.MTU()
	created := false
	return stepT{
		ID: StepOverlayVXLAN, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Cria o VXLAN %s (VNI %d) e o pluga na bridge %s", vx, vni, n.Bridge), fmt.Sprintf("Create VXLAN %s (VNI %d) and plug it into bridge %s", vx, vni, n.Bridge)),
		Why: text(fmt.Sprintf("O VXLAN é a porta da bridge que leva aos outros hosts: cada quadro que sai por ela vai num pacote UDP %d para o host do destino, com o VNI %d no cabeçalho (RFC 7348). `nolearning`: a tabela de encaminhamento só tem o que o minirun escreve a partir do etcd; `proxy`: o próprio VXLAN responde ARP pela tabela de vizinhos, e nenhum ARP inunda os outros hosts. MTU %d: os 50 bytes de cabeçalhos externos cabem nos 1500 do cabo.", VXLANPort, vni, mtu),
			fmt.Sprintf("The VXLAN is the bridge port that leads to the other hosts: every frame leaving through it goes in a UDP %d packet to the destination's host, with VNI %d in the header (RFC 7348). `nolearning`: the forwarding table holds only what minirun writes from etcd; `proxy`: the VXLAN itself answers ARP from its neighbour table, and no ARP floods the other hosts. MTU %d: the 50 bytes of outer headers fit in the wire's 1500.", VXLANPort, vni, mtu)),
		Shell: fmt.Sprintf("ip link add %s%s type vxlan id %d local %s dstport %d nolearning proxy && ip link set %s master %s up",
			vx, mtuArg(mtu), vni, adv, VXLANPort, vx, n.Bridge),
		Do: func() error {
			l, err := netlink.LinkByName(vx)
			if err != nil && !gone(err) {
				return fmt.Errorf("look up %s: %w", vx, err)
			}
			if l == nil {
				if !adv.IsValid() {
					return fmt.Errorf("network %s records no advertise address: %w", n.Name, ErrNoCluster)
				}
				la := netlink.NewLinkAttrs()
				la.Name = vx
				if mtu > 0 {
					la.MTU = mtu
				}
				v := &netlink.Vxlan{LinkAttrs: la, VxlanId: int(vni), SrcAddr: adv.AsSlice(), Port: VXLANPort, Learning: false, Proxy: true}
				if err := netlink.LinkAdd(v); err != nil {
					return fmt.Errorf("create vxlan %s: %w", vx, err)
				}
				created = true
				if l, err = netlink.LinkByName(vx); err != nil {
					return fmt.Errorf("look up %s: %w", vx, err)
				}
			}
			br, err := netlink.LinkByName(n.Bridge)
			if err != nil {
				return fmt.Errorf("look up bridge %s: %w", n.Bridge, err)
			}
			if err := netlink.LinkSetMaster(l, br); err != nil {
				return fmt.Errorf("plug %s into %s: %w", vx, n.Bridge, err)
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return fmt.Errorf("set %s up: %w", vx, err)
			}
			return nil
		},
		Undo: func() error {
			if !created {
				return nil
			}
			return deleteLink(vx)
		},
		Evidence: func() string {
			l, err := netlink.LinkByName(vx)
			if err != nil {
				return err.Error()
			}
			v, ok := l.(*netlink.Vxlan)
			if !ok {
				return "ip -d link show " + vx + " → " + l.Type()
			}
			return fmt.Sprintf("ip -d link show %s → vxlan id %d local %s dstport %d learning %v proxy %v mtu %d", vx, v.VxlanId, v.SrcAddr, v.Port, v.Learning, v.Proxy, v.MTU)
		},
		UndoShell: "ip link del " + vx,
	}
}

// vxlanUp reports whether n's VXLAN exists, is up and is a port of its
// bridge.
func vxlanUp(n *Network) (bool, error) {
	l, err := netlink.LinkByName(n.Overlay.VXLAN)
	if gone(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return false, nil
	}
	return l.Attrs().MasterIndex == br.Attrs().Index && l.Attrs().Flags&net.FlagUp != 0, nil
}

func vxlanDeleteStep(n *Network) stepT {
	return stepT{
		ID: StepOverlayVXLANDelete, Chapter: explain.ChapterNetwork,
		Title: text("Apaga o VXLAN "+n.Overlay.VXLAN, "Delete VXLAN "+n.Overlay.VXLAN),
		Why: text("Apagar o VXLAN leva junto as entradas de FDB e de vizinhos que o minirun escreveu nele, e fecha o socket UDP 4789 se era o último.",
			"Deleting the VXLAN takes the FDB and neighbour entries minirun wrote on it, and closes the UDP 4789 socket if it was the last."),
		Shell: "ip link del " + n.Overlay.VXLAN,
		Do:    func() error { return deleteLink(n.Overlay.VXLAN) },
	}
}

// undefineStep deletes the network from the store: the definition first,
// so every other host's sync drops it from then on, then its claims.
func undefineStep(c Cluster, n *Network) stepT {
	keys := []string{keyNetwork(n.ID), keyVNI(n.Overlay.VNI), keySubnet(n.Subnet()), keyName(n.Name)}
	var sh []string
	for _, k := range keys {
		sh = append(sh, "etcdctl del "+k)
	}
	return stepT{
		ID: StepOverlayUndefine, Chapter: explain.ChapterNetwork,
		Title: text("Apaga a rede "+n.Name+" do cluster", "Delete network "+n.Name+" from the cluster"),
		Why: text("Nenhum host tem endpoint nela (as chaves ipam/ da rede estão vazias): sai a definição, e os outros hosts apagam a sua cópia no próximo sync; o VNI, a sub-rede e o nome voltam a estar livres.",
			"No host has an endpoint on it (the network's ipam/ keys are empty): the definition goes, and the other hosts delete their copy on their next sync; the VNI, the subnet and the name are free again."),
		Shell: strings.Join(sh, " && "),
		Do:    func() error { return deleteKeys(c.Store, keys...) },
	}
}

// removeOverlay is the cluster's part of `network rm` of an overlay: it
// refuses while any host has an address reserved on it, then deletes the
// network's keys; the caller removes the local devices and record.
func (m *Manager) removeOverlay(n *Network) error {
	c, err := m.clusterFor(n)
	if err != nil {
		return err
	}
	ctx, cancel := clusterCtx()
	defer cancel()
	kvs, err := ipamClaims(ctx, c.Store, n.ID)
	if err != nil {
		return err
	}
	if len(kvs) > 0 {
		var who []string
		for _, v := range kvs {
			who = append(who, string(v))
		}
		sort.Strings(who)
		return fmt.Errorf("cannot remove network %s: %w (%s): disconnect or remove them first", n.Name, ErrInUse, strings.Join(who, ", "))
	}
	return m.tr.Do(undefineStep(c, n), nil)
}

// ipamClaims lists the addresses claimed on network netID, in any host.
func ipamClaims(ctx context.Context, s ClusterStore, netID string) (map[string][]byte, error) {
	kvs, _, err := s.List(ctx, prefixIPAM(netID))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefixIPAM(netID), err)
	}
	return kvs, nil
}

// fromDef is the local record of a network another host defined.
func fromDef(d overlayDef, c Cluster) (*Network, error) {
	p, err := netip.ParsePrefix(d.Subnet)
	if err != nil {
		return nil, fmt.Errorf("overlay network %s: bad subnet %q", d.Name, d.Subnet)
	}
	if len(d.ID) < 12 || !validName().MatchString(d.Name) {
		return nil, fmt.Errorf("overlay network %q (%s): bad name or id", d.Name, d.ID)
	}
	br, vx := overlayNames(d.ID)
	opts := map[string]string{}
	for k, v := range d.Options {
		opts[k] = v
	}
	return &Network{
		Name: d.Name, ID: d.ID, Created: d.Created, Scope: "global", Driver: DriverOverlay,
		Internal: d.Internal, Attachable: d.Attachable, Options: opts, Containers: map[string]*Endpoint{},
		IPAM:    IPAM{Driver: "default", Config: []IPAMConfig{{Subnet: p.String(), Gateway: d.Gateway}}},
		Bridge:  br,
		Overlay: &OverlayState{VNI: d.VNI, VXLAN: vx, Store: c.URL, Advertise: c.Advertise.String()},
	}, nil
}

// SyncOverlayNetworks makes this host's overlay networks those of the
// store: a network defined under /minirun/networks/ that this host does
// not have gets its local record (its devices come with its first local
// container, as libnetwork's sandbox comes with the first Join), and a
// local overlay network the store no longer has is removed here, unless
// containers here still use it. It is idempotent; the daemon calls it on
// every change under /minirun/networks/ and after reconnecting.
func (m *Manager) SyncOverlayNetworks(ctx context.Context) error {
	defer m.useDialed()()
	if m.cl.Store == nil {
		return ErrNoCluster
	}
	// The lock first: a Create on this host between the list and the
	// lock would be missing from the list and removed here as stale.
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	kvs, _, err := m.cl.Store.List(ctx, clusterPrefix+"networks/")
	if err != nil {
		return fmt.Errorf("list %snetworks/: %w", clusterPrefix, err)
	}
	nets, err := m.list()
	if err != nil {
		return err
	}
	var routes []hostRoute
	if !m.tr.DryRun() {
		if routes, err = hostRoutes(); err != nil {
			return err
		}
	}
	defs := map[string]overlayDef{}
	var ids []string
	var errs []error
	for k, v := range kvs {
		var d overlayDef
		if err := json.Unmarshal(v, &d); err != nil || d.ID != strings.TrimPrefix(k, clusterPrefix+"networks/") {
			errs = append(errs, fmt.Errorf("%s: not a network definition", k))
			continue
		}
		defs[d.ID] = d
		ids = append(ids, d.ID)
	}
	sort.Strings(ids)
	local := map[string]*Network{}
	for _, n := range nets {
		if n.Driver == DriverOverlay {
			local[n.ID] = n
		}
	}
	for _, id := range ids {
		if n := local[id]; n != nil {
			if n.Overlay.Store != m.cl.URL && m.cl.URL != "" && !m.tr.DryRun() {
				// The daemon now reaches the store by another URL: the
				// shims of this host must dial that one.
				n.Overlay.Store = m.cl.URL
				errs = append(errs, m.save(n))
			}
			continue
		}
		n, err := fromDef(defs[id], m.cl)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkSynced(n, nets, routes); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := m.tr.Do(m.stateStep(n), nil); err != nil {
			errs = append(errs, err)
			continue
		}
		m.rehearse(n)
		if m.tr.DryRun() {
			if m.recordedOnly == nil {
				m.recordedOnly = map[string]bool{}
			}
			m.recordedOnly[n.ID] = true
		}
		nets = append(nets, n)
	}
	for _, n := range nets {
		if n.Driver != DriverOverlay || local[n.ID] == nil {
			continue
		}
		if _, ok := defs[n.ID]; ok {
			continue
		}
		if !m.tr.DryRun() {
			if err := m.reapStale(n); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if len(n.Containers) > 0 {
			errs = append(errs, fmt.Errorf("overlay network %s is gone from the cluster but %d container(s) here still use it", n.Name, len(n.Containers)))
			continue
		}
		errs = append(errs, m.removeLocal(n))
	}
	return errors.Join(errs...)
}

// checkSynced refuses to record another host's network here when its
// name or subnet collides with this host's networks or routes.
func checkSynced(n *Network, nets []*Network, routes []hostRoute) error {
	for _, o := range nets {
		if o.Name == n.Name {
			return fmt.Errorf("overlay network %s (%s) of the cluster: a network named %s already exists on this host", n.Name, short(n.ID), o.Name)
		}
	}
	if err := checkOverlap(n.Subnet(), nets, routes); err != nil {
		return fmt.Errorf("overlay network %s of the cluster: %w", n.Name, err)
	}
	return nil
}

// reserveOverlayIP claims the endpoint's address in the store (the
// cluster's IPAM: every host hands out addresses of the same subnet) and
// derives its MAC from it.
func (m *Manager) reserveOverlayIP(n *Network, ep *Endpoint, want netip.Addr, undo *cleanup.Stack) error {
	c, err := m.clusterFor(n)
	if err != nil {
		return err
	}
	ctx, cancel := clusterCtx()
	defer cancel()
	kvs, err := ipamClaims(ctx, c.Store, n.ID)
	if err != nil {
		return err
	}
	// allocate's rules (the gateway and the subnet's ends are never
	// handed out, the cursor, --ip), with the cluster's addresses as
	// the ones in use.
	view := &Network{Name: n.Name, IPAM: n.IPAM, LastIP: n.LastIP, Containers: map[string]*Endpoint{}}
	fill := func(kvs map[string][]byte) {
		for k, v := range kvs {
			if a, err := netip.ParseAddr(strings.TrimPrefix(k, prefixIPAM(n.ID))); err == nil {
				view.Containers[k] = &Endpoint{Name: string(v), IPv4Address: netip.PrefixFrom(a, 32).String()}
			}
		}
	}
	fill(kvs)
	ip, err := allocate(view, want)
	if err != nil {
		return err
	}
	owner := ep.Name + "@" + c.Advertise.String()
	st := stepT{
		ID: StepOverlayIPAM, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Reserva %s na rede %s no cluster", ip, n.Name), fmt.Sprintf("Claim %s on network %s in the cluster", ip, n.Name)),
		Why: text("Os endereços de uma overlay valem para o cluster inteiro: o IPAM é a chave ipam/REDE/IP no etcd, criada só se ainda não existe. Dois hosts pedindo o mesmo endereço ao mesmo tempo: um ganha, o outro tenta o próximo. O MAC sai do endereço (02:42 + os 4 bytes do IP, como no libnetwork), e assim qualquer host escreve as tabelas do VXLAN só com o que está no etcd.",
			"An overlay's addresses hold for the whole cluster: IPAM is the key ipam/NETWORK/IP in etcd, created only if it does not exist yet. Two hosts asking for one address at once: one wins, the other tries the next. The MAC comes from the address (02:42 + the IP's 4 bytes, as in libnetwork), so any host writes the VXLAN's tables from what etcd holds alone."),
		Shell: etcdPutNewShell(keyIPAM(n.ID, ip), owner),
		Do: func() error {
			for try := 0; try < overlayClaimsMax; try++ {
				ok, err := c.Store.PutNew(ctx, keyIPAM(n.ID, ip), []byte(owner))
				if err != nil {
					return fmt.Errorf("claim %s: %w", keyIPAM(n.ID, ip), err)
				}
				if ok {
					return nil
				}
				if want.IsValid() {
					return fmt.Errorf("address %s is already in use on network %s (in the cluster)", want, n.Name)
				}
				kvs, err := ipamClaims(ctx, c.Store, n.ID)
				if err != nil {
					return err
				}
				fill(kvs)
				if ip, err = allocate(view, netip.Addr{}); err != nil {
					return err
				}
			}
			return fmt.Errorf("no address claimed on network %s after %d tries", n.Name, overlayClaimsMax)
		},
		Undo:      func() error { return deleteKeys(c.Store, keyIPAM(n.ID, ip)) },
		Evidence:  func() string { return fmt.Sprintf("etcdctl get %s → %s", keyIPAM(n.ID, ip), owner) },
		UndoShell: "etcdctl del " + keyIPAM(n.ID, ip),
	}
	if err := m.tr.Do(st, undo); err != nil {
		return err
	}
	ep.IPv4Address = netip.PrefixFrom(ip, n.Subnet().Bits()).String()
	ep.MacAddress = macFromIP(ip).String()
	return nil
}

// publishStep writes the attached endpoint under endpoints/NETID/EPID:
// from then on every other host's SyncOverlayPeers programs it.
func publishStep(c Cluster, n *Network, ep *Endpoint) stepT {
	key := keyEndpoint(n.ID, ep.EndpointID)
	peer := OverlayPeer{EndpointID: ep.EndpointID, ContainerID: ep.ContainerID, Name: ep.Name, IP: ep.IP().String(),
		MAC: macFromIP(ep.IP()).String(), Host: c.Advertise.String(), Aliases: ep.Aliases}
	b, _ := json.Marshal(peer)
	return stepT{
		ID: StepOverlayEndpoint, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Anuncia %s (%s) no cluster", ep.Name, ep.IP()), fmt.Sprintf("Announce %s (%s) to the cluster", ep.Name, ep.IP())),
		Why: text("IP, MAC e o host onde o contêiner está vão para o etcd: os outros hosts, avisados pelo watch, escrevem o MAC no FDB e o IP na tabela de vizinhos dos seus VXLANs, e os seus DNS passam a responder o nome.",
			"IP, MAC and the host the container is on go to etcd: the other hosts, told by their watch, write the MAC into their VXLANs' FDB and the IP into the neighbour table, and their DNS servers start answering the name."),
		Shell: "etcdctl put " + key + " " + shQuoteData(string(b)),
		Do: func() error {
			ctx, cancel := clusterCtx()
			defer cancel()
			if err := c.Store.Put(ctx, key, b); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			return nil
		},
		Undo:      func() error { return deleteKeys(c.Store, key) },
		Evidence:  func() string { return "etcdctl get " + key + " → " + string(b) },
		UndoShell: "etcdctl del " + key,
	}
}

// detachOverlay is Detach's store part: the endpoint's announcement and
// its address claim go (both idempotent).
func (m *Manager) detachOverlay(n *Network, ep *Endpoint) error {
	c, err := m.clusterFor(n)
	if err != nil {
		return err
	}
	key := keyEndpoint(n.ID, ep.EndpointID)
	if err := m.tr.Do(stepT{
		ID: StepOverlayEndpointDelete, Chapter: explain.ChapterNetwork,
		Title: text("Retira "+ep.Name+" do cluster", "Withdraw "+ep.Name+" from the cluster"),
		Why: text("Sem a chave, o sync dos outros hosts apaga o FDB e o vizinho do contêiner nos seus VXLANs, e os seus DNS esquecem o nome.",
			"Without the key, the other hosts' sync deletes the container's FDB and neighbour entries on their VXLANs, and their DNS servers forget the name."),
		Shell: "etcdctl del " + key,
		Do:    func() error { return deleteKeys(c.Store, key) },
	}, nil); err != nil {
		return err
	}
	ip := ep.IP()
	if !ip.IsValid() {
		return nil
	}
	ikey := keyIPAM(n.ID, ip)
	return m.tr.Do(stepT{
		ID: StepOverlayIPAMRelease, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Devolve %s ao IPAM do cluster", ip), fmt.Sprintf("Release %s to the cluster's IPAM", ip)),
		Why: text("O endereço volta a estar livre para qualquer host da rede.",
			"The address is free again for any host of the network."),
		Shell: "etcdctl del " + ikey,
		Do:    func() error { return deleteKeys(c.Store, ikey) },
	}, nil)
}
