package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// Every step the store narrates has its anchor in docs/images.md, with a
// title and a reason in both languages and a shell equivalent.
func TestStepsHaveDocsAnchors(t *testing.T) {
	s, _ := newStore(t)
	rec := &explain.Recorder{}
	s.Pull("127.0.0.1:1/x:1", PullOptions{Tracer: explain.NewDryRun(rec)})
	page, err := os.ReadFile(filepath.Join("..", "docs", "images.md"))
	if err != nil {
		t.Fatal(err)
	}
	checkAnchors(t, rec, string(page))
}

func checkAnchors(t *testing.T, rec *explain.Recorder, page string) {
	t.Helper()
	if len(rec.Events) == 0 {
		t.Fatal("no steps recorded")
	}
	for _, ev := range rec.Events {
		st := ev.Step
		if st.Title.PT == "" || st.Title.EN == "" || st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" {
			t.Errorf("step %s lacks a title, a reason or its shell", st.ID)
		}
		if file, anchor, _ := strings.Cut(ev.Anchor, "#"); file != "docs/images.md" || !strings.Contains(page, `id="`+anchor+`"`) {
			t.Errorf("step %s: no anchor %s in docs/images.md", st.ID, ev.Anchor)
		}
	}
}
