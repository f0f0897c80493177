package diagram

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

func TestProbeReadsRecordedV1Host(t *testing.T) {
	s := v1Probe(t).Read()
	if len(s.Containers) != 1 {
		t.Fatalf("containers = %d, want 1: %+v", len(s.Containers), s.Containers)
	}
	c := s.Containers[0]
	if c.ID != v1ID || c.Pid != 29975 {
		t.Errorf("container = %s pid %d", c.ID, c.Pid)
	}
	// From the recorded links: the init has its own namespaces except
	// user (no user namespace asked for).
	want := map[string]uint64{"pid": 4026532179, "net": 4026532180, "mnt": 4026532176, "uts": 4026532177, "ipc": 4026532178, "user": 4026531837, "cgroup": 4026532245}
	for k, v := range want {
		if c.NS[k] != v {
			t.Errorf("ns %s = %d, want %d", k, c.NS[k], v)
		}
	}
	if s.HostNS["net"] != 4026531833 || s.HostNS["user"] != 4026531837 {
		t.Errorf("host ns = %v", s.HostNS)
	}
	ov := c.Overlay
	if ov == nil {
		t.Fatal("no overlay found in the recorded mountinfo")
	}
	if len(ov.Lower) != 1 || ov.Lower[0].ID != "sha256:14283a0b7cd5" || ov.Lower[0].Size != 1234567 {
		t.Errorf("lower = %+v", ov.Lower)
	}
	if !strings.HasSuffix(ov.Upper, v1ID+"/diff") || !strings.HasSuffix(ov.Work, v1ID+"/work") || !strings.HasSuffix(ov.Merged, v1ID+"/merged") {
		t.Errorf("overlay dirs = %+v", ov)
	}
	cg := c.Cgroup
	if cg == nil || cg.Version != 1 || cg.Path != "/minirun/"+v1ID {
		t.Fatalf("cgroup = %+v", cg)
	}
	got := map[string]string{}
	for _, st := range cg.Stats {
		got[st.Resource] = st.Usage + " / " + st.Limit
	}
	if got["memory"] != "508.0 KiB / 64.0 MiB" || got["pids"] != "1 / 64" || got["cpu"] != "79 ms / 0.5 CPU" {
		t.Errorf("cgroup stats = %v", got)
	}
	if len(c.Links) != 2 || c.Links[1].Name != "eth0" || c.Links[1].Addrs[0] != "10.77.0.2/16" {
		t.Errorf("container links = %+v", c.Links)
	}
	if len(s.Rules) != 17 {
		t.Errorf("rules = %d, want 17", len(s.Rules))
	}
	if s.Rules[0].Chain != "ports" || s.Rules[0].Owner != "minirun:6934324900d4" || strings.Contains(s.Rules[0].Text, "comment") {
		t.Errorf("first rule = %+v", s.Rules[0])
	}
}

func nodes(d *Diagram, panel string) map[string]Node {
	out := map[string]Node{}
	for _, p := range d.Panels {
		if p.ID == panel {
			for _, n := range p.Nodes {
				out[n.ID] = n
			}
		}
	}
	return out
}

func edges(d *Diagram, panel string) []Edge {
	for _, p := range d.Panels {
		if p.ID == panel {
			return p.Edges
		}
	}
	return nil
}

func TestBuildV1(t *testing.T) {
	d := Build(v1Probe(t).Read(), explain.EN)
	ns := nodes(d, PanelNamespaces)
	if n := ns["ns-"+v1ID+"-net"]; n.Class != "container" || n.Label != "net:[4026532180]" {
		t.Errorf("container net ns node = %+v", n)
	}
	if n := ns["ns-"+v1ID+"-user"]; n.Class != "shared" || n.Label != "user:[4026531837] = host" {
		t.Errorf("shared user ns node = %+v", n)
	}
	if !slices.Contains(edges(d, PanelNamespaces), Edge{From: "ns-host-user", To: "ns-" + v1ID + "-user", Label: "="}) {
		t.Errorf("no edge marks the shared user namespace: %+v", edges(d, PanelNamespaces))
	}
	net := nodes(d, PanelNetwork)
	for _, id := range []string{"net-link-mr0", "net-link-mrh20b0", "net-link-mr69343249000h", "net-ns-" + v1ID, "net-rules", "net-ports"} {
		if _, ok := net[id]; !ok {
			t.Errorf("network panel lacks %s", id)
		}
	}
	if got := net["net-ports"].Lines; len(got) != 1 || got[0] != "tcp 18080 → 10.77.0.2:80" {
		t.Errorf("published ports = %q", got)
	}
	ne := edges(d, PanelNetwork)
	// The bridge holds the veth's host end; the pair's two IFLA_LINKs
	// join it to the container's eth0.
	for _, e := range []Edge{{From: "net-link-mr0", To: "net-link-mr69343249000h"}, {From: "net-link-mr69343249000h", To: "net-ns-" + v1ID}} {
		if !slices.Contains(ne, e) {
			t.Errorf("network edges lack %+v: %+v", e, ne)
		}
	}
	if slices.Contains(ne, Edge{From: "net-link-mrh20b0", To: "net-link-mr69343249000h"}) {
		t.Error("the veth drawn on the wrong bridge")
	}
	cg := nodes(d, PanelCgroups)["cg-"+v1ID]
	if !slices.Contains(cg.Lines, "memory: 508.0 KiB / 64.0 MiB") {
		t.Errorf("cgroup node = %+v", cg)
	}
}

func TestProbeV2WhileCreating(t *testing.T) {
	p := writeV2(t, t.TempDir())
	s := p.Read()
	if len(s.Containers) != 1 {
		t.Fatalf("containers = %+v", s.Containers)
	}
	c := s.Containers[0]
	if c.Pid != 4242 {
		t.Errorf("pid = %d, want 4242 from cgroup.procs (state has none yet)", c.Pid)
	}
	if c.Cgroup == nil || c.Cgroup.Version != 2 {
		t.Fatalf("cgroup = %+v", c.Cgroup)
	}
	got := map[string]string{}
	for _, st := range c.Cgroup.Stats {
		got[st.Resource] = st.Usage + " / " + st.Limit
	}
	if got["memory"] != "2.1 MiB / max" || got["pids"] != "2 / 64" || got["cpu"] != "12 ms / 0.5 CPU" {
		t.Errorf("stats = %v", got)
	}
	ov := c.Overlay
	if ov == nil || len(ov.Lower) != 2 {
		t.Fatalf("overlay = %+v", ov)
	}
	if ov.Lower[0].ID != "sha256:abababababab" || ov.Lower[0].Size != 8 || ov.Lower[1].Size != 4 {
		t.Errorf("lower = %+v", ov.Lower)
	}
	if !slices.Equal(ov.UpperFiles, []string{"/novo-arquivo"}) {
		t.Errorf("upper files = %q", ov.UpperFiles)
	}
	d := Build(s, explain.PT)
	fs := nodes(d, PanelRootfs)
	if up := fs["fs-"+c.ID+"-upper"]; !slices.Contains(up.Lines, "/novo-arquivo") || up.Label != "upper (gravável)" {
		t.Errorf("upper node = %+v", up)
	}
	ns := nodes(d, PanelNamespaces)
	if ns["ns-"+c.ID+"-cgroup"].Class != "shared" || ns["ns-"+c.ID+"-pid"].Class != "container" {
		t.Errorf("namespaces: %+v", ns)
	}
	if n := nodes(d, PanelNetwork); len(n) != 1 {
		t.Errorf("network panel without netlink = %+v", n)
	}
}

func TestBaselineShowsOnlyNewContainers(t *testing.T) {
	dir := t.TempDir()
	p := writeV2(t, dir)
	p.Baseline()
	if s := p.Read(); len(s.Containers) != 0 {
		t.Fatalf("a container older than the narration is drawn: %+v", s.Containers)
	}
	// A container made after the baseline appears from its first mark.
	if err := os.MkdirAll(filepath.Join(dir, "cgroup", "minirun", "newone"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := p.Read()
	if len(s.Containers) != 1 || s.Containers[0].ID != "newone" {
		t.Fatalf("containers = %+v", s.Containers)
	}
}

// svgText parses doc as XML (failing the test if it is not) and returns
// its character data.
func svgText(t *testing.T, doc []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v\n%s", err, doc)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Space + " " + v.Name.Local
			}
		case xml.CharData:
			text.Write(v)
			text.WriteByte('\n')
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		t.Fatalf("root element = %q", root)
	}
	return text.String()
}

func TestSVGIsXMLAndNamesTheModel(t *testing.T) {
	s := v1Probe(t).Read()
	// A file name a container chose: it must stay text.
	s.Containers[0].Overlay.UpperFiles = []string{`/<script>alert("&")</script>`}
	for _, lang := range []explain.Lang{explain.PT, explain.EN} {
		d := Build(s, lang)
		d.Title = "[3] rootfs: overlay <merged> & pivot_root"
		var b bytes.Buffer
		if err := SVG(&b, d, nil); err != nil {
			t.Fatal(err)
		}
		text := svgText(t, b.Bytes())
		for _, o := range d.Objects() {
			if !strings.Contains(text, o) {
				t.Errorf("%s: the SVG does not name %q", lang, o)
			}
		}
		if !strings.Contains(text, d.Title) {
			t.Errorf("title missing")
		}
		// Focused on one panel, it names that panel's objects only.
		b.Reset()
		if err := SVG(&b, d, []string{PanelNetwork}); err != nil {
			t.Fatal(err)
		}
		text = svgText(t, b.Bytes())
		if !strings.Contains(text, "mr69343249000h (veth)") || strings.Contains(text, "cgroup v1") {
			t.Errorf("network-only SVG: %s", text)
		}
	}
}

func TestMarkChanged(t *testing.T) {
	p := v1Probe(t)
	before := Build(p.Read(), explain.EN)
	s := p.Read()
	s.Containers[0].Links[1].Addrs = []string{"10.77.0.9/16"}
	after := Build(s, explain.EN)
	after.MarkChanged(before)
	var changed []string
	for _, pn := range after.Panels {
		for _, n := range pn.Nodes {
			if n.Changed {
				changed = append(changed, n.ID)
			}
		}
	}
	if !slices.Equal(changed, []string{"net-ns-" + v1ID}) {
		t.Errorf("changed = %v", changed)
	}
}
