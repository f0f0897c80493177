//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// `minirun explain overlay` builds its two-host lab, narrates the overlay
// driver's real steps with the kernel's and etcd's evidence (the VXLAN, an
// FDB and a neighbour entry on each host, the keys under /minirun/, a ping
// from host A's container to host B's, DNS answering for both hosts), and
// leaves nothing: no namespace, link, process or directory of the lab.
// The name avoids "Explain": the VM stage (tests/vm) runs those, and its
// machine has no etcd.
func TestOverlayChapter(t *testing.T) {
	if _, err := os.Stat("/usr/bin/etcd"); err != nil && os.Getenv("MINIRUN_VM") == "1" {
		t.Skip("/usr/bin/etcd is not in the VM")
	}
	// One JSON object a step: the evidence is matched whole, never
	// folded across lines as the text narration folds it.
	out := ok(t, "explain", "overlay", "--json")
	defer func() {
		if t.Failed() {
			t.Log(out)
		}
	}()
	evidence := map[string]string{} // step id → its evidences, a line each
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			Step struct {
				ID string `json:"id"`
			} `json:"step"`
			Evidence string `json:"evidence"`
			Err      string `json:"error"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a step: %q: %v", l, err)
		}
		if ev.Err != "" {
			t.Errorf("step %s failed: %s", ev.Step.ID, ev.Err)
		}
		evidence[ev.Step.ID] += ev.Evidence + "\n"
	}
	for id, want := range map[string]*regexp.Regexp{
		"network-overlay-vxlan":       regexp.MustCompile(`vxlan id 4096 local 192\.168\.90\.[12] dstport 4789 learning false proxy true mtu 1450`),
		"overlay-tables":              regexp.MustCompile(`(?s)fdb 02:42:0a:4f:00:03 dst 192\.168\.90\.2 self permanent\nneigh 10\.79\.0\.3 lladdr 02:42:0a:4f:00:03 PERMANENT\n.*fdb 02:42:0a:4f:00:02 dst 192\.168\.90\.1 self permanent\nneigh 10\.79\.0\.2 lladdr 02:42:0a:4f:00:02 PERMANENT`),
		"overlay-keys":                regexp.MustCompile(`(?s)/minirun/endpoints/[0-9a-f]{12}…/[0-9a-f]{12}… = .*/minirun/ipam/[0-9a-f]{12}…/10\.79\.0\.3 = c2@192\.168\.90\.2\n.*/minirun/networks/[0-9a-f]{12}… = \{"name":"ov".*/minirun/vni/4096 = `),
		"overlay-ping":                regexp.MustCompile(`^10\.79\.0\.3: icmp echo reply, [0-9.]+ ms`),
		"network-dns-rr":              regexp.MustCompile(`web → \[10\.79\.0\.[23] 10\.79\.0\.[23]\] \[`),
		"network-overlay-peer-delete": regexp.MustCompile(`^\n`),
	} {
		if !want.MatchString(evidence[id]) {
			t.Errorf("step %s: evidence %q, want %s", id, evidence[id], want)
		}
	}
	if strings.Count(evidence["overlay-etcd"], "\n") != 2 { // started, and undone
		t.Errorf("overlay-etcd ran %d times, want its start and its undo", strings.Count(evidence["overlay-etcd"], "\n"))
	}

	// Nothing of the lab is left.
	tag := regexp.MustCompile(`ip netns add mrovsw-([0-9]+)`).FindStringSubmatch(out)
	if tag == nil {
		t.Fatal("no switch namespace named in the narration")
	}
	for _, ns := range []string{"mrovsw-", "mrovA-", "mrovB-"} {
		if _, err := os.Stat("/run/netns/" + ns + tag[1]); err == nil {
			t.Errorf("namespace %s%s is left", ns, tag[1])
		}
	}
	dir := regexp.MustCompile(`/tmp/minirun-overlay\.[0-9]+`).FindString(out)
	if dir == "" {
		t.Error("no lab directory named in the narration")
	} else if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s is left", dir)
	}
	for _, m := range regexp.MustCompile(`pid ([0-9]+) net:`).FindAllStringSubmatch(out, -1) {
		if b, err := os.ReadFile("/proc/" + m[1] + "/cmdline"); err == nil && strings.HasPrefix(string(b), "sleep") {
			t.Errorf("container pid %s is still running", m[1])
		}
	}
	// etcd (its --data-dir) and the DNS servers (their --dir) name the
	// lab's directory.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && dir != "" && strings.Contains(string(b), dir) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			t.Errorf("process %d is left: %s", pid, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	for _, name := range regexp.MustCompile(`\bmr(?:ov|vx)[0-9a-f]{10}\b`).FindAllString(out, -1) {
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("link %s is in the machine's namespace", name)
		}
	}
}
