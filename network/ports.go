package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParsePublish parses one value of Docker's -p flag,
// [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp], into port mappings. Ports
// may be ranges of the same length (8000-8002:80-82). A missing host port
// is 0: Reserve picks a free one from the ephemeral range. It only parses;
// whether the host port is free is checked by Reserve.
func ParsePublish(spec string) ([]PortMapping, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("invalid publish spec %q: %s", spec, fmt.Sprintf(format, a...))
	}
	rest, proto, hasProto := strings.Cut(spec, "/")
	proto = strings.ToLower(proto)
	switch {
	case !hasProto:
		proto = "tcp"
	case proto == "tcp" || proto == "udp":
	case proto == "sctp":
		return nil, bad("sctp is not supported by minirun, only tcp and udp")
	default:
		return nil, bad("unknown protocol %q: use tcp or udp", proto)
	}
	if strings.HasPrefix(rest, "[") {
		return nil, bad("IPv6 host addresses are not supported by minirun")
	}
	parts := strings.Split(rest, ":")
	var hostIP, hostPorts, ctrPorts string
	switch len(parts) {
	case 1:
		ctrPorts = parts[0]
	case 2:
		hostPorts, ctrPorts = parts[0], parts[1]
	case 3:
		hostIP, hostPorts, ctrPorts = parts[0], parts[1], parts[2]
	default:
		return nil, bad("too many colons: the form is [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]")
	}
	if hostIP != "" {
		a, err := netip.ParseAddr(hostIP)
		if err != nil {
			return nil, bad("host address %q is not an IP address", hostIP)
		}
		if !a.Is4() {
			return nil, bad("IPv6 host addresses are not supported by minirun")
		}
		if a.IsUnspecified() {
			hostIP = "" // 0.0.0.0: every address, as when omitted
		} else {
			hostIP = a.String()
		}
	}
	if ctrPorts == "" {
		return nil, bad("no container port")
	}
	cLo, cHi, err := parsePortRange(ctrPorts)
	if err != nil {
		return nil, bad("container port: %v", err)
	}
	var hLo, hHi uint16
	if hostPorts != "" {
		hLo, hHi, err = parsePortRange(hostPorts)
		if err != nil {
			return nil, bad("host port: %v", err)
		}
		if hHi-hLo != cHi-cLo {
			return nil, bad("host range %s and container range %s differ in size", hostPorts, ctrPorts)
		}
	}
	var out []PortMapping
	for i := 0; i <= int(cHi-cLo); i++ {
		m := PortMapping{HostIP: hostIP, ContainerPort: cLo + uint16(i), Proto: proto}
		if hostPorts != "" {
			m.HostPort = hLo + uint16(i)
		}
		out = append(out, m)
	}
	return out, nil
}

// PublishAll is -P: every port the image exposes ("80/tcp", "53/udp", as
// in the image config's ExposedPorts) published on a free host port.
func PublishAll(exposed []string) ([]PortMapping, error) {
	var out []PortMapping
	for _, e := range exposed {
		if strings.Contains(e, ":") {
			return nil, fmt.Errorf("invalid exposed port %q: expected PORT[/PROTO]", e)
		}
		ms, err := ParsePublish(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// parsePortRange parses "80" or "8000-8010"; zero is refused.
func parsePortRange(s string) (uint16, uint16, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return a, a, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return 0, 0, err
	}
	if b < a {
		return 0, 0, fmt.Errorf("range %s ends before it starts", s)
	}
	return a, b, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("port 0 is not allowed")
	}
	return uint16(n), nil
}

// ErrPortInUse means a host port is taken, by another program or by
// another container's published port.
var ErrPortInUse = errors.New("port is already allocated")

// probePort checks that the host port is free right now by binding it the
// way a server would (no SO_REUSEADDR), then closing the socket. A server
// started later on the same port will not get the traffic: the DNAT rule
// wins. docker-proxy keeps the port bound for that reason; minirun has no
// daemon to hold it (docs/network.md#network-dnat).
func probePort(p PortMapping) error {
	typ := unix.SOCK_STREAM
	if p.Proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("probe host port %d/%s: %w", p.HostPort, p.Proto, err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet4{Port: int(p.HostPort)}
	if p.HostIP != "" {
		a, err := netip.ParseAddr(p.HostIP)
		if err != nil {
			return err
		}
		sa.Addr = a.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("bind for %s:%d/%s failed: %w (another program on the host uses it)", hostIPText(p.HostIP), p.HostPort, p.Proto, ErrPortInUse)
		}
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("bind for %s:%d/%s failed: %s is not an address of this host", p.HostIP, p.HostPort, p.Proto, p.HostIP)
		}
		return fmt.Errorf("bind for %s:%d/%s: %w", hostIPText(p.HostIP), p.HostPort, p.Proto, err)
	}
	if typ == unix.SOCK_STREAM {
		// bind alone can succeed next to a socket that only connects;
		// listen is what a server needs.
		if err := unix.Listen(fd, 1); err != nil {
			return fmt.Errorf("listen on %s:%d/tcp failed: %w", hostIPText(p.HostIP), p.HostPort, ErrPortInUse)
		}
	}
	return nil
}

func hostIPText(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// clash reports whether two mappings compete for the same host socket:
// same protocol and port, and addresses that overlap (either is "every
// address", or they are equal).
func clash(a, b PortMapping) bool {
	return a.Proto == b.Proto && a.HostPort == b.HostPort &&
		(a.HostIP == "" || b.HostIP == "" || a.HostIP == b.HostIP)
}

// ephemeralRange reads the kernel's ephemeral port range (ip(7),
// ip_local_port_range), where -P and "-p 80" take their host ports from,
// as Docker does.
func ephemeralRange() (uint16, uint16) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, e1 := strconv.ParseUint(f[0], 10, 16)
			hi, e2 := strconv.ParseUint(f[1], 10, 16)
			if e1 == nil && e2 == nil && lo > 0 && hi >= lo {
				return uint16(lo), uint16(hi)
			}
		}
	}
	return 32768, 60999
}

// pickHostPort chooses a random free port of the ephemeral range for p:
// not published by another endpoint (taken) and bindable on the host.
func pickHostPort(p PortMapping, taken []PortMapping) (uint16, error) {
	lo, hi := ephemeralRange()
	span := int64(hi-lo) + 1
	for try := 0; try < 128; try++ {
		n, err := rand.Int(rand.Reader, big.NewInt(span))
		if err != nil {
			return 0, err
		}
		c := p
		c.HostPort = lo + uint16(n.Int64())
		if inUse(c, taken) || probePort(c) != nil {
			continue
		}
		return c.HostPort, nil
	}
	return 0, fmt.Errorf("no free host port for %d/%s in %d-%d", p.ContainerPort, p.Proto, lo, hi)
}

func inUse(p PortMapping, taken []PortMapping) bool {
	for _, t := range taken {
		if clash(p, t) {
			return true
		}
	}
	return false
}
