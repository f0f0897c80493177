package diagram

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
)

// Diagram is a picture of a State: panels of nodes and edges, not drawn
// yet. Node ids are stable from one step to the next, so that what a step
// changed can be marked (MarkChanged).
type Diagram struct {
	// Title is drawn above the panels: the step, for an SVG file.
	Title  string  `json:"title,omitempty"`
	Panels []Panel `json:"panels"`
}

// The panels, one per part of a container.
const (
	PanelNamespaces = "namespaces"
	PanelRootfs     = "rootfs"
	PanelCgroups    = "cgroups"
	PanelNetwork    = "network"
	PanelComponents = "components"
)

// Panel is one part of the picture.
type Panel struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Note is shown when the panel has nothing yet ("no container yet").
	Note  string `json:"note,omitempty"`
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges,omitempty"`
}

// Node is one box: a namespace, a layer, a cgroup, a link.
type Node struct {
	ID    string   `json:"id"`
	Label string   `json:"label"`
	Lines []string `json:"lines,omitempty"`
	// Col and Row place the node on the panel's grid.
	Col int `json:"col"`
	Row int `json:"row"`
	// Class colours it: host, container, shared (a container's namespace
	// that is the host's), file, rule.
	Class string `json:"class"`
	// Changed is true when the node is new or different since the
	// previous diagram: what the step just did.
	Changed bool `json:"changed,omitempty"`
}

// Edge joins two nodes of a panel.
type Edge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label,omitempty"`
}

var panelTitles = map[string]explain.Text{
	PanelNamespaces: {PT: "Namespaces (/proc/PID/ns)", EN: "Namespaces (/proc/PID/ns)"},
	PanelRootfs:     {PT: "Rootfs: overlay (mountinfo)", EN: "Rootfs: overlay (mountinfo)"},
	PanelCgroups:    {PT: "Cgroups", EN: "Cgroups"},
	PanelNetwork:    {PT: "Rede (netlink, nft)", EN: "Network (netlink, nft)"},
	PanelComponents: {PT: "Componentes (/proc)", EN: "Components (/proc)"},
}

var words = map[string]explain.Text{
	"none":      {PT: "nenhum contêiner ainda", EN: "no container yet"},
	"nomount":   {PT: "rootfs ainda não montado", EN: "rootfs not mounted yet"},
	"nocg":      {PT: "cgroup ainda não criado", EN: "cgroup not created yet"},
	"nonet":     {PT: "nenhum link do minirun ainda", EN: "no minirun link yet"},
	"host":      {PT: "host", EN: "host"},
	"shared":    {PT: "= host", EN: "= host"},
	"upper":     {PT: "upper (gravável)", EN: "upper (writable)"},
	"empty":     {PT: "(vazio)", EN: "(empty)"},
	"lower":     {PT: "lower", EN: "lower"},
	"published": {PT: "portas publicadas", EN: "published ports"},
	"rules":     {PT: "regras em ip minirun", EN: "rules in ip minirun"},
	"client":    {PT: "cliente", EN: "client"},
	"noproc":    {PT: "nenhum processo de contêiner ainda", EN: "no container process yet"},
	"dnsdown":   {PT: "não está rodando", EN: "not running"},
	"alias":     {PT: "(alias)", EN: "(alias)"},
}

func word(k string, l explain.Lang) string { return words[k].In(l) }

// FocusOf returns the panels a chapter is about, so the page can draw them
// large; nil means all.
func FocusOf(ch explain.Chapter) []string {
	switch ch {
	case explain.ChapterNamespaces:
		return []string{PanelNamespaces}
	case explain.ChapterRootfs, explain.ChapterImages, explain.ChapterVolumes, explain.ChapterMounts:
		return []string{PanelRootfs}
	case explain.ChapterCgroups:
		return []string{PanelCgroups}
	case explain.ChapterNetwork:
		return []string{PanelNetwork}
	case explain.ChapterComponents:
		return []string{PanelComponents}
	}
	return nil
}

// Build draws a State, its words in lang. It reads nothing: the same State
// always gives the same Diagram.
func Build(s *State, lang explain.Lang) *Diagram {
	if lang == explain.Both {
		lang = explain.PT // labels are short; a box holds one language
	}
	return &Diagram{Panels: []Panel{
		namespacesPanel(s, lang), rootfsPanel(s, lang), cgroupsPanel(s, lang), networkPanel(s, lang),
		componentsPanel(s, lang),
	}}
}

func newPanel(id string, l explain.Lang) Panel {
	return Panel{ID: id, Title: panelTitles[id].In(l)}
}

// maxColumns bounds the containers drawn side by side.
const maxColumns = 3

func shown(cs []Container) []Container {
	if len(cs) > maxColumns {
		return cs[:maxColumns]
	}
	return cs
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// eachContainer draws, with draw, each shown container that has the part
// a panel is about, numbered from 0 in the order drawn; when none has it,
// the panel says note instead.
func eachContainer(p *Panel, s *State, has func(*Container) bool, note string, draw func(c *Container, i int)) {
	n := 0
	for _, c := range shown(s.Containers) {
		if !has(&c) {
			continue
		}
		draw(&c, n)
		n++
	}
	if n == 0 {
		p.Note = note
	}
}

func namespacesPanel(s *State, l explain.Lang) Panel {
	p := newPanel(PanelNamespaces, l)
	p.Nodes = append(p.Nodes, Node{ID: "ns-host", Label: word("host", l), Class: "host", Col: 0, Row: 0,
		Lines: []string{"/proc/self/ns"}})
	for i, k := range Kinds {
		if ino, ok := s.HostNS[k]; ok {
			p.Nodes = append(p.Nodes, Node{ID: "ns-host-" + k, Label: k + ":[" + strconv.FormatUint(ino, 10) + "]", Class: "host", Col: 0, Row: i + 1})
		}
	}
	eachContainer(&p, s, func(c *Container) bool { return c.NS != nil }, word("none", l), func(c *Container, i int) {
		col := i + 1
		head := "ns-" + c.ID
		p.Nodes = append(p.Nodes, Node{ID: head, Label: short(c.ID), Class: "container", Col: col, Row: 0,
			Lines: []string{"/proc/" + strconv.Itoa(c.Pid) + "/ns"}})
		for i, k := range Kinds {
			ino, ok := c.NS[k]
			if !ok {
				continue
			}
			nd := Node{ID: head + "-" + k, Label: k + ":[" + strconv.FormatUint(ino, 10) + "]", Class: "container", Col: col, Row: i + 1}
			if h, ok := s.HostNS[k]; ok && h == ino {
				nd.Class, nd.Label = "shared", nd.Label+" "+word("shared", l)
				p.Edges = append(p.Edges, Edge{From: "ns-host-" + k, To: nd.ID, Label: "="})
			}
			p.Nodes = append(p.Nodes, nd)
		}
	})
	return p
}

func rootfsPanel(s *State, l explain.Lang) Panel {
	p := newPanel(PanelRootfs, l)
	eachContainer(&p, s, func(c *Container) bool { return c.Overlay != nil }, word("nomount", l), func(c *Container, col int) {
		ov := c.Overlay
		pre := "fs-" + c.ID
		merged := Node{ID: pre + "-merged", Label: "merged " + short(c.ID), Class: "container", Col: col, Row: 0, Lines: []string{ov.Merged}}
		p.Nodes = append(p.Nodes, merged)
		row := 1
		if ov.Upper != "" {
			files := ov.UpperFiles
			if len(files) == 0 {
				files = []string{word("empty", l)}
			}
			p.Nodes = append(p.Nodes, Node{ID: pre + "-upper", Label: word("upper", l), Class: "file", Col: col, Row: row,
				Lines: append([]string{ov.Upper}, files...)})
			p.Edges = append(p.Edges, Edge{From: pre + "-upper", To: merged.ID})
			row++
		}
		if ov.Work != "" {
			p.Nodes = append(p.Nodes, Node{ID: pre + "-work", Label: "work", Class: "host", Col: col, Row: row, Lines: []string{ov.Work}})
			row++
		}
		var total int64
		for i, ly := range ov.Lower {
			total += ly.Size
			// lowerdir lists the top layer first (overlayfs.rst): drawn
			// top to bottom as the union sees them.
			p.Nodes = append(p.Nodes, Node{ID: pre + "-lower-" + ly.ID, Label: word("lower", l) + " " + strconv.Itoa(len(ov.Lower)-i) + ": " + ly.ID,
				Class: "host", Col: col, Row: row, Lines: []string{HumanBytes(ly.Size)}})
			if i == 0 {
				p.Edges = append(p.Edges, Edge{From: pre + "-lower-" + ly.ID, To: merged.ID})
			}
			row++
		}
	})
	return p
}

func cgroupsPanel(s *State, l explain.Lang) Panel {
	p := newPanel(PanelCgroups, l)
	eachContainer(&p, s, func(c *Container) bool { return c.Cgroup != nil }, word("nocg", l), func(c *Container, col int) {
		cg := c.Cgroup
		if col == 0 {
			p.Nodes = append(p.Nodes, Node{ID: "cg-root", Label: "/sys/fs/cgroup", Class: "host", Col: 0, Row: 0,
				Lines: []string{"cgroup v" + strconv.Itoa(cg.Version)}})
		}
		id := "cg-" + c.ID
		nd := Node{ID: id, Label: cg.Path, Class: "container", Col: col, Row: 1}
		if c.Pid > 0 {
			nd.Lines = append(nd.Lines, "cgroup.procs: "+strconv.Itoa(c.Pid))
		}
		for _, st := range cg.Stats {
			lim := st.Limit
			if lim == "" {
				lim = "max"
			}
			nd.Lines = append(nd.Lines, fmt.Sprintf("%s: %s / %s", st.Resource, st.Usage, lim))
		}
		p.Nodes = append(p.Nodes, nd)
		p.Edges = append(p.Edges, Edge{From: "cg-root", To: id})
	})
	return p
}

func networkPanel(s *State, l explain.Lang) Panel {
	p := newPanel(PanelNetwork, l)
	hostLines := []string{}
	if ino, ok := s.HostNS["net"]; ok {
		hostLines = append(hostLines, "net:["+strconv.FormatUint(ino, 10)+"]")
	}
	p.Nodes = append(p.Nodes, Node{ID: "net-host", Label: word("host", l), Class: "host", Col: 0, Row: 0, Lines: hostLines})
	byIndex := map[int]Link{}
	for _, lk := range s.HostLinks {
		byIndex[lk.Index] = lk
	}
	dnsRow := dnsNodes(&p, s, l)
	brRow, vethRow := 0, 0
	for _, lk := range s.HostLinks {
		if lk.Kind != "bridge" {
			continue
		}
		p.Nodes = append(p.Nodes, Node{ID: "net-link-" + lk.Name, Label: lk.Name + " (bridge)", Class: "host", Col: 1, Row: brRow, Lines: linkLines(lk)})
		p.Edges = append(p.Edges, Edge{From: "net-host", To: "net-link-" + lk.Name})
		brRow++
	}
	for _, lk := range s.HostLinks {
		if lk.Kind == "bridge" {
			continue
		}
		p.Nodes = append(p.Nodes, Node{ID: "net-link-" + lk.Name, Label: lk.Name + " (" + lk.Kind + ")", Class: "host", Col: 2, Row: vethRow, Lines: linkLines(lk)})
		if m, ok := byIndex[lk.Master]; ok {
			p.Edges = append(p.Edges, Edge{From: "net-link-" + m.Name, To: "net-link-" + lk.Name})
		}
		vethRow++
	}
	for i, c := range shown(s.Containers) {
		if len(c.Links) == 0 {
			continue
		}
		id := "net-ns-" + c.ID
		nd := Node{ID: id, Label: short(c.ID) + " netns", Class: "container", Col: 3, Row: i}
		if ino, ok := c.NS["net"]; ok {
			nd.Lines = append(nd.Lines, "net:["+strconv.FormatUint(ino, 10)+"]")
		}
		for _, cl := range c.Links {
			nd.Lines = append(nd.Lines, strings.TrimSpace(cl.Name+" "+strings.Join(cl.Addrs, " ")))
			// The pair: each end's IFLA_LINK is the other end's index.
			for _, hl := range s.HostLinks {
				if cl.Kind == "veth" && hl.Kind == "veth" && cl.Peer == hl.Index && hl.Peer == cl.Index {
					p.Edges = append(p.Edges, Edge{From: "net-link-" + hl.Name, To: id})
				}
			}
		}
		p.Nodes = append(p.Nodes, nd)
	}
	if len(s.Rules) > 0 {
		chains := map[string]int{}
		var ports []string
		for _, r := range s.Rules {
			chains[r.Chain]++
			if strings.Contains(r.Text, "dnat to") {
				ports = append(ports, portText(r.Text))
			}
		}
		var names []string
		for c := range chains {
			names = append(names, c)
		}
		sort.Strings(names)
		var lines []string
		for _, c := range names {
			lines = append(lines, fmt.Sprintf("%s: %d", c, chains[c]))
		}
		row := max(brRow, vethRow, dnsRow)
		p.Nodes = append(p.Nodes, Node{ID: "net-rules", Label: strconv.Itoa(len(s.Rules)) + " " + word("rules", l), Class: "rule", Col: 0, Row: row, Lines: lines})
		if len(ports) > 0 {
			p.Nodes = append(p.Nodes, Node{ID: "net-ports", Label: word("published", l), Class: "rule", Col: 1, Row: row, Lines: ports})
		}
	}
	if len(s.HostLinks) == 0 && len(p.Nodes) == 1 {
		p.Note = word("nonet", l)
	}
	return p
}

func linkLines(lk Link) []string {
	st := "DOWN"
	if lk.Up {
		st = "UP"
	}
	return append([]string{st}, lk.Addrs...)
}

// portText shortens a DNAT rule ("ip daddr 127.0.0.1 tcp dport 8080
// counter … dnat to 10.88.0.2:80") to "tcp 8080 → 10.88.0.2:80".
func portText(rule string) string {
	f := strings.Fields(rule)
	proto, port, to := "", "", ""
	for i := 0; i+1 < len(f); i++ {
		switch {
		case (f[i] == "tcp" || f[i] == "udp") && f[i+1] == "dport" && i+2 < len(f):
			proto, port = f[i], f[i+2]
		case f[i] == "dnat" && f[i+1] == "to" && i+2 < len(f):
			to = f[i+2]
		}
	}
	if proto == "" || to == "" {
		return rule
	}
	return proto + " " + port + " → " + to
}

// MarkChanged marks the nodes that are new or different since prev (nil:
// none, the first picture shows nothing as changed).
func (d *Diagram) MarkChanged(prev *Diagram) {
	if prev == nil {
		return
	}
	old := map[string]string{}
	for _, p := range prev.Panels {
		for _, n := range p.Nodes {
			old[n.ID] = n.Label + "\x00" + strings.Join(n.Lines, "\x00")
		}
	}
	for pi := range d.Panels {
		for ni := range d.Panels[pi].Nodes {
			n := &d.Panels[pi].Nodes[ni]
			o, ok := old[n.ID]
			n.Changed = !ok || o != n.Label+"\x00"+strings.Join(n.Lines, "\x00")
		}
	}
}

// Objects lists the names a diagram shows (every node's label and lines):
// what a rendering must contain.
func (d *Diagram) Objects() []string {
	var out []string
	for _, p := range d.Panels {
		for _, n := range p.Nodes {
			out = append(out, n.Label)
			out = append(out, n.Lines...)
		}
	}
	return out
}
