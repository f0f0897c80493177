package network

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The host's files WriteEtcFiles starts from; variables so tests can point
// them at fixtures.
var (
	hostResolvConf   = "/etc/resolv.conf"
	hostHosts        = "/etc/hosts"
	resolvedUpstream = "/run/systemd/resolve/resolv.conf"
)

// fallbackDNS is what Docker writes when the host only has loopback
// resolvers, which a container cannot reach from its own namespace.
var fallbackDNS = []string{"8.8.8.8", "8.8.4.4"}

// WriteEtcFiles writes, into dir, the three files the container manager
// bind-mounts at /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker
// writes them:
//
//   - hosts: localhost and the IPv6 names, then the container's hostname on
//     each of its addresses; on the host network, the host's own file;
//   - hostname: the hostname;
//   - resolv.conf: on a user-defined network, its DNS server (the gateway)
//     with the host's search domains and "options ndots:0" (so a bare
//     container name is asked as it is, first); on the default bridge or
//     none, the host's resolvers minus the loopback ones (a container has a
//     loopback of its own, where nothing answers), falling back to
//     systemd-resolved's real upstreams and then to Docker's 8.8.8.8; on
//     the host network, the host's file. dnsServer, when not empty,
//     replaces the nameservers (docker run --dns).
//
// The files are rewritten in place (truncate and write, never a rename), so
// after `network connect` a running container, which has them bind-mounted
// by inode, sees the new content.
func WriteEtcFiles(dir string, hostname string, eps []*Endpoint, dnsServer string) (hosts, hostnameFile, resolv string, err error) {
	hosts, hostnameFile, resolv = filepath.Join(dir, "hosts"), filepath.Join(dir, "hostname"), filepath.Join(dir, "resolv.conf")
	hostNet := false
	for _, ep := range eps {
		hostNet = hostNet || ep.HostNetwork()
	}
	var h string
	if hostNet {
		b, err := os.ReadFile(hostHosts)
		if err != nil {
			return "", "", "", fmt.Errorf("read %s: %w", hostHosts, err)
		}
		h = string(b)
	} else {
		h = hostsContent(hostname, eps)
	}
	if err := os.WriteFile(hosts, []byte(h), 0o644); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", hosts, err)
	}
	if err := os.WriteFile(hostnameFile, []byte(hostname+"\n"), 0o644); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", hostnameFile, err)
	}
	if err := os.WriteFile(resolv, []byte(resolvContent(eps, dnsServer, hostNet)), 0o644); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", resolv, err)
	}
	return hosts, hostnameFile, resolv, nil
}

func hostsContent(hostname string, eps []*Endpoint) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, ep := range eps {
		if ip := ep.IP(); ip.IsValid() && hostname != "" {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	return b.String()
}

func resolvContent(eps []*Endpoint, dnsServer string, hostNet bool) string {
	servers, search, options := readResolvConf(hostResolvConf)
	if hostNet && dnsServer == "" {
		if b, err := os.ReadFile(hostResolvConf); err == nil {
			return string(b)
		}
	}
	var out []string
	embedded := ""
	for _, ep := range eps {
		if ep.DNSServer != "" {
			embedded = ep.DNSServer
			break
		}
	}
	switch {
	case dnsServer != "":
		out = []string{dnsServer}
	case embedded != "":
		out = []string{embedded}
		options = append(withoutNdots(options), "ndots:0")
	default:
		out = nonLoopback(servers)
		if len(out) == 0 && len(servers) > 0 {
			// systemd-resolved's stub (127.0.0.53) is on the host's
			// loopback; its real upstreams are in another file.
			rs, _, _ := readResolvConf(resolvedUpstream)
			out = nonLoopback(rs)
		}
		if len(out) == 0 {
			out = fallbackDNS
		}
	}
	var b strings.Builder
	for _, s := range out {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

func nonLoopback(servers []string) []string {
	var out []string
	for _, s := range servers {
		if strings.HasPrefix(s, "127.") || s == "::1" {
			continue
		}
		out = append(out, s)
	}
	return out
}

func withoutNdots(opts []string) []string {
	var out []string
	for _, o := range opts {
		if !strings.HasPrefix(o, "ndots:") {
			out = append(out, o)
		}
	}
	return out
}
