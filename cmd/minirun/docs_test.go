package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Every step minirun narrates points at an anchor in docs/: this walks the
// dry-run plan of a container that uses every feature and checks that each
// step's page has the anchor, so the slides cannot fall behind the code.
func TestEveryStepHasItsDocsAnchor(t *testing.T) {
	rec := &explain.Recorder{}
	tr := explain.NewDryRun(rec)
	tr.Do(overlay.MountStep(overlay.Options{Lower: []string{"/l"}, Upper: "/u", Work: "/w", Target: "/m"}), nil)
	s := runtime.DefaultSpec()
	s.Root.Path = "/rootfs"
	s.Root.Readonly = true
	s.Process.Cwd = "/work"
	adj := 100
	s.Process.OOMScoreAdj = &adj
	s.Domainname = "example"
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/other", Type: "ramfs", Source: "ramfs"})
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}, StartContainer: []specs.Hook{{Path: "/bin/true"}}}
	if _, err := runtime.Create(runtime.CreateOpts{Root: "/run/minirun", ID: "docs", Bundle: "/b", Spec: s, Tracer: tr}); err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) < 30 {
		t.Fatalf("only %d steps in the dry run", len(rec.Events))
	}
	pages := map[string]string{}
	for _, ev := range rec.Events {
		st := ev.Step
		if st.Title.PT == "" || st.Title.EN == "" || st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" {
			t.Errorf("step %s lacks a title, a reason (pt and en) or its shell equivalent", st.ID)
		}
		if !explain.Known(st.Chapter) && st.Chapter != explain.ChapterImages {
			t.Errorf("step %s: unknown chapter %q", st.ID, st.Chapter)
		}
		file, anchor, _ := strings.Cut(ev.Anchor, "#")
		page, ok := pages[file]
		if !ok {
			b, err := os.ReadFile(filepath.Join("..", "..", file))
			if err != nil {
				t.Errorf("step %s: %v", st.ID, err)
				continue
			}
			page = string(b)
			pages[file] = page
		}
		if !strings.Contains(page, `id="`+anchor+`"`) {
			t.Errorf("step %s: %s has no anchor id=%q", st.ID, file, anchor)
		}
	}
}

// stepDecl finds the step declarations of the code base: an ID and its
// chapter, written together as every package does.
var stepDecl = regexp.MustCompile(`ID:\s*"([a-z0-9-]+)",\s*Chapter:\s*explain\.Chapter([A-Za-z]+)`)

// Every step declared anywhere in the code (not only those of a dry run)
// has its anchor in its chapter's page.
func TestEveryDeclaredStepHasItsAnchor(t *testing.T) {
	seen := 0
	filepath.WalkDir(filepath.Join("..", ".."), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "docs") {
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range stepDecl.FindAllStringSubmatch(string(b), -1) {
			seen++
			page := filepath.Join("..", "..", "docs", strings.ToLower(m[2])+".md")
			doc, err := os.ReadFile(page)
			if err != nil {
				t.Errorf("%s: step %s: %v", path, m[1], err)
				continue
			}
			if !strings.Contains(string(doc), `id="`+m[1]+`"`) {
				t.Errorf("%s: step %s has no anchor in %s", path, m[1], page)
			}
		}
		return nil
	})
	if seen < 40 {
		t.Fatalf("found only %d step declarations: the pattern no longer matches the code", seen)
	}
}
