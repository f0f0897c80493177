package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/course"
	"github.com/minirun/minirun/explain"
)

// `explain CHAPTER --shell` is built from the chapter's dry run: every
// Shell line of the chapter's steps is in the script, as both cgroup
// layouts describe it, and the script is valid bash.
func TestExplainShellIsTheDryRun(t *testing.T) {
	for _, ch := range []explain.Chapter{explain.ChapterNamespaces, explain.ChapterRootfs, explain.ChapterCgroups} {
		t.Run(string(ch), func(t *testing.T) {
			var out bytes.Buffer
			if err := printShell(&out, ch, explain.EN, "busybox"); err != nil {
				t.Fatal(err)
			}
			script := out.String()
			// Undo the folding: the continuations are the script's own.
			flat := strings.ReplaceAll(script, " \\\n    ", " ")
			flat = strings.ReplaceAll(flat, " \\\n\t    ", " ")
			c, err := course.Get(ch)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []cgroups.Mode{cgroups.Legacy, cgroups.Unified} {
				rec := &explain.Recorder{}
				restore := cgroups.DescribeAs(m)
				err := c.DryRun(&course.Env{Image: "busybox", DataRoot: explain.ShellDataRoot, StateRoot: explain.ShellStateRoot}, explain.NewDryRun(rec))
				restore()
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, s := range explain.PlanOf(rec.Events) {
					if s.Chapter != ch || strings.HasPrefix(s.Shell, "# ") {
						continue
					}
					n++
					line := strings.TrimSuffix(strings.SplitN(s.Shell, "\n", 2)[0], " minirun init")
					if !strings.Contains(flat, line) {
						t.Errorf("%v: step %s's shell %q is not in the script", m, s.ID, line)
					}
				}
				if n == 0 {
					t.Fatalf("%v: the chapter has no step", m)
				}
			}
			if strings.Contains(script, "Valores") || strings.Contains(script, "contêiner") {
				t.Error("--lang en printed Portuguese comments")
			}
			if _, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command("bash", "-n")
				cmd.Stdin = strings.NewReader(script)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("bash -n: %v: %s\n%s", err, out, script)
				}
			}
		})
	}
}

// A chapter with no script is a one-line error, not a script that breaks.
func TestExplainShellOtherChapter(t *testing.T) {
	var out bytes.Buffer
	err := printShell(&out, explain.ChapterNetwork, explain.EN, "busybox")
	if err == nil || !strings.Contains(err.Error(), "namespaces, rootfs, cgroups") || out.Len() > 0 {
		t.Fatalf("network --shell: %v, %q", err, out.String())
	}
}
