package lab

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/minirun/minirun/explain"
)

func TestRunStopsAtFirstFailure(t *testing.T) {
	ran := 0
	check := func(err error) Check {
		return Check{What: text("o", "w"), Hint: text("dica "+errString(err), "hint "+errString(err)),
			Run: func(*Env) error { ran++; return err }}
	}
	l := &Lab{Name: "x", Title: text("título", "title"), Checks: []Check{check(nil), check(errors.New("falta")), check(nil)}}
	r := l.Run(&Env{})
	if ran != 2 {
		t.Errorf("%d checks ran, want 2 (the third depends on the second)", ran)
	}
	if r.Passed() || r.Results[1].Err == nil || !r.Results[2].Skipped {
		t.Errorf("results: %+v", r.Results)
	}
	var b bytes.Buffer
	r.Print(&b, explain.Both)
	out := b.String()
	for _, want := range []string{"✓ o / w", "✗ o / w", "encontrado / found: falta", "dica: dica falta", "hint: hint falta", "· o / w", "FALHOU / FAILED", "docs/labs/x.md"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	r.Print(&b, explain.EN)
	if strings.Contains(b.String(), "dica:") || !strings.Contains(b.String(), "hint: hint falta") || !strings.Contains(b.String(), "FAILED") {
		t.Errorf("English report:\n%s", b.String())
	}
	b.Reset()
	r.Print(&b, explain.PT)
	if strings.Contains(b.String(), "hint:") || !strings.Contains(b.String(), "FALHOU —") {
		t.Errorf("Portuguese report:\n%s", b.String())
	}

	ok := (&Lab{Name: "y", Checks: []Check{check(nil)}}).Run(&Env{})
	b.Reset()
	ok.Print(&b, explain.Both)
	if !ok.Passed() || !strings.HasSuffix(b.String(), "PASSOU / PASSED\n") {
		t.Errorf("passing report:\n%s", b.String())
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func TestWrap(t *testing.T) {
	long := strings.Repeat("palavra ", 30)
	out := wrap("    dica: "+long, 80, "      ")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("not wrapped: %q", out)
	}
	for i, l := range lines {
		if utf8.RuneCountInString(l) > 80 {
			t.Errorf("line %d has %d columns", i, utf8.RuneCountInString(l))
		}
		if i > 0 && !strings.HasPrefix(l, "      p") {
			t.Errorf("line %d not indented: %q", i, l)
		}
	}
	if !strings.HasPrefix(lines[0], "    dica: ") {
		t.Errorf("first line lost its lead: %q", lines[0])
	}
	if got := wrap("curto", 80, "  "); got != "curto\n" {
		t.Errorf("wrap(short) = %q", got)
	}
}

func TestLookup(t *testing.T) {
	if l, err := Lookup("dns-rr"); err != nil || l.Name != "dns-rr" {
		t.Errorf("Lookup(dns-rr) = %v, %v", l, err)
	}
	if _, err := Lookup("docker"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "namespaces") {
		t.Errorf("Lookup(docker) = %v, want ErrUnknown listing the labs", err)
	}
}

// Every lab has a page in docs/labs, in both languages and 80 columns,
// whose runnable part starts with the failing check and ends, before the
// cleanup, with the passing one; every check speaks both languages.
func TestEveryLabHasItsPage(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range All() {
		if seen[l.Name] {
			t.Errorf("lab %s twice", l.Name)
		}
		seen[l.Name] = true
		if l.Title.PT == "" || l.Title.EN == "" || len(l.Checks) == 0 {
			t.Errorf("lab %s: title %+v, %d checks", l.Name, l.Title, len(l.Checks))
		}
		for i, c := range l.Checks {
			if c.What.PT == "" || c.What.EN == "" || c.Hint.PT == "" || c.Hint.EN == "" || c.Run == nil {
				t.Errorf("lab %s check %d: %+v", l.Name, i, c)
			}
		}
		md, err := os.ReadFile(filepath.Join("..", l.Page()))
		if err != nil {
			t.Errorf("lab %s: %v", l.Name, err)
			continue
		}
		for n, line := range strings.Split(string(md), "\n") {
			if utf8.RuneCountInString(line) > 80 {
				t.Errorf("%s:%d: %d columns (the projector has 80)", l.Page(), n+1, utf8.RuneCountInString(line))
			}
		}
		if !bytes.Contains(md, []byte("**pt**")) || !bytes.Contains(md, []byte("**en**")) {
			t.Errorf("%s: not in both languages", l.Page())
		}
		g, err := ParseGuide(md)
		if err != nil {
			t.Errorf("%s: %v", l.Page(), err)
			continue
		}
		if len(g.Steps) < 3 || len(g.Cleanup) == 0 {
			t.Errorf("%s: %d steps, %d cleanup blocks", l.Page(), len(g.Steps), len(g.Cleanup))
			continue
		}
		check := "minirun lab check " + l.Name + "\n"
		first := g.Steps[0]
		if first.Script != check || first.Exit != 1 {
			t.Errorf("%s: the first block should be the failing check, is %q (exit %d)", l.Page(), first.Script, first.Exit)
		}
		found := false
		for _, b := range g.Steps[1:] {
			if b.Script == check && len(b.Expect) > 0 && b.Expect[0] == "PASSOU" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no block runs %q expecting PASSOU", l.Page(), strings.TrimSpace(check))
		}
	}
	// And every page is a lab: no orphan guide.
	pages, _ := filepath.Glob(filepath.Join("..", "docs", "labs", "*.md"))
	for _, p := range pages {
		name := strings.TrimSuffix(filepath.Base(p), ".md")
		if name != "README" && !seen[name] {
			t.Errorf("%s has no lab (add it to All)", p)
		}
	}
}
