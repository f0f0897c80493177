package network

import (
	"fmt"
	"net/netip"
)

// reserved are ranges no container network may use: they mean something
// special to every host (RFC 6890).
var reserved = []struct {
	p    netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved for future use"},
}

// parseSubnet validates a --subnet value: IPv4, written as its network
// address, big enough for a gateway and one container, and not one of the
// special ranges.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: expected CIDR like 10.78.5.0/24", s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %s: IPv6 is not supported by minirun", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %s: host bits are set, did you mean %s?", s, p.Masked())
	}
	if p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %s: too small, a network needs at least a /30 (gateway + one container)", s)
	}
	for _, r := range reserved {
		if r.p.Overlaps(p) {
			return netip.Prefix{}, fmt.Errorf("invalid subnet %s: it overlaps %s (%s)", s, r.p, r.what)
		}
	}
	return p, nil
}

// parseGateway validates a --gateway value against the subnet; "" picks
// the subnet's first address, as Docker does.
func parseGateway(s string, subnet netip.Prefix) (netip.Addr, error) {
	if s == "" {
		return subnet.Addr().Next(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid gateway %q: expected an IPv4 address", s)
	}
	if !subnet.Contains(a) {
		return netip.Addr{}, fmt.Errorf("invalid gateway %s: not in subnet %s", a, subnet)
	}
	if a == subnet.Addr() || a == broadcast(subnet) {
		return netip.Addr{}, fmt.Errorf("invalid gateway %s: the network and broadcast addresses of %s cannot be used", a, subnet)
	}
	return a, nil
}

// broadcast is the last address of the subnet.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// hostRoute is one route of the host, for the overlap check.
type hostRoute struct {
	Dst netip.Prefix
	Dev string
}

// checkOverlap refuses a subnet that overlaps another minirun network (two
// bridges with the same addresses make routing ambiguous) or a route of
// the host (the host would send traffic for its LAN, VPN or another
// runtime's containers into the bridge). Default routes do not count.
func checkOverlap(p netip.Prefix, nets []*Network, routes []hostRoute) error {
	for _, n := range nets {
		if s := n.Subnet(); s.IsValid() && s.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps network %s (%s)", p, n.Name, s)
		}
	}
	for _, r := range routes {
		if r.Dst.Bits() > 0 && r.Dst.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps the host's route to %s on %s", p, r.Dst, r.Dev)
		}
	}
	return nil
}

// chooseSubnet picks the first /bits of the pool that checkOverlap accepts,
// as Docker walks its default-address-pools.
func chooseSubnet(pool netip.Prefix, bits int, nets []*Network, routes []hostRoute) (netip.Prefix, error) {
	if bits < pool.Bits() {
		return netip.Prefix{}, fmt.Errorf("pool %s cannot hold /%d subnets", pool, bits)
	}
	step := uint32(1) << (32 - bits)
	count := uint32(1) << (bits - pool.Bits())
	b := pool.Masked().Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for i := uint32(0); i < count; i++ {
		v := base + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		if checkOverlap(p, nets, routes) == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d left in the pool %s: remove unused networks (minirun network prune) or give --subnet", bits, pool)
}
