package network

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/minirun/minirun/explain"
)

// The host's files writeEtcFiles starts from; variables so tests can point
// them at fixtures.
var (
	hostResolvConf   = "/etc/resolv.conf"
	hostHosts        = "/etc/hosts"
	resolvedUpstream = "/run/systemd/resolve/resolv.conf"
)

// fallbackDNS is what Docker writes when the host only has loopback
// resolvers, which a container cannot reach from its own namespace.
var fallbackDNS = []string{"8.8.8.8", "8.8.4.4"}

// writeEtcFiles writes, into dir, the three files the container manager
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
//
// Only steps call it (EtcWriteStep before the container starts,
// EtcFilesStep after connect and disconnect): what the container will read
// as its /etc is a change the narration shows, content included.
func writeEtcFiles(dir string, hostname string, eps []*Endpoint, dnsServer string) (hosts, hostnameFile, resolv string, err error) {
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

// EtcWriteStep writes, in the container's directory dir, the files the
// container gets at /etc/hosts, /etc/hostname and /etc/resolv.conf for its
// endpoints eps, before its init starts: they are files of the host that
// the init bind-mounts over the image's, as Docker does with the files in
// /var/lib/docker/containers/ID/. Its evidence is their content.
func EtcWriteStep(dir, hostname string, eps []*Endpoint) explain.Step {
	return stepT{
		ID: StepEtcWrite, Chapter: explain.ChapterNetwork,
		Title: text("Escreve /etc/hosts, /etc/hostname e /etc/resolv.conf do contêiner",
			"Write the container's /etc/hosts, /etc/hostname and /etc/resolv.conf"),
		Why: text("A imagem traz os seus, que não sabem o nome nem o endereço do contêiner: o minirun escreve três arquivos no diretório do contêiner, no host, e o init os monta por cima dos da imagem (bind mount), como o Docker.",
			"The image has its own, which know neither the container's name nor its address: minirun writes three files in the container's directory, on the host, and the init bind-mounts them over the image's, as Docker does."),
		Shell: fmt.Sprintf("printf '127.0.0.1\\tlocalhost\\n$IP\\t%s\\n' > %s; echo %s > %s; printf 'nameserver $DNS\\n' > %s",
			hostname, filepath.Join(dir, "hosts"), hostname, filepath.Join(dir, "hostname"), filepath.Join(dir, "resolv.conf")),
		Do: func() error {
			_, _, _, err := writeEtcFiles(dir, hostname, eps, "")
			return err
		},
		EvidenceText: func() explain.Text { return etcEvidence(dir) },
	}
}

// etcEvidence shows the three files as the container will read them, one
// line per line of each, prefixed with the file's name; the hosts file's
// four fixed IPv6 multicast lines are counted, not shown.
func etcEvidence(dir string) explain.Text {
	var b strings.Builder
	skipped := 0
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return explain.Text{PT: err.Error(), EN: err.Error()}
		}
		for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			if f == "hosts" && (strings.HasPrefix(l, "fe00::") || strings.HasPrefix(l, "ff0")) {
				skipped++
				continue
			}
			fmt.Fprintf(&b, "/etc/%-12s %s\n", f, strings.ReplaceAll(l, "\t", " "))
		}
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if skipped == 0 {
		return explain.Text{PT: s, EN: s}
	}
	return explain.Text{
		PT: fmt.Sprintf("%s\n(e mais %d linhas IPv6 fixas em /etc/hosts)", s, skipped),
		EN: fmt.Sprintf("%s\n(and %d fixed IPv6 lines more in /etc/hosts)", s, skipped),
	}
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
