package network

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// Every step this package narrates has its anchor in docs/network.md, a
// title and a reason in both languages and a shell equivalent; and the
// sample session narrates every step id there is.
func TestEveryStepHasItsDocsAnchor(t *testing.T) {
	rec := &explain.Recorder{}
	if err := ExplainDryRun(explain.NewDryRun(rec), "/var/lib/minirun"); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../docs/network.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range rec.Events {
		st := ev.Step
		seen[st.ID] = true
		if st.Chapter != explain.ChapterNetwork || ev.Anchor != "docs/network.md#"+st.ID {
			t.Errorf("step %s: chapter %s anchor %s", st.ID, st.Chapter, ev.Anchor)
		}
		if st.Title.PT == "" || st.Title.EN == "" || st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" {
			t.Errorf("step %s lacks a title, a reason (pt and en) or its shell equivalent", st.ID)
		}
		if !strings.Contains(string(page), `<a id="`+st.ID+`"></a>`) {
			t.Errorf("docs/network.md has no anchor for %s", st.ID)
		}
	}
	ids := []string{StepState, StepBridge, StepGateway, StepIPForward, StepRouteLocalnet, StepNftTable, StepMasquerade,
		StepIsolation, StepLocalnetGuard, StepForward, StepDNS, StepIPAM, StepVeth, StepBridgePort, StepMoveLink, StepAddr,
		StepRoute, StepDNAT, StepJoin, StepDNATDelete, StepVethDelete, StepIPAMRelease, StepDNSStop, StepRulesDelete,
		StepBridgeDelete, StepStateDelete, StepNftTableDel}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("the sample session never narrates %s", id)
		}
	}
	want := []string{StepState, StepBridge, StepGateway, StepIPForward, StepRouteLocalnet, StepNftTable, StepMasquerade,
		StepIsolation, StepLocalnetGuard, StepForward, StepDNS, StepIPAM, StepVeth, StepBridgePort, StepMoveLink, StepAddr,
		StepRoute, StepDNAT, StepJoin, StepDNATDelete, StepVethDelete, StepIPAMRelease, StepDNSStop, StepRulesDelete,
		StepBridgeDelete, StepStateDelete, StepNftTableDel}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("order of the steps:\n got %v\nwant %v", got, want)
	}
}
