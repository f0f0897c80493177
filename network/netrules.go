package network

import (
	"net/netip"
)

// The nftables objects minirun owns. Everything lives in one table of the
// ip family, "minirun", which nothing else writes to and which is deleted
// when the last network goes, so `nft list table ip minirun` shows the
// whole of minirun's firewall and nothing of anybody else's is touched.
const (
	tableName = "minirun"
	// Base chains (attached to a netfilter hook) and regular chains (only
	// reached by a jump). See nft(8), CHAINS.
	chainPrerouting  = "prerouting"  // nat, hook prerouting, dstnat (-100)
	chainOutput      = "output"      // nat, hook output, dstnat (-100)
	chainPostrouting = "postrouting" // nat, hook postrouting, srcnat (100)
	chainForward     = "forward"     // filter, hook forward, filter (0)
	chainGuard       = "guard"       // filter, hook prerouting, mangle (-150)
	chainPorts       = "ports"       // regular: one DNAT rule per published port
	chainIsolation   = "isolation"   // regular: stage 2 of network isolation

	// baseTag marks the table's own structural rules (the jumps to ports).
	baseTag = "minirun"
)

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// baseRules are the table's structural rules: packets addressed to any
// address of the host itself (fib daddr type local: the host's IPs and
// 127.0.0.1) go through the ports chain, whether they come from outside
// (prerouting) or from a program on the host (output).
func baseRules() []rule {
	return []rule{
		{table: tableName, chain: chainPrerouting, conds: []cond{localDaddr()}, verd: jump(chainPorts), tag: baseTag},
		{table: tableName, chain: chainOutput, conds: []cond{localDaddr()}, verd: jump(chainPorts), tag: baseTag},
	}
}

// masqueradeRules let containers reach the outside world with the host's
// address (SNAT to the outgoing interface's address, masquerade):
//  1. traffic from the subnet that leaves through another interface —
//     traffic that stays on the bridge keeps its addresses, and so does
//     the host's own traffic from its gateway address to itself (out
//     through lo: a query from the host to the network's DNS server,
//     which must see the gateway, an address of the subnet, as the
//     client, not the host's address on another link);
//  2. connections a program on the host opened to 127.0.0.1:PORT that the
//     output chain sent to a container: the container must not see (and
//     answer to) 127.0.0.1, its own loopback;
//  3. "hairpin": a container that reached a published port of the host and
//     was sent back into its own bridge; without it the answer would come
//     straight from the other container's address and be dropped.
func masqueradeRules(n *Network) []rule {
	br, sub, tag := n.Bridge, n.Subnet(), n.Tag()
	return []rule{
		{table: tableName, chain: chainPostrouting, conds: []cond{saddr(sub), notOIF(br), notOIF("lo")}, verd: masquerade, tag: tag},
		{table: tableName, chain: chainPostrouting, conds: []cond{oif(br), saddr(loopback)}, verd: masquerade, tag: tag},
		{table: tableName, chain: chainPostrouting, conds: []cond{oif(br), saddr(sub), ctDNAT()}, verd: masquerade, tag: tag},
	}
}

// isolationRules keep networks apart and the outside out, as Docker's
// DOCKER-ISOLATION-STAGE-1/2 chains do:
//   - stage 1 (forward): a packet from this bridge going to another
//     interface jumps to the isolation chain;
//   - stage 2 (isolation): there, a packet going out to this bridge is
//     dropped — so a packet from network A to network B meets A's stage 1
//     and B's stage 2;
//   - a new connection coming into the bridge from outside is dropped
//     unless a published port's DNAT sent it there (ct status dnat).
//
// An internal network drops everything that crosses its bridge's border.
func isolationRules(n *Network) []rule {
	br, tag := n.Bridge, n.Tag()
	if n.Internal {
		return []rule{
			{table: tableName, chain: chainForward, conds: []cond{iif(br), notOIF(br)}, verd: drop, tag: tag},
			{table: tableName, chain: chainForward, conds: []cond{oif(br), notIIF(br)}, verd: drop, tag: tag},
		}
	}
	return []rule{
		{table: tableName, chain: chainForward, conds: []cond{iif(br), notOIF(br)}, verd: jump(chainIsolation), tag: tag},
		{table: tableName, chain: chainIsolation, conds: []cond{oif(br)}, verd: drop, tag: tag},
		{table: tableName, chain: chainForward, conds: []cond{oif(br), notIIF(br), ctNew(), notCtDNAT()}, verd: drop, tag: tag},
	}
}

// guardRules close the hole route_localnet=1 opens (CVE-2020-8558): with
// it, a container could send a packet to 127.0.0.1 through the bridge and
// reach a service the host only offers on loopback. The chain runs before
// NAT (priority -150), so answers to the host's own localhost connections,
// still addressed to the gateway there, are not affected.
func guardRules(n *Network) []rule {
	return []rule{
		{table: tableName, chain: chainGuard, conds: []cond{iif(n.Bridge), daddr(loopback)}, verd: drop, tag: n.Tag()},
	}
}

// portRules are the DNAT rules of an endpoint's published ports: in the
// ports chain, reached only for packets addressed to the host.
func portRules(ep *Endpoint) []rule {
	var out []rule
	for _, p := range ep.Ports {
		var conds []cond
		if p.HostIP != "" {
			a, _ := netip.ParseAddr(p.HostIP)
			conds = append(conds, daddr(netip.PrefixFrom(a, 32)))
		}
		conds = append(conds, dport(p.Proto, p.HostPort))
		out = append(out, rule{
			table: tableName, chain: chainPorts, conds: conds,
			verd: dnatTo(netip.AddrPortFrom(ep.IP(), p.ContainerPort)), tag: tagOf(ep.ContainerID),
		})
	}
	return out
}

// The iptables-nft table and chains minirun may have to add rules to when
// the host's FORWARD (or INPUT) policy is DROP (docs/network.md#network-forward).
const (
	filterTable   = "filter"
	compatForward = "MINIRUN-FORWARD"
	compatInput   = "MINIRUN-INPUT"
)

// forwardAcceptRules let the network's traffic through a host whose
// iptables FORWARD policy is DROP (Docker sets it). They use only matches
// iptables-nft can print back (interface names, no conntrack), so that
// `iptables -S` keeps working for Docker and for the student; minirun's
// own table still does the isolation.
func forwardAcceptRules(n *Network) []rule {
	br, tag := n.Bridge, n.Tag()
	if n.Internal {
		return []rule{{table: filterTable, chain: compatForward, conds: []cond{iif(br), oif(br)}, verd: accept, tag: tag}}
	}
	return []rule{
		{table: filterTable, chain: compatForward, conds: []cond{iif(br)}, verd: accept, tag: tag},
		{table: filterTable, chain: compatForward, conds: []cond{oif(br)}, verd: accept, tag: tag},
	}
}

// inputAcceptRules let containers reach their network's DNS server on a
// host whose INPUT policy is DROP (ufw's default, for example).
func inputAcceptRules(n *Network) []rule {
	br, tag := n.Bridge, n.Tag()
	return []rule{
		{table: filterTable, chain: compatInput, conds: []cond{iif(br), dport("udp", 53)}, verd: accept, tag: tag},
		{table: filterTable, chain: compatInput, conds: []cond{iif(br), dport("tcp", 53)}, verd: accept, tag: tag},
	}
}

// compatJump is the one rule minirun adds to a chain it does not own: at
// the top of iptables' FORWARD (or INPUT), a jump to minirun's chain.
func compatJump(hookChain, target string) rule {
	return rule{table: filterTable, chain: hookChain, verd: jump(target), tag: baseTag, first: true}
}
