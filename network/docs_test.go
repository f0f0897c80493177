package network

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// drySession walks, changing nothing, a session that takes every step
// this package has: create a network, plug in two containers (one
// publishing a port), ask its DNS, reach the port on localhost, disconnect
// and connect one, detach both, remove the network — through the same
// Manager methods a real session calls.
func drySession(t *testing.T, rec *explain.Recorder) {
	tr := explain.NewDryRun(rec)
	m, err := Open(t.TempDir(), tr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Create(CreateOpts{Name: "curso"})
	if err != nil {
		t.Fatal(err)
	}
	web, cli := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	ep, err := m.Reserve("curso", web, "web", EndpointOpts{Aliases: []string{"web"}, Ports: []PortMapping{{ContainerPort: 80, Proto: "tcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Do(EtcWriteStep("/var/lib/minirun/containers/x", "web", []*Endpoint{ep}), nil)
	if err := m.Attach(ep, 0, "eth0"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Connect("curso", cli, "cli", 0, EndpointOpts{}); err != nil {
		t.Fatal(err)
	}
	tr.Do(DNSRoundRobinStep(n, "web", 2), nil)
	tr.Do(LocalhostStep(ep.Ports[0], "/"), nil)
	if err := m.Disconnect("curso", cli); err != nil {
		t.Fatal(err)
	}
	tr.Do(EtcFilesStep("/var/lib/minirun/containers/x", "cli", nil), nil)
	if err := m.Detach(ep); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("curso"); err != nil {
		t.Fatal(err)
	}
}

// Every step this package narrates has its anchor in docs/network.md, a
// title and a reason in both languages and a shell equivalent; and the
// sample session narrates every step id there is, in the real order.
func TestEveryStepHasItsDocsAnchor(t *testing.T) {
	rec := &explain.Recorder{}
	drySession(t, rec)
	page, err := os.ReadFile("../docs/network.md")
	if err != nil {
		t.Fatal(err)
	}
	checkNarration(t, rec, string(page))
	up := []string{StepState, StepBridge, StepGateway, StepIPForward, StepRouteLocalnet, StepNftTable, StepMasquerade,
		StepIsolation, StepLocalnetGuard, StepForward, StepDNS}
	plug := []string{StepIPAM, StepVeth, StepBridgePort, StepAddr, StepRoute}
	var want []string
	want = append(want, up...)
	// The first container's /etc files, written between its Reserve and
	// its Attach as reserveNetwork and the shim do.
	want = append(append(append(want, StepIPAM, StepEtcWrite), plug[1:]...), StepDNAT, StepJoin)
	// The network was made by this session: connecting to it finds it up.
	want = append(append(want, plug...), StepJoin)
	want = append(want, StepDNSRoundRobin, StepLocalhost, StepVethDelete, StepIPAMRelease, StepEtcFiles,
		StepDNATDelete, StepVethDelete, StepIPAMRelease,
		StepDNSStop, StepRulesDelete, StepBridgeDelete, StepStateDelete, StepNftTableDel)
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("order of the steps:\n got %v\nwant %v", got, want)
	}
}

// checkNarration checks each narrated step: chapter network, its anchor
// in page (docs/network.md), a title and a reason in both languages and a
// shell equivalent.
func checkNarration(t *testing.T, rec *explain.Recorder, page string) {
	t.Helper()
	for _, ev := range rec.Events {
		st := ev.Step
		if st.Chapter != explain.ChapterNetwork || ev.Anchor != "docs/network.md#"+st.ID {
			t.Errorf("step %s: chapter %s anchor %s", st.ID, st.Chapter, ev.Anchor)
		}
		if st.Title.PT == "" || st.Title.EN == "" || st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" {
			t.Errorf("step %s lacks a title, a reason (pt and en) or its shell equivalent", st.ID)
		}
		if !strings.Contains(page, `<a id="`+st.ID+`"></a>`) {
			t.Errorf("docs/network.md has no anchor for %s", st.ID)
		}
	}
}

// A dry run writes nothing: no network directory, no lock file.
func TestDrySessionWritesNothing(t *testing.T) {
	rec := &explain.Recorder{}
	tr := explain.NewDryRun(rec)
	dir := t.TempDir()
	m, err := Open(dir, tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(CreateOpts{Name: "curso"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("curso"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a dry run wrote %v", ents)
	}
	if _, err := m.Get("curso"); err == nil {
		t.Fatal("the dry run still lists the network it removed")
	}
}
