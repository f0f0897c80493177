package course

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// The overlay chapter's dry run describes the whole lab in order — the
// underlay, etcd, the hosts joining, the network made on A and recorded
// on B (from the definition A's steps would have written: the store's
// steps are rehearsed in memory), a container on each host, the peers
// learned on both hosts, the evidence, and the teardown — each step with
// its anchor in its chapter's page, and without touching the host.
func TestOverlayDryRunListsTheLab(t *testing.T) {
	rec := &explain.Recorder{}
	if _, err := Narrate(explain.ChapterOverlay, &Env{Image: "busybox", DataRoot: t.TempDir(), StateRoot: t.TempDir()}, rec, nil, true); err != nil {
		t.Fatal(err)
	}
	host := func(id string) []string {
		return []string{"overlay-container", "network-overlay-ipam", "network-veth", "network-addr", "network-join", "network-overlay-endpoint"}
	}
	teardown := func() []string {
		return []string{"network-veth-delete", "network-overlay-endpoint-delete", "network-overlay-ipam-release", "network-ipam-release"}
	}
	var want []string
	want = append(want, "overlay-underlay", "overlay-host", "overlay-host", "overlay-etcd", "overlay-join", "overlay-join",
		// A: network create -d overlay
		"network-overlay-name", "network-overlay-vni", "network-overlay-subnet", "network-overlay-define",
		"network-state", "network-bridge", "network-overlay-vxlan", "network-dns",
		// B: its watch sees the definition
		"overlay-watch", "network-state")
	want = append(want, host("c1")...)
	// B's first container brings the network's devices up there, as
	// Docker does: lazily.
	want = append(want, "overlay-container", "network-overlay-ipam", "network-bridge", "network-overlay-vxlan", "network-dns",
		"network-veth", "network-addr", "network-join", "network-overlay-endpoint")
	// B learns c1 as c2 attaches; A learns c2 on its watch.
	want = append(want, "network-overlay-peers", "network-overlay-peer", "overlay-watch", "network-overlay-peers", "network-overlay-peer",
		"overlay-tables", "overlay-tables", "overlay-keys", "overlay-ping", "network-dns-rr")
	want = append(want, teardown()...)
	want = append(want, teardown()...)
	want = append(want, "network-overlay-undefine", "network-dns-stop", "network-overlay-vxlan-delete", "network-bridge-delete", "network-state-delete",
		"network-dns-stop", "network-overlay-vxlan-delete", "network-bridge-delete", "network-state-delete")
	if got := rec.IDs(); !slices.Equal(got, want) {
		t.Errorf("dry run steps:\n got %q\nwant %q", got, want)
	}

	pages := map[string]string{}
	for _, ev := range rec.Events {
		if !ev.DryRun {
			t.Errorf("step %s ran in a dry run", ev.Step.ID)
		}
		file, anchor, _ := strings.Cut(ev.Anchor, "#")
		if _, ok := pages[file]; !ok {
			b, err := os.ReadFile(filepath.Join("..", file))
			if err != nil {
				t.Fatal(err)
			}
			pages[file] = string(b)
		}
		if !strings.Contains(pages[file], `id="`+anchor+`"`) {
			t.Errorf("step %s: %s has no anchor %q", ev.Step.ID, file, anchor)
		}
		if ev.Step.Chapter == explain.ChapterOverlay && ev.Step.Shell == "" {
			t.Errorf("step %s has no shell equivalent", ev.Step.ID)
		}
	}
	// B's record is A's network: the same subnet in both titles.
	var records []string
	for _, ev := range rec.Events {
		if ev.Step.ID == "network-state" {
			records = append(records, ev.Step.Title.EN)
		}
	}
	if len(records) != 2 || records[0] != records[1] {
		t.Errorf("A and B record different networks: %q", records)
	}
	// The lab's names: nothing of them exists after a dry run.
	for _, ev := range rec.Events {
		if ev.Step.ID != "overlay-underlay" {
			continue
		}
		f := strings.Fields(ev.Step.Shell)
		if _, err := os.Stat("/run/netns/" + f[3]); err == nil {
			t.Errorf("the dry run made namespace %s", f[3])
		}
	}
}

// The slides that name overlay steps are the overlay chapter's to show:
// its dry run runs every one of them.
func TestOverlayDryRunCoversItsSlides(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range dryIDs(t, explain.ChapterOverlay, &Env{Image: "busybox", DataRoot: t.TempDir(), StateRoot: t.TempDir()}) {
		seen[id] = true
	}
	n := 0
	for _, s := range explain.Slides {
		for _, a := range s.Also {
			if a.Chapter != explain.ChapterOverlay {
				continue
			}
			for _, id := range a.Steps {
				n++
				if !seen[id] {
					t.Errorf("slide %d (%s) names %s, which the overlay chapter never shows", s.Num, s.Title, id)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no slide names an overlay step")
	}
	// The narration names those slides on the steps.
	if l := explain.SlideLabels("overlay-ping"); !strings.Contains(l, "slide 21") {
		t.Errorf("overlay-ping names slides %q, not slide 21", l)
	}
}
