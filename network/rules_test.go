package network

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sampleNetworks() (*Network, *Network, *Endpoint) {
	n := netWith("curso", "10.78.0.0/24")
	n.ID = "0123456789ab" + strings.Repeat("0", 52)
	n.Bridge = "mr-0123456789ab"
	in := netWith("interna", "10.78.1.0/24")
	in.ID = "ba9876543210" + strings.Repeat("0", 52)
	in.Bridge = "mr-ba9876543210"
	in.Internal = true
	ep := &Endpoint{ContainerID: "feedfacecafe" + strings.Repeat("0", 52), IPv4Address: "10.78.0.2/24", Ports: []PortMapping{
		{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		{HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Proto: "udp"},
	}}
	return n, in, ep
}

// The rules minirun installs, in nft and iptables syntax, against a golden
// file a person has read (go test -run Rules -update rewrites it).
func TestRulesGolden(t *testing.T) {
	n, in, ep := sampleNetworks()
	var b strings.Builder
	section := func(name string, rs []rule) {
		b.WriteString("## " + name + "\n")
		for _, r := range rs {
			b.WriteString(r.command() + "\n")
			b.WriteString("#  " + r.iptables() + "\n")
		}
	}
	section("base", baseRules())
	section("masquerade curso", masqueradeRules(n))
	section("isolation curso", isolationRules(n))
	section("isolation interna (--internal)", isolationRules(in))
	section("guard curso", guardRules(n))
	section("forward accept curso", forwardAcceptRules(n))
	section("forward accept interna", forwardAcceptRules(in))
	section("input accept curso", inputAcceptRules(n))
	section("jump", []rule{compatJump("FORWARD", compatForward)})
	section("ports of a container", portRules(ep))
	got := b.String()
	golden := filepath.Join("testdata", "rules.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("rules differ from %s (run with -update after checking):\n%s", golden, got)
	}
}

// The expressions have the shapes nft itself generates: an exact interface
// match compares all 16 bytes, a /24 is masked before the compare, the
// DNAT loads the address and the port in two registers.
func TestRuleExpressions(t *testing.T) {
	n, _, ep := sampleNetworks()
	m := masqueradeRules(n)[0].exprs() // ip saddr 10.78.0.0/24 oifname != BR oifname != lo masquerade
	if len(m) != 9 {
		t.Fatalf("%d expressions", len(m))
	}
	if bw, ok := m[1].(*expr.Bitwise); !ok || string(bw.Mask) != "\xff\xff\xff\x00" {
		t.Fatalf("mask %#v", m[1])
	}
	if c, ok := m[4].(*expr.Cmp); !ok || c.Op != expr.CmpOpNeq || len(c.Data) != 16 || string(c.Data[:15]) != "mr-0123456789ab" {
		t.Fatalf("oifname compare %#v", m[4])
	}
	if c, ok := m[6].(*expr.Cmp); !ok || c.Op != expr.CmpOpNeq || string(c.Data[:3]) != "lo\x00" {
		t.Fatalf("oifname != lo compare %#v", m[6])
	}
	if _, ok := m[8].(*expr.Masq); !ok {
		t.Fatal("no masquerade")
	}
	d := portRules(ep)[0].exprs()
	nat, ok := d[len(d)-1].(*expr.NAT)
	if !ok || nat.Type != expr.NATTypeDestNAT || nat.RegAddrMin != 1 || nat.RegProtoMin != 2 {
		t.Fatalf("dnat %#v", d[len(d)-1])
	}
	if im := d[len(d)-3].(*expr.Immediate); string(im.Data) != "\x0a\x4e\x00\x02" {
		t.Fatalf("dnat address %v", im.Data)
	}
	if c := portRules(ep)[0].userData(); commentOfBytes(c) != "minirun:feedfacecafe" {
		t.Fatalf("comment %q", c)
	}
}

func commentOfBytes(b []byte) string {
	if len(b) < 2 {
		return ""
	}
	return strings.TrimRight(string(b[2:2+int(b[1])]), "\x00")
}
