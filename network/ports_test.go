package network

import (
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	tcp := func(ip string, h, c uint16) PortMapping {
		return PortMapping{HostIP: ip, HostPort: h, ContainerPort: c, Proto: "tcp"}
	}
	for _, tc := range []struct {
		spec string
		want []PortMapping
	}{
		{"80", []PortMapping{tcp("", 0, 80)}},
		{"8080:80", []PortMapping{tcp("", 8080, 80)}},
		{"127.0.0.1:8080:80", []PortMapping{tcp("127.0.0.1", 8080, 80)}},
		{"127.0.0.1::80", []PortMapping{tcp("127.0.0.1", 0, 80)}},
		{"0.0.0.0:8080:80", []PortMapping{tcp("", 8080, 80)}},
		{"8080:80/tcp", []PortMapping{tcp("", 8080, 80)}},
		{"5353:53/udp", []PortMapping{{HostPort: 5353, ContainerPort: 53, Proto: "udp"}}},
		{"53/UDP", []PortMapping{{ContainerPort: 53, Proto: "udp"}}},
		{"8000-8002:80-82", []PortMapping{tcp("", 8000, 80), tcp("", 8001, 81), tcp("", 8002, 82)}},
		{"80-81", []PortMapping{tcp("", 0, 80), tcp("", 0, 81)}},
	} {
		got, err := ParsePublish(tc.spec)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}

func TestParsePublishRejects(t *testing.T) {
	for spec, want := range map[string]string{
		"":               "no container port",
		"8080:":          "no container port",
		"abc":            "not a port number",
		"0":              "port 0",
		"70000":          "not a port number",
		"8080:80/sctp":   "sctp is not supported",
		"8080:80/icmp":   "unknown protocol",
		"[::1]:8080:80":  "IPv6",
		"::1:8080:80":    "too many colons",
		"1.2.3:8080:80":  "not an IP address",
		"8000-8001:80":   "differ in size",
		"90-80":          "ends before it starts",
		"a.b.c.d:1:2:3":  "too many colons",
		"127.0.0.1:x:80": "host port",
	} {
		_, err := ParsePublish(spec)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line containing %q", spec, err, want)
		}
	}
}

func TestPublishAll(t *testing.T) {
	got, err := PublishAll([]string{"80/tcp", "53/udp"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].HostPort != 0 || got[1].Proto != "udp" {
		t.Fatalf("got %+v", got)
	}
	if _, err := PublishAll([]string{"8080:80"}); err == nil {
		t.Fatal("PublishAll accepted a host port")
	}
}

func TestPortMappingString(t *testing.T) {
	if s := (PortMapping{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}).String(); s != "0.0.0.0:8080->80/tcp" {
		t.Fatal(s)
	}
}

func TestClash(t *testing.T) {
	all := PortMapping{HostPort: 8080, Proto: "tcp"}
	lo := PortMapping{HostIP: "127.0.0.1", HostPort: 8080, Proto: "tcp"}
	other := PortMapping{HostIP: "127.0.0.2", HostPort: 8080, Proto: "tcp"}
	udp := PortMapping{HostPort: 8080, Proto: "udp"}
	if !clash(all, lo) || !clash(lo, all) || clash(lo, other) || clash(all, udp) {
		t.Fatal("clash rules")
	}
}

// probePort finds a port a listener holds: the check Reserve makes before
// publishing. Binding a loopback port needs no privilege.
func TestProbePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	err = probePort(PortMapping{HostIP: "127.0.0.1", HostPort: port, Proto: "tcp"})
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("probe of a held port: %v", err)
	}
	if err := probePort(PortMapping{HostIP: "127.0.0.1", HostPort: port, Proto: "udp"}); err != nil {
		t.Fatalf("udp port of the same number is free: %v", err)
	}
	ln.Close()
	if err := probePort(PortMapping{HostIP: "127.0.0.1", HostPort: port, Proto: "tcp"}); err != nil {
		t.Fatalf("released port: %v", err)
	}
}
