package main

import (
	"os"
	"path/filepath"
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
