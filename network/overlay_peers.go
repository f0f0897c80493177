package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The overlay's control plane on each host: the store lists every
// endpoint of the network with its IP, MAC and host; each remote one
// becomes two kernel entries on the local VXLAN, the same two that
// libnetwork's peerAdd writes (drivers/overlay/peerdb.go):
//
//	bridge fdb replace MAC dev mrvx… dst HOST self permanent
//	    the forwarding table: a frame for MAC goes in a UDP packet to HOST
//	ip neigh replace IP lladdr MAC dev mrvx… nud permanent
//	    the neighbour table `proxy` answers ARP from: who-has IP → MAC
//
// `replace` rather than `append`: an address that moved to another host
// (a container removed on A, the address handed out again on B) must
// change its entry, not gain a second one. Entries are only ever taken
// from minirun's own VXLAN devices, and only permanent ones, which only
// minirun writes there (learning is off).

// fdbEntry is one remote destination in a VXLAN's forwarding table.
type fdbEntry struct {
	MAC string
	Dst netip.Addr
}

// neighEntry is one entry of a VXLAN's neighbour table.
type neighEntry struct {
	IP  netip.Addr
	MAC string
}

// peerPlan is what a reconcile does: entries to delete, then peers to
// (re)write.
type peerPlan struct {
	DelFDB   []fdbEntry
	DelNeigh []neighEntry
	Add      []OverlayPeer
}

// planPeers compares the peers the store lists with the entries the
// VXLAN has. A peer whose two entries are already exact is left alone;
// any other is written (replace fixes a wrong one). An entry is deleted
// only when no peer wants its MAC (FDB) or IP (neighbour): one that a
// peer wants with another value is replaced instead.
func planPeers(want []OverlayPeer, fdb []fdbEntry, neigh []neighEntry) peerPlan {
	wantFDB, wantNeigh := map[string]bool{}, map[netip.Addr]bool{}
	haveFDB, haveNeigh := map[fdbEntry]bool{}, map[neighEntry]bool{}
	for _, p := range want {
		wantFDB[p.MAC] = true
		if ip, err := netip.ParseAddr(p.IP); err == nil {
			wantNeigh[ip] = true
		}
	}
	var plan peerPlan
	for _, e := range fdb {
		haveFDB[e] = true
		if !wantFDB[e.MAC] {
			plan.DelFDB = append(plan.DelFDB, e)
		}
	}
	for _, e := range neigh {
		haveNeigh[e] = true
		if !wantNeigh[e.IP] {
			plan.DelNeigh = append(plan.DelNeigh, e)
		}
	}
	for _, p := range want {
		ip, _ := netip.ParseAddr(p.IP)
		host, _ := netip.ParseAddr(p.Host)
		if !haveFDB[fdbEntry{p.MAC, host}] || !haveNeigh[neighEntry{ip, p.MAC}] {
			plan.Add = append(plan.Add, p)
		}
	}
	// Two MACs wanted at one FDB entry cannot be; but one MAC may have had
	// two stale destinations: every one not wanted is deleted above.
	return plan
}

// remotePeers reads the network's endpoints from the store and keeps
// those of other hosts, sorted by address.
func remotePeers(ctx context.Context, s ClusterStore, netID string, me netip.Addr) ([]OverlayPeer, error) {
	kvs, _, err := s.List(ctx, prefixEndpoints(netID))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefixEndpoints(netID), err)
	}
	var out []OverlayPeer
	for k, v := range kvs {
		var p OverlayPeer
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		ip, err1 := netip.ParseAddr(p.IP)
		host, err2 := netip.ParseAddr(p.Host)
		mac, err3 := net.ParseMAC(p.MAC)
		if err1 != nil || err2 != nil || err3 != nil || !ip.Is4() || !host.IsValid() {
			return nil, fmt.Errorf("%s: not an endpoint (ip %q, mac %q, host %q)", k, p.IP, p.MAC, p.Host)
		}
		if host == me {
			continue
		}
		p.MAC = mac.String()
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out, nil
}

// SyncOverlayPeers reconciles this host with the store's endpoints of
// network netID (name, id or id prefix): every remote endpoint gets its
// FDB and neighbour entries on the local VXLAN, entries of endpoints that
// are gone are deleted, and the network's record lists the remote
// endpoints for its DNS server. When the network has no devices here yet
// (no local container so far) only the record changes. It is idempotent;
// the daemon calls it on every change under /minirun/endpoints/NETID/ and
// after reconnecting.
func (m *Manager) SyncOverlayPeers(ctx context.Context, netID string) error {
	defer m.useDialed()()
	if m.cl.Store == nil {
		return ErrNoCluster
	}
	n, unlock, err := m.findLocked(netID)
	if err != nil {
		return err
	}
	defer unlock()
	if n.Driver != DriverOverlay {
		return fmt.Errorf("network %s is not an overlay network", n.Name)
	}
	return m.syncPeers(ctx, m.cl, n)
}

// syncPeers is SyncOverlayPeers with the lock held and n loaded.
func (m *Manager) syncPeers(ctx context.Context, c Cluster, n *Network) error {
	want, err := remotePeers(ctx, c.Store, n.ID, c.Advertise)
	if err != nil {
		return err
	}
	var errs []error
	if !reflect.DeepEqual(n.Overlay.Peers, want) && !(len(n.Overlay.Peers) == 0 && len(want) == 0) {
		errs = append(errs, m.tr.Do(m.peersStep(n, want), nil))
		m.rehearse(n)
	}
	var fdb []fdbEntry
	var neigh []neighEntry
	vx := n.Overlay.VXLAN
	if !m.tr.DryRun() {
		l, err := netlink.LinkByName(vx)
		if gone(err) {
			return errors.Join(errs...) // no device yet: the first Attach makes it and syncs
		}
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("look up %s: %w", vx, err))...)
		}
		if fdb, neigh, err = peerEntries(l.Attrs().Index); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	plan := planPeers(want, fdb, neigh)
	for _, e := range plan.DelFDB {
		errs = append(errs, m.tr.Do(fdbDeleteStep(vx, e), nil))
	}
	for _, e := range plan.DelNeigh {
		errs = append(errs, m.tr.Do(neighDeleteStep(vx, e), nil))
	}
	for _, p := range plan.Add {
		errs = append(errs, m.tr.Do(peerStep(vx, p), nil))
	}
	return errors.Join(errs...)
}

// peerEntries reads the permanent remote entries of the VXLAN at index.
func peerEntries(index int) ([]fdbEntry, []neighEntry, error) {
	fl, err := netlink.NeighList(index, unix.AF_BRIDGE)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge fdb show: %w", err)
	}
	var fdb []fdbEntry
	for _, e := range fl {
		if e.LinkIndex != index || e.Flags&netlink.NTF_SELF == 0 || e.State&netlink.NUD_PERMANENT == 0 || e.IP == nil {
			continue
		}
		dst, ok := netip.AddrFromSlice(e.IP.To4())
		if !ok || len(e.HardwareAddr) != 6 || isZeroMAC(e.HardwareAddr) {
			continue
		}
		fdb = append(fdb, fdbEntry{MAC: e.HardwareAddr.String(), Dst: dst})
	}
	nl, err := netlink.NeighList(index, unix.AF_INET)
	if err != nil {
		return nil, nil, fmt.Errorf("ip neigh show: %w", err)
	}
	var neigh []neighEntry
	for _, e := range nl {
		if e.LinkIndex != index || e.State&netlink.NUD_PERMANENT == 0 {
			continue
		}
		ip, ok := netip.AddrFromSlice(e.IP.To4())
		if !ok {
			continue
		}
		neigh = append(neigh, neighEntry{IP: ip, MAC: e.HardwareAddr.String()})
	}
	return fdb, neigh, nil
}

func isZeroMAC(m net.HardwareAddr) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}

func vxlanIndex(vx string) (int, error) {
	l, err := netlink.LinkByName(vx)
	if err != nil {
		return 0, fmt.Errorf("look up %s: %w", vx, err)
	}
	return l.Attrs().Index, nil
}

func fdbNeigh(index int, mac net.HardwareAddr, dst netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF, HardwareAddr: mac, IP: dst.AsSlice()}
}

func ipNeigh(index int, ip netip.Addr, mac net.HardwareAddr) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}
}

func peerStep(vx string, p OverlayPeer) stepT {
	mac, _ := net.ParseMAC(p.MAC)
	ip, _ := netip.ParseAddr(p.IP)
	host, _ := netip.ParseAddr(p.Host)
	return stepT{
		ID: StepOverlayPeer, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Ensina ao %s: %s (%s) está no host %s", vx, p.Name, ip, host), fmt.Sprintf("Teach %s: %s (%s) is on host %s", vx, p.Name, ip, host)),
		Why: text("Duas entradas, como o peerAdd do libnetwork: no FDB do VXLAN, o MAC "+p.MAC+" fica atrás de "+host.String()+" (um quadro para ele vai num pacote UDP 4789 para esse host); na tabela de vizinhos, "+ip.String()+" é "+p.MAC+", e o `proxy` do VXLAN responde o ARP dos contêineres daqui sem mandar nada pela rede.",
			"Two entries, as libnetwork's peerAdd writes: in the VXLAN's FDB, MAC "+p.MAC+" sits behind "+host.String()+" (a frame for it goes in a UDP 4789 packet to that host); in the neighbour table, "+ip.String()+" is "+p.MAC+", and the VXLAN's `proxy` answers the local containers' ARP without sending anything over the wire."),
		Shell: fmt.Sprintf("bridge fdb replace %s dev %s dst %s self permanent && ip neigh replace %s lladdr %s dev %s nud permanent", p.MAC, vx, host, ip, p.MAC, vx),
		Do: func() error {
			idx, err := vxlanIndex(vx)
			if err != nil {
				return err
			}
			if err := netlink.NeighSet(fdbNeigh(idx, mac, host)); err != nil {
				return fmt.Errorf("bridge fdb replace %s dev %s dst %s: %w", mac, vx, host, err)
			}
			if err := netlink.NeighSet(ipNeigh(idx, ip, mac)); err != nil {
				return fmt.Errorf("ip neigh replace %s dev %s: %w", ip, vx, err)
			}
			return nil
		},
		Evidence: func() string {
			return fmt.Sprintf("bridge fdb show dev %s | grep %s; ip neigh show dev %s %s", vx, p.MAC, vx, ip)
		},
		UndoShell: fmt.Sprintf("bridge fdb del %s dev %s dst %s self; ip neigh del %s dev %s", p.MAC, vx, host, ip, vx),
	}
}

func fdbDeleteStep(vx string, e fdbEntry) stepT {
	mac, _ := net.ParseMAC(e.MAC)
	return stepT{
		ID: StepOverlayPeerDelete, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Esquece %s atrás de %s no FDB de %s", e.MAC, e.Dst, vx), fmt.Sprintf("Forget %s behind %s in %s's FDB", e.MAC, e.Dst, vx)),
		Why: text("O endpoint saiu do etcd (o contêiner foi removido ou desconectado no outro host): a entrada permanente que o minirun escreveu sai também, senão quadros para esse MAC continuariam indo para um host que não o tem.",
			"The endpoint left etcd (its container was removed or disconnected on the other host): the permanent entry minirun wrote goes too, or frames for that MAC would keep going to a host that no longer has it."),
		Shell: fmt.Sprintf("bridge fdb del %s dev %s dst %s self", e.MAC, vx, e.Dst),
		Do: func() error {
			idx, err := vxlanIndex(vx)
			if err != nil {
				return err
			}
			if err := netlink.NeighDel(fdbNeigh(idx, mac, e.Dst)); err != nil && !gone(err) {
				return fmt.Errorf("bridge fdb del %s dev %s: %w", e.MAC, vx, err)
			}
			return nil
		},
	}
}

func neighDeleteStep(vx string, e neighEntry) stepT {
	mac, _ := net.ParseMAC(e.MAC)
	return stepT{
		ID: StepOverlayPeerDelete, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Esquece o vizinho %s em %s", e.IP, vx), fmt.Sprintf("Forget neighbour %s on %s", e.IP, vx)),
		Why: text("Sem a entrada, o `proxy` do VXLAN deixa de responder o ARP desse endereço: um contêiner daqui que o procure não recebe resposta, como numa LAN onde a máquina foi desligada.",
			"Without the entry the VXLAN's `proxy` stops answering ARP for that address: a local container looking for it gets no answer, as on a LAN whose machine was switched off."),
		Shell: fmt.Sprintf("ip neigh del %s dev %s", e.IP, vx),
		Do: func() error {
			idx, err := vxlanIndex(vx)
			if err != nil {
				return err
			}
			if err := netlink.NeighDel(ipNeigh(idx, e.IP, mac)); err != nil && !gone(err) {
				return fmt.Errorf("ip neigh del %s dev %s: %w", e.IP, vx, err)
			}
			return nil
		},
	}
}

func (m *Manager) peersStep(n *Network, peers []OverlayPeer) stepT {
	var names []string
	for _, p := range peers {
		names = append(names, p.Name+"="+p.IP+"@"+p.Host)
	}
	list := strings.Join(names, " ")
	if list == "" {
		list = "-"
	}
	b, _ := json.Marshal(peers)
	return stepT{
		ID: StepOverlayPeers, Chapter: explain.ChapterNetwork,
		Title: text("Registra os endpoints remotos da rede "+n.Name+": "+list, "Record network "+n.Name+"'s remote endpoints: "+list),
		Why: text("O servidor DNS da rede lê o JSON da rede: com os endpoints dos outros hosts lá, ele responde os nomes e aliases deles também, e um alias com contêineres em vários hosts vira um round robin entre todos.",
			"The network's DNS server reads the network's JSON: with the other hosts' endpoints in it, it answers their names and aliases too, and an alias with containers on several hosts becomes a round robin across all of them."),
		Shell: jqShell(m.dir, NetworkFile(m.dir, n.ID), ".Overlay.Peers = "+string(b)),
		Do: func() error {
			n.Overlay.Peers = peers
			return m.save(n)
		},
	}
}
