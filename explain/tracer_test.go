package explain

import (
	"errors"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/cleanup"
)

// A failing step's error names the step and its slides, and the undos of
// the steps before it are narrated as they run: the rollback is visible.
func TestTracerNamesTheFailingStepAndNarratesTheRollback(t *testing.T) {
	rec := &Recorder{}
	tr := New(rec)
	var undo cleanup.Stack
	undone := ""
	ok := Step{ID: "network-bridge", Chapter: ChapterNetwork, Title: Text{PT: "Cria a bridge", EN: "Create the bridge"},
		Do: func() error { return nil }, Undo: func() error { undone += "bridge "; return nil }}
	cause := errors.New("file exists")
	bad := Step{ID: "network-veth", Chapter: ChapterNetwork, Title: Text{PT: "Cria o par veth", EN: "Create the veth pair"},
		Do: func() error { return cause }, Undo: func() error { undone += "veth "; return nil }}
	if err := tr.Do(ok, &undo); err != nil {
		t.Fatal(err)
	}
	err := tr.Do(bad, &undo)
	if !errors.Is(err, cause) {
		t.Fatalf("the cause is lost: %v", err)
	}
	want := "step network-veth (" + SlideLabels("network-veth") + "): file exists"
	if SlideLabels("network-veth") == "" || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if err := undo.Run(); err != nil {
		t.Fatal(err)
	}
	if undone != "bridge " {
		t.Fatalf("undone: %q (only the step that succeeded is undone)", undone)
	}
	last := rec.Events[len(rec.Events)-1]
	if len(rec.Events) != 3 || !last.Undo || last.Step.ID != "network-bridge" || !strings.HasPrefix(last.Step.Title.PT, "desfaz: ") || !strings.HasPrefix(last.Step.Title.EN, "undo: ") {
		t.Fatalf("the rollback is not narrated: %+v", rec.Events)
	}
}
