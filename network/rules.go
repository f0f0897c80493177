package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// A rule is one firewall rule described once and rendered three ways: as
// the netlink expressions the kernel runs (exprs), as the `nft add rule`
// line a student would type (nft) and as its iptables equivalent
// (iptables). Keeping one description is what lets `minirun explain` show
// exactly the rule that was installed; the root tests compare nft's own
// listing of the kernel's rules with rule.nftText.
type rule struct {
	table string // "minirun" (family ip) or "filter" (iptables' table)
	chain string
	conds []cond
	verd  verdict
	tag   string // comment: minirun:<id> of the owner
	// first puts the rule at the top of its chain (nft insert, iptables -I).
	first bool
}

// condKind is a kind of match.
type condKind int

const (
	condIIF        condKind = iota // iifname [!=] NAME
	condOIF                        // oifname [!=] NAME
	condSaddr                      // ip saddr [!=] PREFIX
	condDaddr                      // ip daddr [!=] PREFIX
	condL4Dport                    // meta l4proto P th dport N
	condCtState                    // ct state established,related
	condCtNew                      // ct state new
	condCtDNAT                     // ct status [!=] dnat
	condLocalDaddr                 // fib daddr type local
)

type cond struct {
	kind   condKind
	neg    bool
	name   string       // interface
	prefix netip.Prefix // address match
	proto  string       // tcp/udp
	port   uint16
}

type verdictKind int

const (
	vAccept verdictKind = iota
	vDrop
	vJump
	vMasquerade
	vDNAT
)

type verdict struct {
	kind  verdictKind
	chain string         // jump target
	to    netip.AddrPort // dnat target
}

func iif(name string) cond              { return cond{kind: condIIF, name: name} }
func notIIF(name string) cond           { return cond{kind: condIIF, name: name, neg: true} }
func oif(name string) cond              { return cond{kind: condOIF, name: name} }
func notOIF(name string) cond           { return cond{kind: condOIF, name: name, neg: true} }
func saddr(p netip.Prefix) cond         { return cond{kind: condSaddr, prefix: p} }
func daddr(p netip.Prefix) cond         { return cond{kind: condDaddr, prefix: p} }
func dport(proto string, p uint16) cond { return cond{kind: condL4Dport, proto: proto, port: p} }
func ctEstablished() cond               { return cond{kind: condCtState} }
func ctNew() cond                       { return cond{kind: condCtNew} }
func ctDNAT() cond                      { return cond{kind: condCtDNAT} }
func notCtDNAT() cond                   { return cond{kind: condCtDNAT, neg: true} }
func localDaddr() cond                  { return cond{kind: condLocalDaddr} }

var (
	accept     = verdict{kind: vAccept}
	drop       = verdict{kind: vDrop}
	masquerade = verdict{kind: vMasquerade}
)

func jump(chain string) verdict        { return verdict{kind: vJump, chain: chain} }
func dnatTo(to netip.AddrPort) verdict { return verdict{kind: vDNAT, to: to} }

// nftText is the rule as `nft add rule` takes it, and as `nft list` prints
// it back (without the counter's numbers).
func (r rule) nftText() string {
	var b []string
	for _, c := range r.conds {
		b = append(b, c.nft())
	}
	b = append(b, "counter")
	switch r.verd.kind {
	case vAccept:
		b = append(b, "accept")
	case vDrop:
		b = append(b, "drop")
	case vJump:
		b = append(b, "jump "+shChain(r.verd.chain))
	case vMasquerade:
		b = append(b, "masquerade")
	case vDNAT:
		b = append(b, "dnat to "+r.verd.to.String())
	}
	if r.tag != "" {
		b = append(b, fmt.Sprintf("comment %q", r.tag))
	}
	return strings.Join(b, " ")
}

// command is the whole `nft add rule ip TABLE CHAIN …` command.
func (r rule) command() string {
	verb := "add"
	if r.first {
		verb = "insert"
	}
	// The rule as one quoted word: the shell must not eat its double
	// quotes or its "!=" (nft joins its arguments back into one line).
	return fmt.Sprintf("nft %s rule ip %s %s %s", verb, shTable(r.table), shChain(r.chain), shQuote(r.nftText()))
}

func (c cond) nft() string {
	ne := ""
	if c.neg {
		ne = "!= "
	}
	switch c.kind {
	case condIIF:
		return fmt.Sprintf("iifname %s%q", ne, c.name)
	case condOIF:
		return fmt.Sprintf("oifname %s%q", ne, c.name)
	case condSaddr:
		return "ip saddr " + ne + prefixText(c.prefix)
	case condDaddr:
		return "ip daddr " + ne + prefixText(c.prefix)
	case condL4Dport:
		return fmt.Sprintf("%s dport %d", c.proto, c.port)
	case condCtState:
		return "ct state established,related"
	case condCtNew:
		return "ct state new"
	case condCtDNAT:
		if c.neg {
			return "ct status ! dnat"
		}
		return "ct status dnat"
	case condLocalDaddr:
		return "fib daddr type local"
	}
	return "?"
}

func prefixText(p netip.Prefix) string {
	if p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}

// iptables is the rule in iptables' syntax, for students who know that
// one (Docker's own rules are still read that way with `iptables -S`).
func (r rule) iptables() string {
	table, chain := "filter", strings.ToUpper(r.chain)
	switch r.chain {
	case "prerouting", "output", "postrouting", "ports":
		table = "nat"
	case "guard":
		table, chain = "raw", "PREROUTING"
	}
	if r.table == "filter" {
		chain = shChain(r.chain)
	}
	var b []string
	op := "-A"
	if r.first {
		op = "-I"
	}
	b = append(b, "iptables", "-t", table, op, chain)
	for _, c := range r.conds {
		b = append(b, c.iptables())
	}
	if r.tag != "" {
		b = append(b, "-m comment --comment "+r.tag)
	}
	switch r.verd.kind {
	case vAccept:
		b = append(b, "-j ACCEPT")
	case vDrop:
		b = append(b, "-j DROP")
	case vJump:
		b = append(b, "-j "+strings.ToUpper(r.verd.chain))
	case vMasquerade:
		b = append(b, "-j MASQUERADE")
	case vDNAT:
		b = append(b, "-j DNAT --to-destination "+r.verd.to.String())
	}
	return strings.Join(b, " ")
}

func (c cond) iptables() string {
	ne := ""
	if c.neg {
		ne = "! "
	}
	switch c.kind {
	case condIIF:
		return ne + "-i " + c.name
	case condOIF:
		return ne + "-o " + c.name
	case condSaddr:
		return ne + "-s " + c.prefix.String()
	case condDaddr:
		return ne + "-d " + c.prefix.String()
	case condL4Dport:
		return fmt.Sprintf("-p %s --dport %d", c.proto, c.port)
	case condCtState:
		return "-m conntrack --ctstate RELATED,ESTABLISHED"
	case condCtNew:
		return "-m conntrack --ctstate NEW"
	case condCtDNAT:
		if c.neg {
			return "-m conntrack ! --ctstate DNAT"
		}
		return "-m conntrack --ctstate DNAT"
	case condLocalDaddr:
		return "-m addrtype --dst-type LOCAL"
	}
	return "?"
}

// exprs renders the rule as the nftables virtual machine's expressions,
// in the same shapes nft(8) itself generates, so that `nft list` (and
// iptables-nft, for rules in its filter table) print them back as above.
func (r rule) exprs() []expr.Any {
	var out []expr.Any
	for _, c := range r.conds {
		out = append(out, c.exprs()...)
	}
	out = append(out, &expr.Counter{})
	switch r.verd.kind {
	case vAccept:
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case vDrop:
		out = append(out, &expr.Verdict{Kind: expr.VerdictDrop})
	case vJump:
		out = append(out, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.verd.chain})
	case vMasquerade:
		out = append(out, &expr.Masq{})
	case vDNAT:
		a := r.verd.to.Addr().As4()
		out = append(out,
			&expr.Immediate{Register: 1, Data: a[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.verd.to.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2})
	}
	return out
}

// ifnameBytes is an interface name as the kernel compares it: IFNAMSIZ
// bytes, NUL-padded (an exact match, not nft's "mr*" prefix match).
func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func cmpOp(neg bool) expr.CmpOp {
	if neg {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func (c cond) exprs() []expr.Any {
	switch c.kind {
	case condIIF, condOIF:
		key := expr.MetaKeyIIFNAME
		if c.kind == condOIF {
			key = expr.MetaKeyOIFNAME
		}
		return []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: cmpOp(c.neg), Register: 1, Data: ifnameBytes(c.name)},
		}
	case condSaddr, condDaddr:
		off := uint32(12) // struct iphdr: saddr at byte 12, daddr at 16
		if c.kind == condDaddr {
			off = 16
		}
		out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
		a := c.prefix.Masked().Addr().As4()
		if c.prefix.Bits() < 32 {
			m := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-c.prefix.Bits()))
			out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: make([]byte, 4)})
		}
		return append(out, &expr.Cmp{Op: cmpOp(c.neg), Register: 1, Data: a[:]})
	case condL4Dport:
		proto := byte(unix.IPPROTO_TCP)
		if c.proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(c.port)},
		}
	case condCtState, condCtNew:
		bits := expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED
		if c.kind == condCtNew {
			bits = expr.CtStateBitNEW
		}
		return []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		}
	case condCtDNAT:
		op := expr.CmpOpNeq // (status & dnat) != 0
		if c.neg {
			op = expr.CmpOpEq
		}
		return []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
			&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
		}
	case condLocalDaddr:
		return []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		}
	}
	return nil
}

// ipsDstNAT is IPS_DST_NAT from linux/netfilter/nf_conntrack_common.h: the
// connection's destination was rewritten (it came in through a DNAT rule).
const ipsDstNAT = 1 << 5

// userData is the rule's comment as nft(8) stores it (NFTNL_UDATA_RULE_COMMENT).
func (r rule) userData() []byte {
	if r.tag == "" {
		return nil
	}
	return userdata.AppendString(nil, userdata.TypeComment, r.tag)
}

// nftRule is the rule ready for nftables.Conn.AddRule.
func (r rule) nftRule(t *nftables.Table, c *nftables.Chain) *nftables.Rule {
	return &nftables.Rule{Table: t, Chain: c, Exprs: r.exprs(), UserData: r.userData()}
}

// commentOf reads a rule's comment back.
func commentOf(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}
