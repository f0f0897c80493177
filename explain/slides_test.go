package explain

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = ".."

// deckPath finds the course's deck: MINIRUN_DECK, or shared/seed/ beside the
// repository (where the project's workspace and CI keep it).
func deckPath() string {
	if p := os.Getenv("MINIRUN_DECK"); p != "" {
		return p
	}
	p := filepath.Join(repoRoot, "..", "shared", "seed", DeckFile)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

const miniDeck = `name: splash
layout: true
class: center

---
count:false
# Capa
---
layout: true
name: conteudo
#.logo[x]

---
template: conteudo

# Agenda
---

# Primeiro
texto
--
### mais, no mesmo slide
---
#LAB
 - passo

???
notas: # não é título
---
`

func TestParseDeckRules(t *testing.T) {
	got, err := ParseDeck(strings.NewReader(miniDeck))
	if err != nil {
		t.Fatal(err)
	}
	want := []DeckSlide{{1, "Capa"}, {2, "Agenda"}, {3, "Primeiro"}, {4, "LAB"}}
	if len(got) != len(want) {
		t.Fatalf("slides %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slide %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
	if _, err := ParseDeck(strings.NewReader("---\n---\n")); err == nil {
		t.Error("a deck with no slides parsed")
	}
}

// The slide map covers the deck exactly: one entry per slide, same number,
// same title.
func TestSlideMapMatchesTheDeck(t *testing.T) {
	p := deckPath()
	if p == "" {
		t.Skip("the deck is not here (set MINIRUN_DECK); the map's own checks run in TestSlideMapReferencesExist")
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deck, err := ParseDeck(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(deck) != len(Slides) {
		t.Errorf("the deck has %d slides, the map %d", len(deck), len(Slides))
	}
	for _, d := range deck {
		s, ok := SlideByNum(d.Num)
		if !ok {
			t.Errorf("slide %d (%q) has no entry in the slide map", d.Num, d.Title)
			continue
		}
		if s.Title != d.Title {
			t.Errorf("slide %d: the map says %q, the deck %q", d.Num, s.Title, d.Title)
		}
	}
}

// Every step, lab and docs anchor the map names exists, and every slide
// either shows something or says why it does not.
func TestSlideMapReferencesExist(t *testing.T) {
	steps := declaredStrings(t)
	for i, s := range Slides {
		if s.Num != i+1 {
			t.Errorf("entry %d has number %d: the map is in display order", i+1, s.Num)
		}
		if s.Title == "" {
			t.Errorf("slide %d has no title", s.Num)
		}
		switch s.Kind {
		case SlideContent:
			if len(s.Steps) == 0 && s.Lab == "" && s.Doc == "" {
				t.Errorf("slide %d (%s): nothing covers it", s.Num, s.Title)
			}
		case SlideTitle, SlideAgenda, SlideSection, SlideVendor:
			if s.Note.PT == "" || s.Note.EN == "" {
				t.Errorf("slide %d (%s) is a %s slide and must say so in pt and en", s.Num, s.Title, s.Kind)
			}
		default:
			t.Errorf("slide %d: unknown kind %q", s.Num, s.Kind)
		}
		if (s.Note.PT == "") != (s.Note.EN == "") {
			t.Errorf("slide %d: its note needs both languages", s.Num)
		}
		if len(s.Steps) > 0 && !Known(s.Chapter) {
			t.Errorf("slide %d: steps without a chapter that runs them (%q)", s.Num, s.Chapter)
		}
		for _, a := range s.Also {
			if !Known(a.Chapter) || a.Chapter == s.Chapter || len(a.Steps) == 0 {
				t.Errorf("slide %d: Also names chapter %q (known: %v) with %d steps", s.Num, a.Chapter, Known(a.Chapter), len(a.Steps))
			}
		}
		for _, id := range s.AllSteps() {
			if !steps[id] {
				t.Errorf("slide %d: step %q is declared nowhere in the code", s.Num, id)
			}
			if !anchorExists(t, "docs/*.md", id) {
				t.Errorf("slide %d: step %q has no anchor in docs/", s.Num, id)
			}
		}
		if s.Lab != "" {
			if _, err := os.Stat(filepath.Join(repoRoot, "docs", "labs", s.Lab+".md")); err != nil {
				t.Errorf("slide %d: lab %q has no page: %v", s.Num, s.Lab, err)
			}
			if !steps[s.Lab] {
				t.Errorf("slide %d: lab %q is not declared in lab/", s.Num, s.Lab)
			}
		}
		if s.Doc != "" {
			file, anchor, ok := strings.Cut(s.Doc, "#")
			if !ok || !anchorExists(t, file, anchor) {
				t.Errorf("slide %d: docs anchor %q does not exist", s.Num, s.Doc)
			}
		}
	}
}

func TestSlidesForAStep(t *testing.T) {
	got := SlidesFor("network-dns")
	if len(got) == 0 {
		t.Fatal("network-dns shows no slide")
	}
	found := false
	for _, s := range got {
		if s.Title == "DNS RR" {
			found = true
			if s.Label() != "slide 26 · DNS RR" {
				t.Errorf("label %q", s.Label())
			}
		}
	}
	if !found {
		t.Errorf("network-dns does not show the DNS RR slide: %v", got)
	}
	if SlideLabels("no-such-step") != "" {
		t.Error("an unknown step names a slide")
	}
}

// anchorExists looks for id="anchor" in the docs files matching glob.
func anchorExists(t *testing.T, glob, anchor string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot, glob))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), `id="`+anchor+`"`) {
			return true
		}
	}
	return false
}

// declaredStrings collects the string constants of minirun's non-test Go
// code: step IDs are written as literals (ID: "ns-clone") or constants
// (StepDNS = "network-dns"), lab names as Name: "network".
func declaredStrings(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "third_party", "docs", "tests":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
				if v, err := strconv.Unquote(bl.Value); err == nil {
					out[v] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The list shows every slide, and fits the projector in every language.
func TestPrintSlidesFits80Columns(t *testing.T) {
	for _, lang := range []Lang{PT, EN, Both} {
		var b strings.Builder
		PrintSlides(&b, lang, 80)
		for _, s := range Slides {
			PrintSlide(&b, s, lang, 80)
		}
		PrintChapters(&b, lang, 80)
		out := b.String()
		for _, l := range strings.Split(out, "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("%s: line of %d columns: %q", lang, n, l)
			}
		}
		for _, s := range Slides {
			if !strings.Contains(out, fmt.Sprintf("%3d  %s", s.Num, firstWord(s.Title))) {
				t.Errorf("%s: slide %d missing from the list", lang, s.Num)
			}
		}
	}
	var pt strings.Builder
	PrintSlides(&pt, PT, 80)
	if strings.Contains(pt.String(), "chapter") || !strings.Contains(pt.String(), "capítulo network") {
		t.Errorf("the Portuguese list is not Portuguese:\n%s", pt.String())
	}
}

func firstWord(s string) string { w, _, _ := strings.Cut(s, " "); return w }
