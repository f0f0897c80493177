package course

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
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

// markers are words only one language has: a line narrated in the other
// language that holds one is mixed ("3 regra(s)/rule(s)", "já existia /
// already there").
var markers = map[explain.Lang][]string{
	explain.PT: {"não", "já", "é", "são", "um", "uma", "os", "das", "dos", "em", "sem", "para", "pelo", "pela", "que",
		"contêiner", "contêineres", "regra", "regras", "rede", "redes", "antes", "depois", "vivos", "fica",
		"apagada", "nada", "linhas", "desfaz", "existia", "estava", "cria"},
	explain.EN: {"the", "and", "with", "without", "of", "is", "are", "not", "already", "before", "after", "rule",
		"rules", "kept", "deleted", "live", "nothing", "lines", "networks", "undo", "which", "when", "its", "this",
		"that", "into", "from", "there"},
}

// infinitive is a Portuguese verb in the infinitive (Criar, Remover,
// Extrair), as a title's first word.
var infinitive = regexp.MustCompile(`^[A-ZÁÉÍÓÚ][a-záéíóúâêôãõç]+(ar|er|ir)$`)

// otherLanguage returns the first word of text that only the language
// other than lang has, or "".
func otherLanguage(lang explain.Lang, text string) string {
	other := explain.EN
	if lang == explain.EN {
		other = explain.PT
	}
	words := strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == '\n' || r == '/' })
	for _, w := range words {
		w = strings.TrimSuffix(strings.Trim(w, ",.;:()[]{}\"'`?!"), "(s")
		for _, m := range markers[other] {
			if w == m {
				return w
			}
		}
	}
	return ""
}

// Every step of every chapter's dry run has its title and reason in the
// narration's language only; and so does each text with words in it that a
// step shows as evidence: EvidenceText, and Evidence (which is shown as is
// in both languages, so it may hold no words of either).
func TestEveryChapterSpeaksOneLanguage(t *testing.T) {
	for _, ci := range explain.Chapters {
		rec := &explain.Recorder{}
		env := &Env{Image: "busybox", DataRoot: "/var/lib/minirun", StateRoot: "/run/minirun"}
		if _, err := Narrate(ci.Name, env, rec, nil, true); err != nil {
			t.Errorf("%s: %v", ci.Name, err)
			continue
		}
		for _, ev := range rec.Events {
			// One mood for titles, as most have it: "Cria a bridge" /
			// "Create bridge", not "Criar a bridge" (the infinitive).
			if f := strings.Fields(ev.Step.Title.PT); len(f) > 0 && infinitive.MatchString(f[0]) {
				t.Errorf("%s: step %s: title %q: say %q in the 3rd person (\"Cria\", \"Monta\"), as the other titles", ci.Name, ev.Step.ID, ev.Step.Title.PT, f[0])
			}
			for _, lang := range []explain.Lang{explain.PT, explain.EN} {
				for what, text := range map[string]string{"title": ev.Step.Title.In(lang), "why": ev.Step.Why.In(lang)} {
					if w := otherLanguage(lang, text); w != "" {
						t.Errorf("%s: step %s: %s in %s has %q: %q", ci.Name, ev.Step.ID, what, lang, w, text)
					}
				}
			}
		}
	}
}

func TestOtherLanguageFindsMixedText(t *testing.T) {
	for _, c := range []struct {
		lang explain.Lang
		text string
		want string
	}{
		{explain.PT, "3 regra(s)/rule(s) em/in ip minirun", "rule"},
		{explain.PT, "já existia / already there: index 4", "already"},
		{explain.EN, "live minirun-shim processes: 0", ""},
		{explain.EN, "minirun-shim vivos: 0", "vivos"},
		{explain.PT, "Cria o volume dados", ""},
		{explain.EN, "Create volume dados", ""},
	} {
		if got := otherLanguage(c.lang, c.text); got != c.want {
			t.Errorf("otherLanguage(%s, %q) = %q, want %q", c.lang, c.text, got, c.want)
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

// Evidence is shown as is in every language, so its words must be in
// neither (a step whose evidence needs words says them in EvidenceText);
// and an EvidenceText's Portuguese and English hold no word of the other
// language. This reads the code (go/ast): evidence is only computed in a
// live run, which a unit test cannot make.
func TestEvidenceSpeaksOneLanguage(t *testing.T) {
	fset := token.NewFileSet()
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "third_party", "testdata", "tests", "docs":
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
		// Any string with words of both languages is the old way of
		// saying evidence ("já existia / already there"), also when a
		// helper (listRules) builds it. The labs' checks and the demo
		// images answer in both languages on purpose: they have no
		// --lang.
		if top := strings.Split(filepath.ToSlash(path), "/")[1]; top != "lab" && top != "images" && top != "cmd" {
			for _, l := range literals(f) {
				if pt, en := otherLanguage(explain.EN, l), otherLanguage(explain.PT, l); pt != "" && en != "" {
					t.Errorf("%s: %q has %q and %q: one language per text (explain.Text)", path, l, pt, en)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var key string
			var val ast.Expr
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok {
					key, val = id.Name, n.Value
				}
			case *ast.AssignStmt:
				if sel, ok := n.Lhs[0].(*ast.SelectorExpr); ok && len(n.Rhs) == 1 {
					key, val = sel.Sel.Name, n.Rhs[0]
				}
			}
			fl, ok := val.(*ast.FuncLit)
			if !ok {
				return true
			}
			switch key {
			case "Evidence":
				for _, l := range literals(fl.Body) {
					for _, lang := range []explain.Lang{explain.PT, explain.EN} {
						if w := otherLanguage(lang, l); w != "" {
							t.Errorf("%s: Evidence has the word %q (%q): say it in EvidenceText", fset.Position(fl.Pos()), w, l)
						}
					}
				}
			case "EvidenceText":
				ast.Inspect(fl.Body, func(n ast.Node) bool {
					kv, ok := n.(*ast.KeyValueExpr)
					if !ok {
						return true
					}
					id, ok := kv.Key.(*ast.Ident)
					if !ok || (id.Name != "PT" && id.Name != "EN") {
						return true
					}
					lang := explain.Lang(strings.ToLower(id.Name))
					for _, l := range literals(kv.Value) {
						if w := otherLanguage(lang, l); w != "" {
							t.Errorf("%s: EvidenceText's %s has %q (%q)", fset.Position(kv.Pos()), id.Name, w, l)
						}
					}
					return false
				})
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// literals returns the string literals in n, unquoted.
func literals(n ast.Node) []string {
	var out []string
	ast.Inspect(n, func(n ast.Node) bool {
		if b, ok := n.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}
