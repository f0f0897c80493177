package course

import (
	"testing"

	"github.com/minirun/minirun/explain"
)

// The network chapter's dry run shows every step the deck's network
// slides name, and names each slide it runs: `explain --slide N --dry-run`
// is never empty for a network slide.
func TestNetworkDryRunCoversItsSlides(t *testing.T) {
	rec := &explain.Recorder{}
	if _, err := Narrate(explain.ChapterNetwork, &Env{Image: "busybox", DataRoot: t.TempDir(), StateRoot: t.TempDir()}, rec, nil, true); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range rec.IDs() {
		seen[id] = true
	}
	for _, s := range explain.Slides {
		if s.Chapter != explain.ChapterNetwork {
			continue
		}
		for _, id := range s.Steps {
			if !seen[id] {
				t.Errorf("slide %d (%s) names %s, which the network chapter never shows", s.Num, s.Title, id)
			}
		}
	}
	// The teardown is shown too: everything the chapter made goes.
	for _, id := range []string{"network-dns-rr", "network-localhost", "network-etc-files", "network-dnat-delete", "network-bridge-delete", "network-nft-table-delete"} {
		if !seen[id] {
			t.Errorf("the network chapter's dry run never shows %s: %v", id, rec.IDs())
		}
	}
}
