package network

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func testResolver(fwd func(*dns.Msg, bool) (*dns.Msg, error)) *Resolver {
	mem := []member{
		{Name: "web1", ID: "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001", Aliases: []string{"web"}, IP: netip.MustParseAddr("10.78.0.2")},
		{Name: "web2", ID: "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002", Aliases: []string{"web"}, IP: netip.MustParseAddr("10.78.0.3")},
		{Name: "web3", ID: "cccccccccccc0000000000000000000000000000000000000000000000000003", Aliases: []string{"Web"}, IP: netip.MustParseAddr("10.78.0.4")},
		{Name: "db", ID: "dddddddddddd0000000000000000000000000000000000000000000000000004", IP: netip.MustParseAddr("10.78.0.5")},
	}
	return &Resolver{Network: "curso", Subnet: netip.MustParsePrefix("10.78.0.0/24"),
		Members: func() []member { return mem }, Forward: fwd}
}

var client = netip.MustParseAddr("10.78.0.9")

func ask(r *Resolver, name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	return r.Answer(q, client, false)
}

func aRecords(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestDNSNamesAndIDs(t *testing.T) {
	r := testResolver(nil)
	for _, name := range []string{"db", "DB", "db.curso", "dddddddddddd", "dddddddddddd0000000000000000000000000000000000000000000000000004"} {
		m := ask(r, name, dns.TypeA)
		if got := aRecords(m); len(got) != 1 || got[0] != "10.78.0.5" || !m.Authoritative || m.Rcode != dns.RcodeSuccess {
			t.Errorf("%s: %v rcode %s", name, got, dns.RcodeToString[m.Rcode])
		}
	}
}

// An alias shared by several containers answers all of them, starting one
// further on each query: DNS round robin (docker run --network-alias).
func TestDNSAliasRoundRobin(t *testing.T) {
	r := testResolver(nil)
	var firsts []string
	for i := 0; i < 6; i++ {
		got := aRecords(ask(r, "web", dns.TypeA))
		if len(got) != 3 {
			t.Fatalf("web: %v, want 3 addresses", got)
		}
		firsts = append(firsts, got[0])
		if i == 0 && strings.Join(got, " ") != "10.78.0.2 10.78.0.3 10.78.0.4" {
			t.Fatalf("first answer %v", got)
		}
	}
	if strings.Join(firsts, " ") != "10.78.0.2 10.78.0.3 10.78.0.4 10.78.0.2 10.78.0.3 10.78.0.4" {
		t.Fatalf("order does not rotate: firsts %v", firsts)
	}
}

func TestDNSOtherTypesAndReverse(t *testing.T) {
	r := testResolver(nil)
	if m := ask(r, "db", dns.TypeAAAA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Fatalf("AAAA of a member: rcode %s, %d answers (want NOERROR, none)", dns.RcodeToString[m.Rcode], len(m.Answer))
	}
	m := ask(r, "5.0.78.10.in-addr.arpa", dns.TypePTR)
	if len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "db." {
		t.Fatalf("PTR: %v", m.Answer)
	}
	if m := ask(r, "77.0.78.10.in-addr.arpa", dns.TypePTR); m.Rcode != dns.RcodeNameError {
		t.Fatalf("PTR of a free address: %s", dns.RcodeToString[m.Rcode])
	}
}

func TestDNSForwardsTheRest(t *testing.T) {
	var asked []string
	r := testResolver(func(q *dns.Msg, tcp bool) (*dns.Msg, error) {
		asked = append(asked, q.Question[0].Name)
		resp := new(dns.Msg)
		resp.SetReply(q)
		resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{198, 51, 100, 7}})
		return resp, nil
	})
	if got := aRecords(ask(r, "example.org", dns.TypeA)); len(got) != 1 || got[0] != "198.51.100.7" {
		t.Fatalf("forwarded answer %v", got)
	}
	if len(asked) != 1 || asked[0] != "example.org." {
		t.Fatalf("upstream asked %v", asked)
	}
	ask(r, "8.8.8.8.in-addr.arpa", dns.TypePTR)
	if len(asked) != 2 {
		t.Fatal("reverse lookup outside the subnet was not forwarded")
	}
	bad := testResolver(func(*dns.Msg, bool) (*dns.Msg, error) { return nil, errors.New("timeout") })
	if m := ask(bad, "example.org", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("upstream failure: %s", dns.RcodeToString[m.Rcode])
	}
	if m := ask(testResolver(nil), "example.org", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("no upstream: %s", dns.RcodeToString[m.Rcode])
	}
}

func TestDNSRefusesOutsiders(t *testing.T) {
	r := testResolver(nil)
	q := new(dns.Msg)
	q.SetQuestion("db.", dns.TypeA)
	if m := r.Answer(q, netip.MustParseAddr("10.78.1.2"), false); m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
		t.Fatalf("client of another network: %s %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
}

// Membership is read from the network's state: a container that is only
// reserved (not attached yet) is not answered.
func TestMembersOfAttachedOnly(t *testing.T) {
	n := netWith("n", "10.78.0.0/24")
	n.Containers["a"] = &Endpoint{Name: "a", IPv4Address: "10.78.0.2/24", Attached: true}
	n.Containers["b"] = &Endpoint{Name: "b", IPv4Address: "10.78.0.3/24"}
	if ms := membersOf(n); len(ms) != 1 || ms[0].Name != "a" {
		t.Fatalf("members %+v", ms)
	}
}

func TestParseUpstreams(t *testing.T) {
	got, err := parseUpstreams("127.0.0.1:5353, 192.0.2.53")
	if err != nil || strings.Join(got, " ") != "127.0.0.1:5353 192.0.2.53:53" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "dns.google", "1.2.3.4:x"} {
		if _, err := parseUpstreams(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
