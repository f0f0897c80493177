package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/network"
)

// webPort is where the labs' busybox httpd servers listen.
const webPort = 80

// networkLab is the deck's network LAB: a network named lab, web1 on it,
// cliente started on the default bridge and connected to lab afterwards;
// cliente reaches web1 by IP and by name.
func networkLab() *Lab {
	var net *network.Network
	var web1, cliente *container.Meta
	return &Lab{
		Name:  "network",
		Title: text("redes: criar, conectar, desconectar", "networks: create, connect, disconnect"),
		Checks: []Check{
			{
				What: text("a rede lab existe", "network lab exists"),
				Hint: text("rode: minirun network create lab", "run: minirun network create lab"),
				Run: func(e *Env) (err error) {
					net, err = userNetwork(e, "lab")
					return err
				},
			},
			{
				What: text("web1 está rodando e ligado à rede lab", "web1 is running and attached to network lab"),
				Hint: text("rode: minirun run -d --name web1 --hostname web1 --network lab busybox httpd -f -p 80 -h /etc",
					"run: minirun run -d --name web1 --hostname web1 --network lab busybox httpd -f -p 80 -h /etc"),
				Run: func(e *Env) (err error) {
					web1, err = attached(e, net, "web1")
					return err
				},
			},
			{
				What: text("cliente está rodando e ligado à rede lab", "cliente is running and attached to network lab"),
				Hint: text("ligue o contêiner que já roda: minirun network connect lab cliente",
					"connect the running container: minirun network connect lab cliente"),
				Run: func(e *Env) (err error) {
					cliente, err = attached(e, net, "cliente")
					return err
				},
			},
			{
				What: text("de dentro de cliente, o DNS da rede responde web1 com o endereço dele",
					"from inside cliente, the network's DNS answers web1 with its address"),
				Hint: text("só redes criadas com network create têm DNS; cliente precisa estar nela (network connect lab cliente)",
					"only networks made with network create have DNS; cliente must be on it (network connect lab cliente)"),
				Run: func(e *Env) error {
					want := net.Containers[web1.ID].IP()
					return e.inNamespace(cliente.State.Pid, "net", func() error {
						got, err := lookupA(dnsServer(net), "web1")
						if err != nil {
							return err
						}
						if len(got) != 1 || got[0] != want {
							return fmt.Errorf("web1 → %v, não / not %s", got, want)
						}
						return nil
					})
				},
			},
			{
				What: text("de dentro de cliente, web1 responde na porta 80", "from inside cliente, web1 answers on port 80"),
				Hint: text("web1 precisa servir HTTP: busybox httpd -f -p 80 (veja minirun logs web1)",
					"web1 must serve HTTP: busybox httpd -f -p 80 (see minirun logs web1)"),
				Run: func(e *Env) error {
					ip := net.Containers[web1.ID].IP()
					return e.inNamespace(cliente.State.Pid, "net", func() error {
						return reachTCP(netip.AddrPortFrom(ip, webPort))
					})
				},
			},
		},
	}
}

// dnsRRLab is the deck's DNS round robin LAB: two web servers share the
// alias web on network rr, and the alias resolves to both.
func dnsRRLab() *Lab {
	var net *network.Network
	var addrs []netip.Addr
	var pid int // of one of the servers: where the DNS is asked from
	return &Lab{
		Name:  "dns-rr",
		Title: text("DNS round robin com --network-alias", "DNS round robin with --network-alias"),
		Checks: []Check{
			{
				What: text("a rede rr existe", "network rr exists"),
				Hint: text("rode: minirun network create rr", "run: minirun network create rr"),
				Run: func(e *Env) (err error) {
					net, err = userNetwork(e, "rr")
					return err
				},
			},
			{
				What: text("dois contêineres rodando na rede rr têm o apelido web",
					"two running containers on network rr have the alias web"),
				Hint: text("rode web-1 e web-2 com --network rr --network-alias web (veja o roteiro)",
					"run web-1 and web-2 with --network rr --network-alias web (see the guide)"),
				Run: func(e *Env) error {
					addrs = nil
					for _, ep := range net.Endpoints() {
						if !ep.Attached || !hasAlias(ep, "web") {
							continue
						}
						meta, err := e.running(ep.Name)
						if err != nil {
							continue
						}
						addrs = append(addrs, ep.IP())
						pid = meta.State.Pid
					}
					if len(addrs) < 2 {
						return fmt.Errorf("%d contêiner(es) com o apelido / container(s) with the alias", len(addrs))
					}
					return nil
				},
			},
			{
				What: text("o DNS da rede resolve web para os dois endereços", "the network's DNS resolves web to both addresses"),
				Hint: text("o servidor DNS da rede responde por todos os contêineres do apelido; veja minirun network inspect rr (DNS) e o dns.log da rede",
					"the network's DNS server answers with every container of the alias; see minirun network inspect rr (DNS) and the network's dns.log"),
				// Asked from a member's network namespace: the server
				// answers only its own network's containers.
				Run: func(e *Env) error {
					return e.inNamespace(pid, "net", func() error {
						got, err := lookupA(dnsServer(net), "web")
						if err != nil {
							return err
						}
						if !sameAddrs(got, addrs) {
							return fmt.Errorf("web → %v, esperado / want %v", got, addrs)
						}
						return nil
					})
				},
			},
			{
				What: text("os dois servidores respondem na porta 80", "both servers answer on port 80"),
				Hint: text("cada servidor precisa rodar busybox httpd -f -p 80 (veja minirun logs web-1)",
					"each server must run busybox httpd -f -p 80 (see minirun logs web-1)"),
				Run: func(e *Env) error {
					return e.inNamespace(pid, "net", func() error {
						for _, a := range addrs {
							if err := reachTCP(netip.AddrPortFrom(a, webPort)); err != nil {
								return err
							}
						}
						return nil
					})
				},
			},
		},
	}
}

// userNetwork finds a network made with `network create`: only those have
// a DNS server.
func userNetwork(e *Env, name string) (*network.Network, error) {
	n, err := e.Networks.Get(name)
	if errors.Is(err, network.ErrNotFound) {
		return nil, fmt.Errorf("não há rede %q / no network named %q", name, name)
	}
	if err != nil {
		return nil, err
	}
	if !n.HasDNS() || n.DNS == nil {
		return nil, fmt.Errorf("a rede %s não tem servidor DNS / network %s has no DNS server", name, name)
	}
	return n, nil
}

// attached returns the running container name when it has an attached
// endpoint on n.
func attached(e *Env, n *network.Network, name string) (*container.Meta, error) {
	meta, err := e.running(name)
	if err != nil {
		return nil, err
	}
	ep, ok := n.Containers[meta.ID]
	if !ok || !ep.Attached {
		var on []string
		for net := range meta.NetworkSettings.Networks {
			on = append(on, net)
		}
		sort.Strings(on)
		return nil, fmt.Errorf("%s não está na rede %s (está em: %s) / is not on network %s (is on: %s)",
			name, n.Name, strings.Join(on, ", "), n.Name, strings.Join(on, ", "))
	}
	return meta, nil
}

// dnsServer is where n's DNS server listens: "10.78.0.1:53".
func dnsServer(n *network.Network) string {
	if n.DNS != nil && n.DNS.Addr != "" {
		return n.DNS.Addr
	}
	return netip.AddrPortFrom(n.Gateway(), 53).String()
}

func hasAlias(ep *network.Endpoint, alias string) bool {
	for _, a := range ep.Aliases {
		if a == alias {
			return true
		}
	}
	return false
}

// sameAddrs reports whether a and b hold the same addresses, in any order:
// round robin rotates the answer.
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	sa := append([]netip.Addr(nil), a...)
	sb := append([]netip.Addr(nil), b...)
	sort.Slice(sa, func(i, j int) bool { return sa[i].Less(sa[j]) })
	sort.Slice(sb, func(i, j int) bool { return sb[i].Less(sb[j]) })
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}
