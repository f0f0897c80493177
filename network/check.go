package network

// Steps that show a network working rather than build it: a DNS query to
// the network's server, an HTTP request to a published port on localhost,
// and the rewrite of a container's /etc files when its networks change.

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/minirun/minirun/explain"
)

// DNSRoundRobinStep asks the network's DNS server for name's A records
// times times, from the host (whose address on the bridge, the gateway, is
// in the subnet the server answers). Its evidence is the order of each
// answer: with an alias shared by several containers (--network-alias),
// the first address rotates, which is Docker's "DNS RR".
func DNSRoundRobinStep(n *Network, name string, times int) explain.Step {
	server := netip.AddrPortFrom(n.Gateway(), 53).String()
	var answers []string
	return stepT{
		ID: StepDNSRoundRobin, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Pergunta %d vezes ao DNS da rede (%s) por %q", times, server, name),
			fmt.Sprintf("Ask the network's DNS (%s) for %q %d times", server, name, times)),
		Why: text("Um alias dado a vários contêineres (--network-alias) tem um endereço por contêiner; o servidor da rede responde todos, começando cada resposta um adiante (round robin): quem usa o primeiro endereço reparte-se entre eles. Sem daemon, é o processo DNS da rede que faz o que o dockerd faz.",
			"An alias given to several containers (--network-alias) has one address per container; the network's server answers them all, starting each answer one further on (round robin): clients that take the first address spread over them. With no daemon, the network's DNS process does what dockerd does."),
		Shell: fmt.Sprintf("for i in $(seq %d); do dig +short @%s %s; echo; done   # nslookup %s %s", times, n.Gateway(), name, name, n.Gateway()),
		Do: func() error {
			answers = nil
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			for i := 0; i < times; i++ {
				q := new(dns.Msg)
				q.SetQuestion(dns.Fqdn(name), dns.TypeA)
				r, _, err := c.Exchange(q, server)
				if err != nil {
					return fmt.Errorf("query %s for %s: %w", server, name, err)
				}
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					return fmt.Errorf("query %s for %s: %s, %d answers", server, name, dns.RcodeToString[r.Rcode], len(r.Answer))
				}
				var ips []string
				for _, rr := range r.Answer {
					if a, ok := rr.(*dns.A); ok {
						ips = append(ips, a.A.String())
					}
				}
				answers = append(answers, strings.Join(ips, " "))
			}
			return nil
		},
		Evidence: func() string { return name + " → [" + strings.Join(answers, "] [") + "]" },
	}
}

// LocalhostStep fetches http://127.0.0.1:PORT/path from the host: the
// published port reached through the output chain's DNAT, with
// route_localnet letting the rewritten packet leave 127.0.0.1 for the
// bridge. It retries for a few seconds, while the server in the container
// starts listening.
func LocalhostStep(p PortMapping, path string) explain.Step {
	url := fmt.Sprintf("http://127.0.0.1:%d%s", p.HostPort, path)
	body := ""
	return stepT{
		ID: StepLocalhost, Chapter: explain.ChapterNetwork,
		Title: text("Acessa a porta publicada pelo localhost do host: "+url, "Reach the published port through the host's localhost: "+url),
		Why: text("Um programa do host que conecta em 127.0.0.1 passa pela chain output, onde o DNAT troca o destino pelo contêiner; route_localnet deixa o pacote sair de 127.0.0.1 para a bridge e o masquerade troca a origem, para que a resposta volte. É o `docker run -p` funcionando em localhost.",
			"A host program connecting to 127.0.0.1 goes through the output chain, where DNAT swaps the destination for the container; route_localnet lets the packet leave 127.0.0.1 for the bridge, and masquerade swaps the source so the reply comes back. It is `docker run -p` working on localhost."),
		Shell: "curl -s " + url,
		Do: func() error {
			c := http.Client{Timeout: 2 * time.Second}
			var last error
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				resp, err := c.Get(url)
				if err != nil {
					last = err
					continue
				}
				b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				if err != nil {
					last = err
					continue
				}
				body = strings.TrimSpace(string(b))
				return nil
			}
			return fmt.Errorf("get %s: %w", url, last)
		},
		Evidence: func() string { return "curl " + url + " → " + body },
	}
}

// EtcFilesStep rewrites, in the container's directory dir, the files bound
// at /etc/hosts, /etc/hostname and /etc/resolv.conf for the endpoints eps
// the container has now: after `network connect` it asks the new network's
// DNS server, after `network disconnect` it no longer does.
func EtcFilesStep(dir, hostname string, eps []*Endpoint) explain.Step {
	resolv := filepath.Join(dir, "resolv.conf")
	return stepT{
		ID: StepEtcFiles, Chapter: explain.ChapterNetwork,
		Title: text("Reescreve /etc/hosts e /etc/resolv.conf do contêiner", "Rewrite the container's /etc/hosts and /etc/resolv.conf"),
		Why: text("Os arquivos são bind mounts de arquivos do host: reescritos no lugar (mesmo inode), o contêiner, que já roda, vê o conteúdo novo — o endereço de cada rede e o servidor DNS da rede criada pelo usuário, como o Docker faz.",
			"The files are bind mounts of files on the host: rewritten in place (same inode), the running container sees the new content — its address on each network and the user-defined network's DNS server, as Docker does."),
		Shell: fmt.Sprintf("printf 'nameserver GATEWAY\\noptions ndots:0\\n' > %s   # same inode: the bind mount follows", resolv),
		Do: func() error {
			_, _, _, err := writeEtcFiles(dir, hostname, eps, "")
			return err
		},
		EvidenceText: func() explain.Text {
			b, err := os.ReadFile(resolv)
			if err != nil {
				return explain.Text{PT: err.Error(), EN: err.Error()}
			}
			var ns []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "nameserver ") {
					ns = append(ns, strings.TrimPrefix(l, "nameserver "))
				}
			}
			servers := strings.Join(ns, ", ")
			return explain.Text{
				PT: fmt.Sprintf("redes: %d; resolv.conf: nameserver %s", len(eps), servers),
				EN: fmt.Sprintf("networks: %d; resolv.conf: nameserver %s", len(eps), servers),
			}
		},
	}
}
