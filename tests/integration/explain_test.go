//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// `minirun explain CHAPTER` narrates a real container: the steps it prints
// are the ones the code ran, with their evidence.
func TestExplainNamespaces(t *testing.T) {
	out := ok(t, "explain", "namespaces", "--lang", "en")
	for _, want := range []string{"ns-clone", "namespaces.md#ns-clone", "unshare --pid --net --mount --uts --ipc", "pid: host pid:[", "uname -n:", "interfaces: 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain namespaces lacks %q", want)
		}
	}
	if strings.Contains(out, "rootfs.md#") {
		t.Error("the namespaces chapter narrates steps of another chapter")
	}
	// "host" is the host's namespace (this test's, where minirun was
	// started), never one of minirun's own private mount namespaces.
	for _, f := range []string{"mnt", "pid", "net"} {
		host, err := os.Readlink("/proc/self/ns/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if want := f + ": host " + host + " → container "; !strings.Contains(out, want) {
			t.Errorf("explain namespaces lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestExplainJSONPerStep(t *testing.T) {
	r := mr(t, "run", "--rm", "--explain=json", "busybox", "true")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var ev struct {
			Step struct {
				ID    string            `json:"id"`
				Title map[string]string `json:"title"`
				Shell string            `json:"shell"`
			} `json:"step"`
			Anchor string `json:"anchor"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not one JSON object per line: %q", l)
		}
		if ev.Step.Title["pt"] == "" || ev.Step.Title["en"] == "" || ev.Anchor == "" || ev.Error != "" {
			t.Errorf("step %s: %q", ev.Step.ID, l)
		}
		ids = append(ids, ev.Step.ID)
	}
	order := strings.Join(ids, " ")
	// The real order of the lifecycle: overlay, cgroup, clone, the init's
	// mounts, pivot_root, ready, start, exec.
	last := -1
	for _, id := range []string{"rootfs-overlay-mount", "cgroups-create", "ns-clone", "mounts-proc", "rootfs-pivot-root", "lifecycle-save-state", "lifecycle-start", "process-exec"} {
		i := strings.Index(order, id)
		if i < 0 || i < last {
			t.Fatalf("step %s missing or out of order in: %s", id, order)
		}
		last = i
	}
}

func TestExplainDryRunNeedsNoRoot(t *testing.T) {
	out := ok(t, "explain", "mounts", "--dry-run")
	if !strings.Contains(out, "mounts.md#mounts-proc") || !strings.Contains(out, "mount -t proc") {
		t.Fatalf("dry run: %s", out)
	}
	if ents := listDir(t, stateRoot); len(ents) != 0 {
		t.Fatalf("a dry run left state: %v", ents)
	}
}

// `explain --slide N` runs the slide's chapter for real and narrates only
// the slide's steps, each naming the slide and, apart, its docs anchor.
func TestExplainSlide(t *testing.T) {
	out := ok(t, "explain", "--slide", "17", "--lang", "en")
	for _, want := range []string{"slide 17 · Namespaces", "docs: docs/namespaces.md#ns-clone", "docs: docs/namespaces.md#ns-hostname", "pid: host pid:["} {
		if !strings.Contains(out, want) {
			t.Errorf("explain --slide 17 lacks %q", want)
		}
	}
	if strings.Contains(out, "ns-join") || strings.Contains(out, "rootfs.md#") {
		t.Error("explain --slide 17 narrates steps that are not the slide's")
	}
	if t.Failed() {
		t.Log(out)
	}
	list := ok(t, "explain", "slides", "--lang", "en")
	if !strings.Contains(list, " 26  DNS RR") || !strings.Contains(list, " 47  Instalando o plugin") {
		t.Errorf("explain slides lacks slides:\n%s", list)
	}
	fails(t, "no slide 99", "explain", "--slide", "99")
	fails(t, "takes no chapter", "explain", "network", "--slide", "26")
}

// explainEvents runs `minirun explain ARGS --json` and returns its events.
func explainEvents(t *testing.T, args ...string) []explainEvent {
	t.Helper()
	out := ok(t, append([]string{"explain"}, append(args, "--json")...)...)
	var evs []explainEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue // no step at all: the comparison says so
		}
		if !strings.HasPrefix(l, "{") {
			// The demo container's own output shares stdout with the
			// events (a container chapter's `run --rm` prints it there);
			// every event is one JSON object that starts its line.
			continue
		}
		var ev explainEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not one JSON object per line: %q", l)
		}
		evs = append(evs, ev)
	}
	return evs
}

type explainEvent struct {
	Step struct {
		ID string `json:"id"`
	} `json:"step"`
	Evidence string `json:"evidence"`
	Error    string `json:"error"`
	Undo     bool   `json:"undo"`
}

func ids(evs []explainEvent) []string {
	var out []string
	for _, ev := range evs {
		id := ev.Step.ID
		if ev.Undo {
			id = "undo " + id
		}
		out = append(out, id)
	}
	return out
}

// A chapter's dry run lists exactly the steps its live run takes, in
// order: `explain CH --json --dry-run | jq -r .step.id` equals the same on
// `explain CH --json`. Each row is one chapter.
func TestExplainDryRunEqualsLive(t *testing.T) {
	for _, ch := range []string{"network", "volumes", "lifecycle", "namespaces", "rootfs", "mounts", "process", "security", "cgroups", "components"} {
		t.Run(ch, func(t *testing.T) {
			dry := ids(explainEvents(t, ch, "--dry-run"))
			liveEvs := explainEvents(t, ch)
			live := ids(liveEvs)
			if len(live) == 0 || strings.Join(dry, " ") != strings.Join(live, " ") {
				t.Fatalf("dry run and live run differ:\n dry:  %v\n live: %v", dry, live)
			}
			for _, ev := range liveEvs {
				if ev.Error != "" {
					t.Errorf("step %s failed: %s", ev.Step.ID, ev.Error)
				}
			}
		})
	}
}

// The network chapter shows what the deck's network section teaches every
// time, not only on a machine's first run: the bridge, ip_forward (already
// on the second time, and it says so) and the nftables table; the DNS
// answers rotate between the two containers of the alias; the published
// port answers on localhost. And it leaves nothing: no link, no network,
// no container, no rule of its own.
func TestExplainNetworkTwice(t *testing.T) {
	links := func() string {
		out, _ := exec.Command("sh", "-c", "ls /sys/class/net | grep '^mr' | sort").Output()
		return string(out)
	}
	rules := func() string {
		tables, _ := exec.Command("nft", "list", "tables").Output()
		table, _ := exec.Command("nft", "list", "table", "ip", "minirun").Output()
		return string(tables) + " " + strconv.Itoa(strings.Count(string(table), `comment "minirun:`))
	}
	before, beforeRules := links(), rules()
	for run := 1; run <= 2; run++ {
		evs := explainEvents(t, "network", "--lang", "en")
		got := map[string]string{}
		for _, ev := range evs {
			if ev.Error != "" {
				t.Fatalf("run %d: step %s failed: %s", run, ev.Step.ID, ev.Error)
			}
			if _, seen := got[ev.Step.ID]; !seen {
				got[ev.Step.ID] = ev.Evidence
			}
		}
		for _, id := range []string{"network-bridge", "network-ip-forward", "network-nft-table", "network-masquerade", "network-ipam",
			"network-veth", "network-dnat", "network-dns", "network-dns-rr", "network-localhost", "network-etc-files",
			"network-dnat-delete", "network-veth-delete", "network-bridge-delete", "network-state-delete"} {
			if _, ok := got[id]; !ok {
				t.Errorf("run %d does not narrate %s: %v", run, id, ids(evs))
			}
		}
		if ev := got["network-ip-forward"]; !strings.Contains(ev, "/proc/sys/net/ipv4/ip_forward → 1") {
			t.Errorf("run %d: ip_forward evidence %q", run, ev)
		}
		if ev := got["network-bridge"]; !strings.Contains(ev, "index ") {
			t.Errorf("run %d: bridge evidence %q", run, ev)
		}
		// web → [A B] [B A] …: the first address rotates.
		rr := got["network-dns-rr"]
		firsts := map[string]bool{}
		for _, ans := range strings.Split(rr, "[")[1:] {
			if f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(ans), "]")); len(f) == 2 {
				firsts[f[0]] = true
			}
		}
		if len(firsts) != 2 {
			t.Errorf("run %d: the DNS answers do not rotate between two addresses: %q", run, rr)
		}
		if ev := got["network-localhost"]; !strings.Contains(ev, "→ web1-") {
			t.Errorf("run %d: localhost evidence %q", run, ev)
		}
		if after := links(); after != before {
			t.Errorf("run %d left links: before %q, after %q", run, before, after)
		}
		if out := ok(t, "network", "ls"); strings.Contains(out, "curso-") {
			t.Errorf("run %d left its network:\n%s", run, out)
		}
		if out := ok(t, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("run %d left containers: %q", run, out)
		}
		if after := rules(); after != beforeRules {
			t.Errorf("run %d left nftables rules: before %q, after %q", run, beforeRules, after)
		}
	}
}

// `minirun explain images` walks, live, the same steps as its dry run, in
// the same order (issue #15 §2: the step IDs of --json and --json
// --dry-run), and leaves nothing behind: no image, no layer, no registry
// listening, no scratch directory.
func TestExplainImagesDryRunEqualsLive(t *testing.T) {
	ids := func(out string) []string {
		var ids []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var ev struct {
				Step struct {
					ID string `json:"id"`
				} `json:"step"`
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("not one JSON object per line: %q", l)
			}
			if ev.Error != "" {
				t.Errorf("step %s failed: %s", ev.Step.ID, ev.Error)
			}
			ids = append(ids, ev.Step.ID)
		}
		return ids
	}
	imagesBefore := ok(t, "images", "-q")
	layers := func() int {
		ents, _ := os.ReadDir(filepath.Join(dataRoot, "image", "layers", "sha256"))
		return len(ents)
	}
	layersBefore := layers()

	liveOut := ok(t, "explain", "images", "--json")
	live := ids(liveOut)
	dry := ids(ok(t, "explain", "images", "--json", "--dry-run"))
	if strings.Join(live, " ") != strings.Join(dry, " ") {
		t.Errorf("live and dry-run differ:\nlive %s\n dry %s", strings.Join(live, " "), strings.Join(dry, " "))
	}
	for _, want := range []string{"images-registry-start", "images-push", "images-pull-layer", "images-layer-whiteout",
		"images-build-cache", "images-history", "images-layers-shared", "images-remove", "images-registry-stop"} {
		if !slices.Contains(live, want) {
			t.Errorf("the chapter lacks %s: %v", want, live)
		}
	}
	if after := ok(t, "images", "-q"); after != imagesBefore {
		t.Errorf("images left behind:\nbefore %q\nafter  %q", imagesBefore, after)
	}
	if n := layers(); n != layersBefore {
		t.Errorf("%d layers before the chapter, %d after", layersBefore, n)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dataRoot, "image", "tmp")); len(tmp) > 0 {
		t.Errorf("scratch left in the store: %v", tmp)
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "minirun-curso-*")); len(m) > 0 {
		t.Errorf("build context left behind: %v", m)
	}
	// The registry listened on 127.0.0.1 on a port of its own, which its
	// step's evidence names: nothing listens there any more
	// (/proc/net/tcp: local address 0100007F:PORT in hex, state 0A).
	m := regexp.MustCompile(`http://127\.0\.0\.1:(\d+)/v2/`).FindStringSubmatch(liveOut)
	if m == nil {
		t.Fatalf("the registry's address is not in the narration:\n%s", liveOut)
	}
	port, _ := strconv.Atoi(m[1])
	tcp, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(tcp), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[1] == fmt.Sprintf("0100007F:%04X", port) && f[3] == "0A" {
			t.Errorf("something still listens on 127.0.0.1:%d: %s", port, l)
		}
	}
}

// The volumes chapter shows, after its NFS check (what this kernel can
// mount, changing nothing), a named volume's whole life around one run
// --rm, in order: created, mounted (its tmpfs driver options), filled
// from the image, bound into the container, unmounted when the container
// exits (the evidence: the volume's own mountinfo lines, none left, not
// the whole table), and removed. Nothing stays: no volume, no mount.
func TestExplainVolumesShowsTheVolumesLife(t *testing.T) {
	evs := explainEvents(t, "volumes", "--lang", "en")
	want := []string{"volumes-nfs-check", "volumes-create", "volumes-mount", "volumes-copy", "volumes-bind", "volumes-unmount", "volumes-remove"}
	if got := strings.Join(ids(evs), " "); got != strings.Join(want, " ") {
		t.Fatalf("steps %s, want %s", got, strings.Join(want, " "))
	}
	ev := map[string]string{}
	for _, e := range evs {
		if e.Error != "" {
			t.Errorf("step %s failed: %s", e.Step.ID, e.Error)
		}
		ev[e.Step.ID] = e.Evidence
	}
	if !strings.Contains(ev["volumes-mount"], " tmpfs tmpfs ") || strings.Count(ev["volumes-mount"], "\n") != 1 {
		t.Errorf("mount evidence is not the volume's one mountinfo line: %q", ev["volumes-mount"])
	}
	// Evidence holds the Portuguese; the text in each language is checked
	// by the unit tests.
	if !strings.Contains(ev["volumes-unmount"], "nada montado ali") {
		t.Errorf("unmount evidence: %q", ev["volumes-unmount"])
	}
	if !strings.Contains(ev["volumes-copy"], "(vindos da imagem)") || strings.Contains(ev["volumes-copy"], "→ 0") {
		t.Errorf("copy evidence: the image's files were not copied: %q", ev["volumes-copy"])
	}
	if !strings.Contains(ev["volumes-bind"], "/usr/sbin tmpfs") {
		t.Errorf("bind evidence: %q", ev["volumes-bind"])
	}
	if out := ok(t, "volume", "ls", "-q"); strings.Contains(out, "curso-") {
		t.Errorf("the chapter left its volume:\n%s", out)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), "/volumes/curso-") {
		t.Error("the chapter left the volume mounted")
	}
}

// A live chapter narrates in the language asked for, evidence included,
// and fits the projector's 80 columns: the volumes chapter, whose
// evidence has words (what was copied, what is still mounted).
func TestExplainVolumesSpeaksOneLanguage(t *testing.T) {
	other := map[string][]string{
		"pt": {"why:", "shell:", "docs:", "evidence:", "from the image", "nothing mounted", "Create volume", "Unmount volume"},
		"en": {"por quê:", "comando:", "página:", "evidência:", "vindos da imagem", "nada montado", "Cria o volume", "Desmonta o volume"},
	}
	for _, lang := range []string{"pt", "en"} {
		out := ok(t, "explain", "volumes", "--lang", lang)
		t.Logf("--lang %s:\n%s", lang, out)
		if !strings.Contains(out, other[map[string]string{"pt": "en", "en": "pt"}[lang]][5]) {
			t.Errorf("--lang %s: the unmount's evidence is missing", lang)
		}
		for _, l := range strings.Split(out, "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("--lang %s: line of %d columns: %q", lang, n, l)
			}
			for _, w := range other[lang] {
				if strings.Contains(l, w) {
					t.Errorf("--lang %s: %q is the other language: %q", lang, w, l)
				}
			}
		}
	}
}
