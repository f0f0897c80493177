package diagram

// The DNS servers of the network panel. A user-defined network's
// embedded DNS server (network/dnsserver.go) answers from the network's
// file, DataRoot/network/<id>/network.json: the name, the id and the
// --network-alias entries of every attached endpoint. The probe reads the
// same file, so the panel shows what the server would answer now, and
// checks the recorded pid against /proc (pid and start time, proc(5)
// field 22), as minirun itself does before it signals the server.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
)

// DNSServer is one network's DNS server and the names it answers.
type DNSServer struct {
	Network string `json:"network"`
	ID      string `json:"id"`
	// Bridge is the network's bridge: the server listens on its address.
	Bridge string `json:"bridge,omitempty"`
	Addr   string `json:"addr"`
	Pid    int    `json:"pid"`
	// Alive is true when Pid is still the recorded server (same start
	// time, not a zombie).
	Alive bool      `json:"alive"`
	Names []DNSName `json:"names,omitempty"`
}

// DNSName is one name the server answers with the addresses it gives
// (an alias shared by several containers gives them all, in turn).
type DNSName struct {
	Name  string   `json:"name"`
	Alias bool     `json:"alias,omitempty"`
	Addrs []string `json:"addrs"`
}

// networks reads minirun's network files, by id.
func (p *Probe) networks() map[string]*network.Network {
	out := map[string]*network.Network{}
	dir := filepath.Join(p.DataRoot, "network")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		b, err := os.ReadFile(network.NetworkFile(dir, e.Name()))
		if err != nil {
			continue
		}
		var n network.Network
		if json.Unmarshal(b, &n) == nil && n.ID != "" {
			out[n.ID] = &n
		}
	}
	return out
}

// dnsServers returns the DNS servers of the networks that appeared since
// the baseline or that hold one of the state's containers, by network
// name.
func (p *Probe) dnsServers(s *State) []DNSServer {
	p.mu.Lock()
	base := p.netBaseline
	p.mu.Unlock()
	mine := map[string]bool{}
	for _, c := range s.Containers {
		mine[c.ID] = true
	}
	var out []DNSServer
	for id, n := range p.networks() {
		if n.DNS == nil {
			continue // the default bridge and host/none: no DNS, as in Docker
		}
		show := !base[id]
		for cid := range n.Containers {
			show = show || mine[cid]
		}
		if !show {
			continue
		}
		d := DNSServer{Network: n.Name, ID: n.ID, Bridge: n.Bridge, Addr: n.DNS.Addr, Pid: n.DNS.Pid}
		if pr, ok := p.readProc(n.DNS.Pid); ok && pr.StartTime == n.DNS.StartTime {
			d.Alive = true
		}
		d.Names = dnsNames(n)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Network < out[j].Network })
	return out
}

// dnsNames lists what the server answers for: the attached endpoints with
// an address (the server's rule: network.membersOf), each by its
// container's name and by each alias. Names first, then aliases, each
// sorted.
func dnsNames(n *network.Network) []DNSName {
	byName := map[string]*DNSName{}
	for _, ep := range n.Containers {
		if !ep.Attached || !ep.IP().IsValid() {
			continue
		}
		add := func(name string, alias bool) {
			k := strings.ToLower(name)
			if byName[k] == nil {
				byName[k] = &DNSName{Name: name, Alias: alias}
			}
			byName[k].Addrs = append(byName[k].Addrs, ep.IP().String())
		}
		add(ep.Name, false)
		for _, a := range ep.Aliases {
			add(a, true)
		}
	}
	var out []DNSName
	for _, d := range byName {
		sort.Strings(d.Addrs)
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Alias != out[j].Alias {
			return !out[i].Alias
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// dnsNodes adds a node per DNS server to the network panel, in column 0
// from row 1, joined to its bridge; it returns the next free row.
func dnsNodes(p *Panel, s *State, l explain.Lang) int {
	row := 1
	for _, d := range s.DNS {
		id := "net-dns-" + d.ID
		head := "pid " + strconv.Itoa(d.Pid) + " · " + d.Addr
		if !d.Alive {
			head = "pid " + strconv.Itoa(d.Pid) + ": " + word("dnsdown", l)
		}
		lines := []string{head}
		for _, n := range d.Names {
			line := n.Name + " → " + strings.Join(n.Addrs, " ")
			if n.Alias {
				line += " " + word("alias", l)
			}
			lines = append(lines, line)
		}
		p.Nodes = append(p.Nodes, Node{ID: id, Label: "DNS " + d.Network, Class: "host", Col: 0, Row: row, Lines: lines})
		if d.Bridge != "" {
			p.Edges = append(p.Edges, Edge{From: "net-link-" + d.Bridge, To: id, Label: ":53"})
		}
		row++
	}
	return row
}
