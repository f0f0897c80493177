package course

import (
	"bytes"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// Every chapter has a dry run, it narrates something, and every line of it
// fits a projector's 80 columns in each language, with the labels of that
// language only.
func TestEveryChapterDryRunFits80ColumnsInItsLanguage(t *testing.T) {
	other := map[explain.Lang][]string{
		explain.PT: {"why:", "shell:", "docs:", "evidence:"},
		explain.EN: {"por quê:", "comando:", "página:", "evidência:"},
	}
	for _, ci := range explain.Chapters {
		for _, lang := range []explain.Lang{explain.PT, explain.EN} {
			var out bytes.Buffer
			sink := &explain.TextSink{W: &out, Lang: lang, Width: 80}
			env := &Env{Image: "busybox", DataRoot: "/var/lib/minirun", StateRoot: "/run/minirun"}
			if _, err := Narrate(ci.Name, env, sink, nil, true); err != nil {
				t.Errorf("%s (%s): %v", ci.Name, lang, err)
				continue
			}
			if sink.Shown == 0 {
				t.Errorf("%s (%s): the dry run narrates no step", ci.Name, lang)
			}
			for _, l := range strings.Split(out.String(), "\n") {
				if n := len([]rune(l)); n > 80 {
					t.Errorf("%s (%s): line of %d columns: %q", ci.Name, lang, n, l)
				}
				for _, w := range other[lang] {
					if strings.Contains(l, w) {
						t.Errorf("%s (%s): %q is the other language: %q", ci.Name, lang, w, l)
					}
				}
			}
		}
	}
}

// The registry has every chapter explain lists, and nothing else.
func TestRegistryHasEveryChapter(t *testing.T) {
	for _, ci := range explain.Chapters {
		if _, err := Get(ci.Name); err != nil {
			t.Error(err)
		}
	}
	if len(registry) != len(explain.Chapters) {
		t.Errorf("%d chapters registered, %d listed", len(registry), len(explain.Chapters))
	}
	if _, err := Get("nope"); err == nil {
		t.Error("an unknown chapter was found")
	}
}
