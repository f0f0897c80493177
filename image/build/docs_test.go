package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

func TestStepsHaveDocsAnchors(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "images.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []explain.Step{stepBuild(1, 2, "RUN true"), stepBuildDiff("/upper")} {
		if st.Title.PT == "" || st.Title.EN == "" || st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" {
			t.Errorf("step %s incomplete", st.ID)
		}
		if _, anchor, _ := strings.Cut(st.Anchor(), "#"); !strings.Contains(string(page), `id="`+anchor+`"`) {
			t.Errorf("no anchor for %s", st.ID)
		}
	}
}
