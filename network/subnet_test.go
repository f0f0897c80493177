package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSubnet(t *testing.T) {
	if p, err := parseSubnet("10.78.5.0/24"); err != nil || p.String() != "10.78.5.0/24" {
		t.Fatalf("%v %v", p, err)
	}
	for in, want := range map[string]string{
		"10.78.5.1/24":   "did you mean 10.78.5.0/24",
		"10.78.5.0":      "expected CIDR",
		"fd00::/64":      "IPv6",
		"10.0.0.0/31":    "too small",
		"127.0.0.0/16":   "loopback",
		"169.254.0.0/16": "link-local",
		"224.1.0.0/16":   "multicast",
		"0.0.0.0/0":      "this network",
	} {
		_, err := parseSubnet(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestParseGateway(t *testing.T) {
	sub := netip.MustParsePrefix("10.78.5.0/24")
	if g, err := parseGateway("", sub); err != nil || g.String() != "10.78.5.1" {
		t.Fatalf("default gateway %v %v", g, err)
	}
	if g, err := parseGateway("10.78.5.254", sub); err != nil || g.String() != "10.78.5.254" {
		t.Fatalf("%v %v", g, err)
	}
	for _, bad := range []string{"10.78.6.1", "10.78.5.0", "10.78.5.255", "x", "fd00::1"} {
		if _, err := parseGateway(bad, sub); err == nil {
			t.Errorf("gateway %s accepted", bad)
		}
	}
}

func TestBroadcast(t *testing.T) {
	for in, want := range map[string]string{"10.77.0.0/16": "10.77.255.255", "10.78.5.0/24": "10.78.5.255", "192.0.2.8/30": "192.0.2.11"} {
		if b := broadcast(netip.MustParsePrefix(in)); b.String() != want {
			t.Errorf("%s: %s", in, b)
		}
	}
}

func netWith(name, subnet string) *Network {
	p := netip.MustParsePrefix(subnet)
	return &Network{Name: name, Driver: DriverBridge, IPAM: IPAM{Config: []IPAMConfig{{Subnet: subnet, Gateway: p.Addr().Next().String()}}}, Containers: map[string]*Endpoint{}}
}

func TestCheckOverlap(t *testing.T) {
	nets := []*Network{netWith("a", "10.78.0.0/24"), predefined(HostNetwork)}
	routes := []hostRoute{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"}, {Dst: netip.MustParsePrefix("192.168.1.0/24"), Dev: "eth0"}}
	if err := checkOverlap(netip.MustParsePrefix("10.78.1.0/24"), nets, routes); err != nil {
		t.Fatalf("free subnet refused (the default route must not count): %v", err)
	}
	err := checkOverlap(netip.MustParsePrefix("10.78.0.0/16"), nets, routes)
	if err == nil || !strings.Contains(err.Error(), "overlaps network a (10.78.0.0/24)") {
		t.Fatalf("overlap with a network: %v", err)
	}
	err = checkOverlap(netip.MustParsePrefix("192.168.0.0/16"), nets, routes)
	if err == nil || !strings.Contains(err.Error(), "route to 192.168.1.0/24 on eth0") {
		t.Fatalf("overlap with a route: %v", err)
	}
}

func TestChooseSubnetSkipsWhatIsTaken(t *testing.T) {
	pool := netip.MustParsePrefix("10.78.0.0/16")
	nets := []*Network{netWith("a", "10.78.0.0/24"), netWith("b", "10.78.2.0/23")}
	routes := []hostRoute{{Dst: netip.MustParsePrefix("10.78.1.128/25"), Dev: "tun0"}}
	p, err := chooseSubnet(pool, 24, nets, routes)
	if err != nil || p.String() != "10.78.4.0/24" {
		t.Fatalf("got %v %v, want 10.78.4.0/24", p, err)
	}
	small := netip.MustParsePrefix("10.78.0.0/23")
	if _, err := chooseSubnet(small, 24, nets, routes); err == nil || !strings.Contains(err.Error(), "no free /24") {
		t.Fatalf("full pool: %v", err)
	}
}

// The default subnets avoid Docker's (172.17.0.0/16, the pools from
// 172.18.0.0/16 on, 192.168.0.0/16 in /20s) and VirtualBox NAT's
// 10.0.2.0/24, and do not overlap each other.
func TestDefaultSubnetsAvoidDockerAndVirtualBox(t *testing.T) {
	def, pool := netip.MustParsePrefix(DefaultSubnet), netip.MustParsePrefix(UserPool)
	for _, other := range []string{"172.16.0.0/12", "192.168.0.0/16", "10.0.2.0/24", "10.88.0.0/16", "10.89.0.0/16"} {
		o := netip.MustParsePrefix(other)
		if def.Overlaps(o) || pool.Overlaps(o) {
			t.Errorf("default subnets overlap %s", o)
		}
	}
	if def.Overlaps(pool) {
		t.Error("default bridge subnet overlaps the user pool")
	}
}
