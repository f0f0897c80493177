package daemon

import (
	"testing"

	"github.com/minirun/minirun/network"
)

// network ls's filters: each filter must match, any of its values will do.
func TestNetworkMatches(t *testing.T) {
	ov := &network.Network{Name: "ov1", ID: "abc123", Driver: "overlay", Scope: "global"}
	br := &network.Network{Name: "bridge", ID: "def456", Driver: "bridge", Scope: "local"}
	for _, c := range []struct {
		args   map[string][]string
		ov, br bool
	}{
		{nil, true, true},
		{map[string][]string{"driver": {"overlay"}}, true, false},
		{map[string][]string{"driver": {"overlay", "bridge"}}, true, true},
		{map[string][]string{"type": {"builtin"}}, false, true},
		{map[string][]string{"type": {"custom"}, "driver": {"bridge"}}, false, false},
		{map[string][]string{"id": {"abc"}}, true, false},
		{map[string][]string{"name": {"v1"}}, true, false},
		{map[string][]string{"scope": {"local"}}, false, true},
	} {
		if got := networkMatches(ov, c.args); got != c.ov {
			t.Errorf("%v on ov1: %v", c.args, got)
		}
		if got := networkMatches(br, c.args); got != c.br {
			t.Errorf("%v on bridge: %v", c.args, got)
		}
	}
}

// The client names plugins NAME:latest; minirun's have no tags.
func TestTrimLatest(t *testing.T) {
	for in, want := range map[string]string{"vd:latest": "vd", "vd": "vd", ":latest": ":latest", "vd:v2": "vd:v2"} {
		if got := trimLatest(in); got != want {
			t.Errorf("trimLatest(%q) = %q, want %q", in, got, want)
		}
	}
}
