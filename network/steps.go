package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/vishvananda/netlink"
)

// The ids of the steps this package narrates; docs/network.md has an
// anchor for each.
const (
	StepState         = "network-state"
	StepBridge        = "network-bridge"
	StepGateway       = "network-gateway"
	StepIPForward     = "network-ip-forward"
	StepRouteLocalnet = "network-route-localnet"
	StepNftTable      = "network-nft-table"
	StepMasquerade    = "network-masquerade"
	StepIsolation     = "network-isolation"
	StepLocalnetGuard = "network-localnet-guard"
	StepForward       = "network-forward"
	StepDNS           = "network-dns"
	StepIPAM          = "network-ipam"
	StepVeth          = "network-veth"
	StepBridgePort    = "network-bridge-port"
	StepMoveLink      = "network-move-link"
	StepAddr          = "network-addr"
	StepRoute         = "network-route"
	StepDNAT          = "network-dnat"
	StepJoin          = "network-join"
	StepDNATDelete    = "network-dnat-delete"
	StepVethDelete    = "network-veth-delete"
	StepIPAMRelease   = "network-ipam-release"
	StepDNSStop       = "network-dns-stop"
	StepRulesDelete   = "network-rules-delete"
	StepBridgeDelete  = "network-bridge-delete"
	StepStateDelete   = "network-state-delete"
	StepNftTableDel   = "network-nft-table-delete"
	StepDNSRoundRobin = "network-dns-rr"
	StepLocalhost     = "network-localhost"
	StepEtcFiles      = "network-etc-files"
	StepEtcWrite      = "network-etc-write"

	// Network and IPAM plugins (plugin.go).
	StepPluginPool        = "network-plugin-pool"
	StepPluginGateway     = "network-plugin-gateway"
	StepPluginCreate      = "network-plugin-create"
	StepPluginAddress     = "network-plugin-address"
	StepPluginEndpoint    = "network-plugin-endpoint"
	StepPluginJoin        = "network-plugin-join"
	StepPluginMove        = "network-plugin-move"
	StepPluginRoutes      = "network-plugin-routes"
	StepPluginExternal    = "network-plugin-external"
	StepPluginRevoke      = "network-plugin-revoke"
	StepPluginLeave       = "network-plugin-leave"
	StepPluginEndpointDel = "network-plugin-endpoint-delete"
	StepPluginAddrRelease = "network-plugin-address-release"
	StepPluginDelete      = "network-plugin-delete"
	StepPluginPoolRelease = "network-plugin-pool-release"
)

type stepT = explain.Step

func text(pt, en string) explain.Text { return explain.Text{PT: pt, EN: en} }

func netipPrefix(a netip.Addr, bits int) netip.Prefix { return netip.PrefixFrom(a, bits) }

// shellRules is the Shell of a step that adds rules: each nft command
// followed by its iptables equivalent as a comment.
func shellRules(rules []rule) string {
	var b []string
	for _, r := range rules {
		b = append(b, r.command()+"   # "+r.iptables())
	}
	return strings.Join(b, "\n")
}

// listRules is the evidence of a rule step: the rules as the kernel now
// has them, read back through netlink and counted.
func listRules(table string, chains []string, tag string) explain.Text {
	rs, err := taggedRules(table, chains, tag)
	if err != nil {
		return explain.Text{PT: err.Error(), EN: err.Error()}
	}
	where := fmt.Sprintf("%q, ip %s %s", tag, table, strings.Join(chains, ","))
	return explain.Text{
		PT: fmt.Sprintf("regras %s: %d", where, len(rs)),
		EN: fmt.Sprintf("rules %s: %d", where, len(rs)),
	}
}

// already prefixes evidence with "already there", for a step that found
// its object made by someone before it.
func already(t explain.Text) explain.Text {
	return explain.Text{PT: "já existia: " + t.PT, EN: "already there: " + t.EN}
}

func (m *Manager) stateStep(n *Network) stepT {
	path := NetworkFile(m.dir, n.ID)
	return stepT{
		ID: StepState, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Registra a rede %s (%s, gateway %s)", n.Name, n.Subnet(), n.Gateway()),
			fmt.Sprintf("Record network %s (%s, gateway %s)", n.Name, n.Subnet(), n.Gateway())),
		Why: text("Nada fica só na memória de um processo, nem do minirun daemon: o que precisa sobreviver ao comando (sub-rede, gateway, bridge, contêineres e seus endereços) fica num JSON, e o servidor DNS da rede lê esse mesmo arquivo.",
			"Nothing lives only in a process's memory, not even minirun daemon's: what must outlive the command (subnet, gateway, bridge, containers and their addresses) goes to a JSON file, and the network's DNS server reads that same file."),
		Shell: stateShell(m.netDir(n.ID), path, n),
		Do:    func() error { return m.save(n) },
		Undo: func() error {
			if err := os.RemoveAll(m.netDir(n.ID)); err != nil {
				return fmt.Errorf("remove %s: %w", m.netDir(n.ID), err)
			}
			return nil
		},
		Evidence:  func() string { return "cat " + path + " → " + fmt.Sprint(fileSize(path)) + " bytes" },
		UndoShell: "rm -rf " + m.netDir(n.ID),
	}
}

func mtuArg(mtu int) string {
	if mtu <= 0 {
		return ""
	}
	return fmt.Sprintf(" mtu %d", mtu)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func bridgeStep(n *Network) stepT {
	created := false
	return stepT{
		ID: StepBridge, Chapter: explain.ChapterNetwork,
		Title: text("Cria a bridge "+n.Bridge, "Create bridge "+n.Bridge),
		Why: text("Uma bridge é um switch virtual dentro do kernel: cada contêiner pluga nela uma ponta do seu par veth, e ela liga os contêineres entre si e ao host (o docker0 do Docker). Ela recebe um MAC fixo para que o MAC do gateway não mude quando contêineres entram e saem.",
			"A bridge is a virtual switch inside the kernel: each container plugs one end of its veth pair into it, and it joins the containers to each other and to the host (Docker's docker0). It gets a fixed MAC so the gateway's MAC does not change as containers come and go."),
		Shell: fmt.Sprintf("ip link add %s address %s%s type bridge && ip link set %s up   # brctl addbr %s", n.Bridge, randomMACShell, mtuArg(n.MTU()), n.Bridge, n.Bridge),
		Do: func() error {
			ok, err := linkExists(n.Bridge)
			if err != nil {
				return err
			}
			if ok {
				return setLinkUp(n.Bridge)
			}
			created = true
			return createBridge(n.Bridge, n.MTU())
		},
		Undo: func() error {
			if !created {
				return nil
			}
			return deleteLink(n.Bridge)
		},
		EvidenceText: func() explain.Text {
			l, err := netlink.LinkByName(n.Bridge)
			if err != nil {
				return explain.Text{PT: err.Error(), EN: err.Error()}
			}
			s := fmt.Sprintf("ip link show %s → index %d, %s, mtu %d, %s", n.Bridge, l.Attrs().Index, l.Attrs().HardwareAddr, l.Attrs().MTU, l.Attrs().OperState)
			if !created {
				return already(explain.Text{PT: s, EN: s})
			}
			return explain.Text{PT: s, EN: s}
		},
		UndoShell: "ip link del " + n.Bridge,
	}
}

func gatewayStep(n *Network) stepT {
	p := netipPrefix(n.Gateway(), n.Subnet().Bits())
	return stepT{
		ID: StepGateway, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Dá à bridge o endereço do gateway %s", p), fmt.Sprintf("Give the bridge the gateway address %s", p)),
		Why: text("Com um endereço na bridge o host entra na rede: vira o gateway (a rota padrão) dos contêineres, e o kernel cria sozinho a rota da sub-rede apontando para a bridge.",
			"With an address on the bridge the host joins the network: it becomes the containers' gateway (their default route), and the kernel adds the subnet's route through the bridge by itself."),
		Shell: fmt.Sprintf("ip addr add %s dev %s", p, n.Bridge),
		Do:    func() error { return addAddr(n.Bridge, p) },
		Undo:  func() error { return delAddr(n.Bridge, p) },
		Evidence: func() string {
			return fmt.Sprintf("ip route get %s → dev %s", n.Subnet().Addr().Next().Next(), n.Bridge)
		},
		UndoShell: fmt.Sprintf("ip addr del %s dev %s", p, n.Bridge),
	}
}

// sysctlStep sets a sysctl; its undo puts the old value back, but only
// when this step changed it (someone else may rely on the value too).
func sysctlStep(id, key, value string, title, why explain.Text) stepT {
	old := ""
	dotted := strings.ReplaceAll(key, "/", ".")
	return stepT{
		ID: id, Chapter: explain.ChapterNetwork, Title: title, Why: why,
		Shell: fmt.Sprintf("sysctl -w %s=%s   # echo %s > %s", dotted, value, value, sysctlPathRaw(key)),
		Do: func() error {
			v, err := readSysctl(key)
			if err != nil {
				return fmt.Errorf("read sysctl %s: %w", dotted, err)
			}
			old = v
			if v == value {
				return nil
			}
			return writeSysctl(key, value)
		},
		Undo: func() error {
			if old == "" || old == value {
				return nil
			}
			if err := writeSysctl(key, old); err != nil && !gone(err) {
				return err
			}
			return nil
		},
		EvidenceText: func() explain.Text {
			v, _ := readSysctl(key)
			cat := fmt.Sprintf("cat %s → %s", sysctlPathRaw(key), v)
			if old == value {
				return explain.Text{PT: "já estava: " + cat, EN: "already so: " + cat}
			}
			return explain.Text{PT: cat + " (antes: " + old + ")", EN: cat + " (before: " + old + ")"}
		},
	}
}

func ipForwardStep() stepT {
	return sysctlStep(StepIPForward, "net/ipv4/ip_forward", "1",
		text("Liga o encaminhamento de pacotes (ip_forward)", "Turn packet forwarding on (ip_forward)"),
		text("Com ip_forward=0 o host descarta todo pacote que não é para ele: os contêineres falariam com o host, mas nunca passariam dele. O minirun liga e não desliga depois, como o Docker: outros programas podem depender disso.",
			"With ip_forward=0 the host drops every packet not addressed to itself: containers could talk to the host but never get past it. minirun turns it on and never back off, as Docker does: other programs may rely on it."))
}

func routeLocalnetStep(n *Network) stepT {
	return sysctlStep(StepRouteLocalnet, sysctlKeyFor(n.Bridge, "route_localnet"), "1",
		text("Aceita 127.0.0.0/8 na bridge "+n.Bridge+" (route_localnet)", "Allow 127.0.0.0/8 on bridge "+n.Bridge+" (route_localnet)"),
		text("Para `curl localhost:8080` no host chegar a uma porta publicada, o pacote trocado pelo DNAT sai pela bridge ainda com origem 127.0.0.1 (o masquerade só vem depois); sem route_localnet o kernel descarta endereços de loopback fora da interface lo. A brecha que isso abre é fechada por network-localnet-guard.",
			"For `curl localhost:8080` on the host to reach a published port, the DNAT'ed packet leaves through the bridge still from 127.0.0.1 (masquerade comes later); without route_localnet the kernel drops loopback addresses outside lo. The hole this opens is closed by network-localnet-guard."))
}

func tableStep() stepT {
	existed := false
	return stepT{
		ID: StepNftTable, Chapter: explain.ChapterNetwork,
		Title: text("Cria a tabela ip minirun do nftables", "Create nftables table ip minirun"),
		Why: text("Todas as regras do minirun ficam numa tabela só dele: nada de outro programa (Docker, firewall) é tocado, e `nft list table ip minirun` mostra tudo. As chains prerouting e output mandam para a chain ports os pacotes endereçados ao próprio host, venham de fora ou de um programa local. Outra rede já pode tê-la criado: então ela fica como está.",
			"All of minirun's rules live in a table of its own: nothing of another program (Docker, a firewall) is touched, and `nft list table ip minirun` shows everything. The prerouting and output chains send packets addressed to the host itself to the ports chain, whether they come from outside or from a local program. Another network may have made it already: then it stays as it is."),
		Shell: tableShell(),
		Do: func() error {
			ok, err := tableExists()
			if err != nil {
				return err
			}
			if existed = ok; ok {
				return nil
			}
			return createTable()
		},
		Undo: func() error {
			if existed {
				return nil
			}
			left, err := ownedRules()
			if err != nil || left > 0 {
				return err
			}
			return deleteTable()
		},
		EvidenceText: func() explain.Text {
			s := listRules(tableName, allMinirunChains, baseTag)
			if existed {
				return already(s)
			}
			return s
		},
		UndoShell: tableUndoShell(),
	}
}

// ruleStep installs a group of the network's rules, replacing whatever of
// the group is there (so it can repair a half-present group).
func ruleStep(id string, chains []string, rules []rule, tag string, title, why explain.Text) stepT {
	return stepT{
		ID: id, Chapter: explain.ChapterNetwork, Title: title, Why: why,
		Shell: shellRules(rules),
		Do: func() error {
			if err := deleteTagged(tableName, chains, tag); err != nil {
				return err
			}
			return addRules(rules)
		},
		Undo:         func() error { return deleteTagged(tableName, chains, tag) },
		EvidenceText: func() explain.Text { return listRules(tableName, chains, tag) },
		UndoShell:    deleteTaggedShell(tableName, chains, tag),
	}
}

func masqueradeStep(n *Network) stepT {
	return ruleStep(StepMasquerade, []string{chainPostrouting}, masqueradeRules(n), n.Tag(),
		text(fmt.Sprintf("NAT de saída (masquerade) para %s", n.Subnet()), fmt.Sprintf("Outbound NAT (masquerade) for %s", n.Subnet())),
		text("Endereços privados dos contêineres não são roteados lá fora: ao sair por outra interface, o kernel troca a origem pelo endereço dessa interface e guarda a troca no conntrack para desfazê-la nas respostas. O tráfego que fica na bridge não é tocado. As outras duas regras cuidam de localhost e do hairpin das portas publicadas.",
			"Containers' private addresses are not routed outside: leaving through another interface, the kernel swaps the source for that interface's address and keeps the swap in conntrack to undo it on replies. Traffic that stays on the bridge is left alone. The other two rules handle localhost and the hairpin of published ports."))
}

func isolationStep(n *Network) stepT {
	why := text("Como as chains DOCKER-ISOLATION do Docker: um pacote de uma bridge do minirun para outra é descartado, e conexões novas vindas de fora só entram na bridge por uma porta publicada (ct status dnat).",
		"Like Docker's DOCKER-ISOLATION chains: a packet from one minirun bridge to another is dropped, and new connections from outside only enter the bridge through a published port (ct status dnat).")
	if n.Internal {
		why = text("Rede interna (--internal): nada atravessa a borda da bridge, em nenhum sentido; os contêineres só falam entre si e com o host.",
			"Internal network (--internal): nothing crosses the bridge's border either way; containers only talk to each other and to the host.")
	}
	return ruleStep(StepIsolation, []string{chainForward, chainIsolation}, isolationRules(n), n.Tag(),
		text("Isola a rede "+n.Name, "Isolate network "+n.Name), why)
}

func guardStep(n *Network) stepT {
	return ruleStep(StepLocalnetGuard, []string{chainGuard}, guardRules(n), n.Tag(),
		text("Descarta pacotes do contêiner para 127.0.0.0/8", "Drop packets from containers to 127.0.0.0/8"),
		text("route_localnet=1 abriria uma brecha (CVE-2020-8558, a do kube-proxy): um contêiner mandaria um pacote para 127.0.0.1 pela bridge e alcançaria serviços que o host só oferece no loopback. A regra roda antes do NAT, então as respostas às conexões do próprio host passam.",
			"route_localnet=1 would open a hole (CVE-2020-8558, kube-proxy's): a container could send a packet to 127.0.0.1 through the bridge and reach services the host only offers on loopback. The rule runs before NAT, so replies to the host's own connections pass."))
}

// forwardStep adds accept rules to iptables' FORWARD (and INPUT, for DNS)
// only when the host's policy there is DROP; its evidence says which case
// this host is in.
func forwardStep(n *Network) stepT {
	var did []explain.Text
	fwd, in := forwardAcceptRules(n), inputAcceptRules(n)
	shell, undoShell := compatShell(compatFwd, fwd), compatUndoShell(compatFwd, n.Tag())
	if n.HasDNS() {
		shell += "\n" + compatShell(compatIn, in)
		undoShell += "\n" + compatUndoShell(compatIn, n.Tag())
	}
	return stepT{
		ID: StepForward, Chapter: explain.ChapterNetwork,
		Title: text("Deixa passar o tráfego da rede mesmo com FORWARD em DROP", "Let the network's traffic through even with FORWARD on DROP"),
		Why: text("O nftables roda todas as chains-base de um mesmo gancho: um accept na tabela do minirun não vale contra a política DROP do FORWARD do iptables (o Docker a coloca), pois drop é final e accept não. Só um accept dentro dessa chain resolve: o minirun põe lá um único salto, marcado \"minirun\", para uma chain sua — e só se a política for DROP.",
			"nftables runs every base chain of a hook: an accept in minirun's table is worth nothing against iptables' FORWARD policy DROP (Docker sets it), since drop is final and accept is not. Only an accept inside that chain helps: minirun puts there a single jump, tagged \"minirun\", to a chain of its own — and only if the policy is DROP."),
		Shell: shell,
		Do: func() error {
			did = nil
			pairs := []struct {
				p     compatPair
				rules []rule
			}{{compatFwd, fwd}}
			if n.HasDNS() {
				pairs = append(pairs, struct {
					p     compatPair
					rules []rule
				}{compatIn, in})
			}
			for _, pr := range pairs {
				needed, err := compatNeeded(pr.p)
				if err != nil {
					return err
				}
				if !needed {
					did = append(did, explain.Text{PT: "ip filter " + pr.p.hook + ": política não é DROP → nada a fazer",
						EN: "ip filter " + pr.p.hook + ": policy not DROP → nothing to do"})
					continue
				}
				if err := ensureCompat(pr.p, pr.rules, n.Tag()); err != nil {
					return err
				}
				jump := "ip filter " + pr.p.hook + ": policy DROP → jump " + pr.p.own
				did = append(did, explain.Text{PT: jump, EN: jump})
			}
			return nil
		},
		Undo: func() error {
			return errors.Join(removeCompat(compatFwd, n.Tag()), removeCompat(compatIn, n.Tag()))
		},
		EvidenceText: func() explain.Text {
			var pt, en []string
			for _, t := range append(did, firewallWarnings()...) {
				pt, en = append(pt, t.PT), append(en, t.EN)
			}
			return explain.Text{PT: strings.Join(pt, "; "), EN: strings.Join(en, "; ")}
		},
		UndoShell: undoShell,
	}
}

func (m *Manager) dnsStep(n *Network) stepT {
	addr := n.Gateway().String() + ":53"
	return stepT{
		ID: StepDNS, Chapter: explain.ChapterNetwork,
		Title: text("Inicia o servidor DNS da rede em "+addr, "Start the network's DNS server on "+addr),
		Why: text("Em redes criadas pelo usuário os contêineres se acham pelo nome, como no Docker: um processo minirun por rede, fora de qualquer terminal (setsid), responde nomes, ids curtos e aliases dos membros atuais e repassa os outros nomes aos resolvedores do host. Ele escuta no gateway, o endereço que todo contêiner da rede alcança.",
			"On user-defined networks containers find each other by name, as in Docker: one minirun process per network, detached from any terminal (setsid), answers the current members' names, short ids and aliases and forwards other names to the host's resolvers. It listens on the gateway, the address every container of the network reaches."),
		Shell: dnsShell(m.dir, n.ID, m.netDir(n.ID)),
		Do:    func() error { return m.startDNS(n) },
		Undo:  func() error { return m.stopDNS(n) },
		EvidenceText: func() explain.Text {
			if n.DNS == nil {
				return explain.Text{}
			}
			return explain.Text{PT: fmt.Sprintf("pid %d escuta em %s udp+tcp", n.DNS.Pid, n.DNS.Addr),
				EN: fmt.Sprintf("pid %d listens on %s udp+tcp", n.DNS.Pid, n.DNS.Addr)}
		},
	}
}

func dnsStopStep(n *Network) stepT {
	pid := "$PID"
	if n.DNS != nil && n.DNS.Pid > 0 {
		pid = fmt.Sprint(n.DNS.Pid)
	}
	return stepT{
		ID: StepDNSStop, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Para o servidor DNS da rede (pid %s)", pid), fmt.Sprintf("Stop the network's DNS server (pid %s)", pid)),
		Why: text("O processo só é morto se o tempo de início em /proc/PID/stat for o registrado: um pid reaproveitado por outro programa não é tocado.",
			"The process is only killed if the start time in /proc/PID/stat is the recorded one: a pid recycled by another program is left alone."),
		Shell: "kill -TERM " + pid,
		Do:    func() error { return stopDNSProcess(n.DNS) },
	}
}

func rulesDeleteStep(n *Network) stepT {
	return stepT{
		ID: StepRulesDelete, Chapter: explain.ChapterNetwork,
		Title: text("Remove as regras da rede "+n.Name, "Remove network "+n.Name+"'s rules"),
		Why: text("Cada regra leva o comentário "+n.Tag()+": apagam-se exatamente essas, por handle, e nenhuma outra — nunca um flush de tabela ou chain.",
			"Every rule carries the comment "+n.Tag()+": exactly those are deleted, by handle, and nothing else — never a flush of a table or chain."),
		Shell: deleteTaggedShell(tableName, allMinirunChains, n.Tag()) + "\n" +
			compatUndoShell(compatFwd, n.Tag()) + "\n" + compatUndoShell(compatIn, n.Tag()),
		Do: func() error {
			return errors.Join(
				deleteTagged(tableName, allMinirunChains, n.Tag()),
				removeCompat(compatFwd, n.Tag()),
				removeCompat(compatIn, n.Tag()))
		},
	}
}

func bridgeDeleteStep(n *Network) stepT {
	return stepT{
		ID: StepBridgeDelete, Chapter: explain.ChapterNetwork,
		Title: text("Apaga a bridge "+n.Bridge, "Delete bridge "+n.Bridge),
		Why: text("Apagar a bridge leva junto o endereço do gateway e a rota da sub-rede.",
			"Deleting the bridge takes the gateway address and the subnet's route with it."),
		Shell: "ip link del " + n.Bridge,
		Do:    func() error { return deleteLink(n.Bridge) },
	}
}

func stateDeleteStep(dir string, n *Network) stepT {
	return stepT{
		ID: StepStateDelete, Chapter: explain.ChapterNetwork,
		Title: text("Apaga o registro da rede "+n.Name, "Delete network "+n.Name+"'s record"),
		Why: text("Sem o arquivo, a rede deixa de existir para o minirun; o servidor DNS, se ainda vivo, percebe e sai.",
			"Without its file the network no longer exists for minirun; the DNS server, if still alive, notices and exits."),
		Shell: "rm -rf " + dir,
		Do: func() error {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("remove %s: %w", dir, err)
			}
			return nil
		},
	}
}

func tableDeleteStep() stepT {
	var what explain.Text
	return stepT{
		ID: StepNftTableDel, Chapter: explain.ChapterNetwork,
		Title: text("Apaga a tabela ip minirun, se ninguém mais a usa", "Delete table ip minirun if nothing else uses it"),
		Why: text("Quando nenhuma rede ou contêiner tem mais regras nela, a tabela sai, e com ela os ganchos do minirun no caminho dos pacotes; se outra rede ainda tem regras lá, ela fica.",
			"Once no network or container has rules in it, the table goes, and with it minirun's hooks in the packets' path; if another network still has rules there, it stays."),
		Shell: tableUndoShell(),
		Do: func() error {
			ok, err := tableExists()
			if err != nil {
				return err
			}
			if !ok {
				what = explain.Text{PT: "nft list tables → sem ip minirun", EN: "nft list tables → no ip minirun"}
				return nil
			}
			left, err := ownedRules()
			if err != nil {
				return err
			}
			if left > 0 {
				what = explain.Text{PT: fmt.Sprintf("fica: regras de outras redes ou contêineres: %d", left),
					EN: fmt.Sprintf("kept: rules of other networks or containers: %d", left)}
				return nil
			}
			if err := deleteTable(); err != nil {
				return err
			}
			what = explain.Text{PT: "nft list tables → ip minirun apagada", EN: "nft list tables → ip minirun deleted"}
			return nil
		},
		EvidenceText: func() explain.Text { return what },
	}
}
