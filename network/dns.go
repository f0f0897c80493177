package network

import (
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// member is what the DNS server knows of one container of its network.
type member struct {
	Name    string
	ID      string
	Aliases []string
	IP      netip.Addr
}

// membersOf lists a network's attached endpoints as DNS members, an
// overlay's remote ones included.
func membersOf(n *Network) []member {
	var out []member
	for id, ep := range n.Containers {
		if !ep.Attached || !ep.IP().IsValid() {
			continue
		}
		out = append(out, member{Name: ep.Name, ID: id, Aliases: ep.Aliases, IP: ep.IP()})
	}
	if n.Overlay != nil {
		// An overlay's endpoints on other hosts (SyncOverlayPeers).
		for _, p := range n.Overlay.Peers {
			if ip, err := netip.ParseAddr(p.IP); err == nil {
				out = append(out, member{Name: p.Name, ID: p.ContainerID, Aliases: p.Aliases, IP: ip})
			}
		}
	}
	return out
}

// dnsTTL is 0: answers must not be cached, because membership changes
// the moment a container joins or leaves, and the round robin below only
// balances if every lookup reaches the server (RFC 2181 §8 allows 0).
const dnsTTL = 0

// Resolver answers one network's DNS queries (RFC 1035): the names, short
// ids and aliases of the network's current members, from Members; every
// other name goes to Forward (the upstream resolvers). It is the logic of
// the DNS server without its sockets, so it is tested in memory.
type Resolver struct {
	Network string       // the network's name: "web.NET" resolves too
	Subnet  netip.Prefix // only clients of the network are answered
	Members func() []member
	// Forward asks the upstream resolvers; nil means there are none.
	Forward func(q *dns.Msg, tcp bool) (*dns.Msg, error)

	mu   sync.Mutex
	turn map[string]int // round robin position per name
}

// Answer builds the reply to q from client.
func (r *Resolver) Answer(q *dns.Msg, client netip.Addr, tcp bool) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.RecursionAvailable = true
	// Only the network's own containers (and the host, whose address on
	// the bridge is in the subnet) may ask: the server must not tell
	// another network's containers who is here, nor be an open resolver.
	if !r.Subnet.Contains(client.Unmap()) {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	if q.Opcode != dns.OpcodeQuery || len(q.Question) != 1 {
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	}
	qn := q.Question[0]
	name := strings.ToLower(strings.TrimSuffix(qn.Name, "."))
	if qn.Qclass == dns.ClassINET {
		if qn.Qtype == dns.TypePTR {
			if done := r.answerPTR(resp, qn, name); done {
				return resp
			}
		} else if ips := r.lookup(name); len(ips) > 0 {
			resp.Authoritative = true
			if qn.Qtype == dns.TypeA || qn.Qtype == dns.TypeANY {
				for _, ip := range r.rotate(name, ips) {
					resp.Answer = append(resp.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: qn.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
						A:   ip.AsSlice(),
					})
				}
			}
			// Any other type (AAAA above all) gets NOERROR with no
			// answer: the name exists, it just has no such record. An
			// NXDOMAIN here would make some resolvers give up on the A.
			return resp
		}
	}
	if r.Forward == nil {
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	up, err := r.Forward(q, tcp)
	if err != nil || up == nil {
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	up.Id = q.Id
	return up
}

// lookup returns the addresses a name stands for: a container's name or
// id (full or the 12-character short one) is one address, an alias
// (--network-alias) may be several.
func (r *Resolver) lookup(name string) []netip.Addr {
	if r.Network != "" {
		name = strings.TrimSuffix(name, "."+strings.ToLower(r.Network))
	}
	var ips []netip.Addr
	for _, m := range r.Members() {
		match := strings.EqualFold(m.Name, name) || m.ID == name || (len(name) == 12 && strings.HasPrefix(m.ID, name))
		for _, a := range m.Aliases {
			match = match || strings.EqualFold(a, name)
		}
		if match {
			ips = append(ips, m.IP)
		}
	}
	return ips
}

// rotate is the round robin of `--network-alias` (the course's "DNS RR"):
// the addresses in a fixed order, started one further on each query, so
// clients that take the first answer spread over the members.
func (r *Resolver) rotate(name string, ips []netip.Addr) []netip.Addr {
	sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
	r.mu.Lock()
	if r.turn == nil {
		r.turn = map[string]int{}
	}
	k := r.turn[name] % len(ips)
	r.turn[name]++
	r.mu.Unlock()
	return append(append([]netip.Addr{}, ips[k:]...), ips[:k]...)
}

// answerPTR answers reverse lookups of the network's own addresses
// (2.0.78.10.in-addr.arpa → the container's name); it reports false for
// addresses outside the subnet, which are forwarded.
func (r *Resolver) answerPTR(resp *dns.Msg, qn dns.Question, name string) bool {
	rev, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return false
	}
	parts := strings.Split(rev, ".")
	if len(parts) != 4 {
		return false
	}
	ip, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
	if err != nil || !r.Subnet.Contains(ip) {
		return false
	}
	resp.Authoritative = true
	for _, m := range r.Members() {
		if m.IP == ip {
			resp.Answer = append(resp.Answer, &dns.PTR{
				Hdr: dns.RR_Header{Name: qn.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: dnsTTL},
				Ptr: dns.Fqdn(m.Name),
			})
			return true
		}
	}
	resp.Rcode = dns.RcodeNameError
	return true
}
