package diagram

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
)

// netProbe reads testdata/net: recorded on a cgroup v1 Debian 12 host
// from `minirun explain network --pause` (pid 8729) paused before the
// network-dns-rr step, when web1-8729 and web2-8729 (both with
// --network-alias web) ran on network curso-8729: the /proc stat and
// cmdline of the narration, its DNS server (8742), the two shims (8756,
// 8779) with their socket descriptors, and the two inits (httpd 8766,
// 8793); /proc/net/unix's lines of the run's state root; the state.json
// files and the network's network.json.
func netProbe(t *testing.T, dir string) *Probe {
	t.Helper()
	return &Probe{Proc: filepath.Join(dir, "proc"), Self: "self", CgroupRoot: filepath.Join(dir, "cgroup"),
		StateRoot: filepath.Join(dir, "run"), DataRoot: filepath.Join(dir, "lib")}
}

const (
	web1ID = "b24d1b8e6539ca4f6b1df769ad518f20d75bc4fe615433d271facdd07200a516"
	web2ID = "1e65361e970458f0c32c0297e50ca47dfc2c14b506d7b7ce79195844fe920506"
	netID  = "6e355ade706b0902e34e18d516e6a63a7401c668297c0bf0176bc12d627a4a47"
)

func containerByID(t *testing.T, s *State, id string) Container {
	t.Helper()
	for _, c := range s.Containers {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no container %s in %+v", id, s.Containers)
	return Container{}
}

func TestProbeReadsRecordedComponents(t *testing.T) {
	s := netProbe(t, filepath.Join("testdata", "net")).Read()
	if s.Client == nil || s.Client.Pid != 8729 || !slices.Equal(s.Client.Args[3:], []string{"--data-root", "/tmp/h31/lib", "explain", "network", "--pause", "--lang", "en"}) {
		t.Fatalf("client = %+v", s.Client)
	}
	if s.Daemon != nil {
		t.Errorf("daemon = %+v: the shims are the narration's children", s.Daemon)
	}
	for _, tc := range []struct {
		id               string
		init, shim, sock string
	}{
		{web1ID, "8766", "8756", "/tmp/h31/run/.shims/b24d1b8e6539.sock"},
		{web2ID, "8793", "8779", "/tmp/h31/run/.shims/1e65361e9704.sock"},
	} {
		c := containerByID(t, s, tc.id)
		if c.Shim == nil {
			t.Errorf("%s: no shim found", tc.id[:12])
			continue
		}
		if c.Init == nil || strconv.Itoa(c.Init.Pid) != tc.init || c.Init.PPid != c.Shim.Pid || strings.Join(c.Init.Args, " ") != "httpd -f -p 80 -h /etc" {
			t.Errorf("%s init = %+v", tc.id[:12], c.Init)
		}
		if strconv.Itoa(c.Shim.Pid) != tc.shim || c.Shim.PPid != 8729 || c.Shim.Sid != c.Shim.Pid || c.Shim.Socket != tc.sock {
			t.Errorf("%s shim = %+v, want pid %s with socket %s", tc.id[:12], c.Shim, tc.shim, tc.sock)
		}
	}

	d := Build(s, explain.EN)
	cp := nodes(d, PanelComponents)
	if n := cp["cp-client"]; n.Label != "client 8729" || n.Lines[0] != "minirun --root /tmp/h31/run --data-root /tmp/h31/lib explain network --pause --lang en" {
		t.Errorf("client node = %+v", n)
	}
	if n := cp["cp-shim-"+web1ID]; n.Label != "shim 8756" || !slices.Contains(n.Lines, "/tmp/h31/run/.shims/b24d1b8e6539.sock") {
		t.Errorf("shim node = %+v", n)
	}
	if n := cp["cp-init-"+web1ID]; n.Label != "init 8766" || !slices.Equal(n.Lines, []string{"httpd -f -p 80 -h /etc", "ppid 8756", "b24d1b8e6539"}) {
		t.Errorf("init node = %+v", n)
	}
	ce := edges(d, PanelComponents)
	for _, e := range []Edge{
		{From: "cp-client", To: "cp-shim-" + web1ID, Label: "fork+exec"},
		{From: "cp-shim-" + web1ID, To: "cp-init-" + web1ID, Label: "wait(2)"},
		{From: "cp-shim-" + web2ID, To: "cp-init-" + web2ID, Label: "wait(2)"},
	} {
		if !slices.Contains(ce, e) {
			t.Errorf("components edges lack %+v: %+v", e, ce)
		}
	}
	if slices.ContainsFunc(ce, func(e Edge) bool { return e.From == "cp-client" && strings.HasPrefix(e.To, "cp-init-") }) {
		t.Error("an init drawn as the client's child: its parent is its shim")
	}
}

// copyTree copies testdata dir src (symlinks kept as links) into a temp dir.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The same host when the containers were made through `minirun daemon`:
// the shims are the daemon's children, and the daemon appears between the
// client and them.
func TestComponentsShowTheDaemonThatStartedTheShims(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "net"))
	write(t, filepath.Join(dir, "proc/9000/cmdline"), "/usr/local/bin/minirun\x00daemon\x00-H\x00unix:///run/minirun/docker.sock\x00")
	write(t, filepath.Join(dir, "proc/9000/stat"), "9000 (minirun) S 1 9000 9000 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 9 0 2228000 0 0\n")
	stat := filepath.Join(dir, "proc/8756/stat")
	b, err := os.ReadFile(stat)
	if err != nil {
		t.Fatal(err)
	}
	write(t, stat, strings.Replace(string(b), ") S 8729 ", ") S 9000 ", 1))
	s := netProbe(t, dir).Read()
	if s.Daemon == nil || s.Daemon.Pid != 9000 {
		t.Fatalf("daemon = %+v", s.Daemon)
	}
	d := Build(s, explain.EN)
	ce := edges(d, PanelComponents)
	for _, e := range []Edge{
		{From: "cp-client", To: "cp-daemon", Label: "API"},
		{From: "cp-daemon", To: "cp-shim-" + web1ID, Label: "fork+exec"},
		{From: "cp-client", To: "cp-shim-" + web2ID, Label: "fork+exec"},
	} {
		if !slices.Contains(ce, e) {
			t.Errorf("components edges lack %+v: %+v", e, ce)
		}
	}
	if n := nodes(d, PanelComponents)["cp-shim-"+web1ID]; n.Col != 2 {
		t.Errorf("with a daemon the shims move one column right: %+v", n)
	}
}

// A container whose init has not started yet (state.json has no pid, the
// cgroup is empty): its shim is found by its command line.
func TestComponentsFindAShimBeforeItsInit(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "net"))
	write(t, filepath.Join(dir, "run", web1ID, "state.json"), `{"id":"`+web1ID+`","pid":0}`)
	s := netProbe(t, dir).Read()
	c := containerByID(t, s, web1ID)
	if c.Init != nil || c.Shim == nil || c.Shim.Pid != 8756 {
		t.Fatalf("init %+v shim %+v", c.Init, c.Shim)
	}
	if n := nodes(Build(s, explain.PT), PanelComponents); n["cp-shim-"+web1ID].Label != "shim 8756" || n["cp-client"].Label != "cliente 8729" {
		t.Errorf("nodes = %+v", n)
	}
}

func TestProbeReadsRecordedDNS(t *testing.T) {
	s := netProbe(t, filepath.Join("testdata", "net")).Read()
	if len(s.DNS) != 1 {
		t.Fatalf("dns = %+v", s.DNS)
	}
	d := s.DNS[0]
	if d.Network != "curso-8729" || d.Pid != 8742 || !d.Alive || d.Addr != "10.78.0.1:53" || d.Bridge != "mr-6e355ade706b" {
		t.Errorf("dns server = %+v", d)
	}
	want := []DNSName{
		{Name: "web1-8729", Addrs: []string{"10.78.0.2"}},
		{Name: "web2-8729", Addrs: []string{"10.78.0.3"}},
		{Name: "web", Alias: true, Addrs: []string{"10.78.0.2", "10.78.0.3"}},
	}
	if !slices.EqualFunc(d.Names, want, func(a, b DNSName) bool {
		return a.Name == b.Name && a.Alias == b.Alias && slices.Equal(a.Addrs, b.Addrs)
	}) {
		t.Errorf("names = %+v, want %+v", d.Names, want)
	}
	net := nodes(Build(s, explain.EN), PanelNetwork)
	n := net["net-dns-"+netID]
	if n.Label != "DNS curso-8729" || !slices.Equal(n.Lines, []string{"pid 8742 · 10.78.0.1:53", "web1-8729 → 10.78.0.2", "web2-8729 → 10.78.0.3", "web → 10.78.0.2 10.78.0.3 (alias)"}) {
		t.Errorf("dns node = %+v", n)
	}
}

// What the server would not answer is not drawn: a detached endpoint
// (network disconnect) loses its name and its share of the alias; a
// recorded pid now owned by another process (another start time) is not
// the server.
func TestDNSFollowsTheServersRules(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "net"))
	file := filepath.Join(dir, "lib", "network", netID, "network.json")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var n network.Network
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	n.Containers[web2ID].Attached = false
	if b, err = json.Marshal(&n); err != nil {
		t.Fatal(err)
	}
	write(t, file, string(b))
	stat := filepath.Join(dir, "proc/8742/stat")
	sb, _ := os.ReadFile(stat)
	write(t, stat, strings.Replace(string(sb), " 2229013 ", " 2229999 ", 1))
	s := netProbe(t, dir).Read()
	d := s.DNS[0]
	if d.Alive {
		t.Error("a pid with another start time taken for the DNS server")
	}
	for _, n := range d.Names {
		if n.Name == "web2-8729" || (n.Name == "web" && len(n.Addrs) != 1) {
			t.Errorf("a detached endpoint still answered: %+v", d.Names)
		}
	}
	if n := nodes(Build(s, explain.EN), PanelNetwork)["net-dns-"+netID]; n.Lines[0] != "pid 8742: not running" {
		t.Errorf("dns node = %+v", n)
	}
}

// A network older than the narration, with none of its containers, is
// left out; one made after the baseline is drawn.
func TestDNSBaseline(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "net"))
	p := netProbe(t, dir)
	p.Baseline()
	if s := p.Read(); len(s.DNS) != 0 || len(s.Containers) != 0 {
		t.Fatalf("an older network drawn: %+v", s.DNS)
	}
	if err := os.Rename(filepath.Join(dir, "lib", "network", netID), filepath.Join(dir, "held")); err != nil {
		t.Fatal(err)
	}
	p = netProbe(t, dir)
	p.Baseline()
	if err := os.Rename(filepath.Join(dir, "held"), filepath.Join(dir, "lib", "network", netID)); err != nil {
		t.Fatal(err)
	}
	if s := p.Read(); len(s.DNS) != 1 {
		t.Fatalf("a network made after the baseline is not drawn: %+v", s.DNS)
	}
}
