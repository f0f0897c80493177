package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// `explain CHAPTER --shell` is built from the chapter's dry run: every
// Shell and UndoShell line of the chapter's steps is in the script, as
// every plan it is written from describes it, and the script is valid
// bash.
func TestExplainShellIsTheDryRun(t *testing.T) {
	for _, ch := range explain.ShellChapters {
		t.Run(string(ch), func(t *testing.T) {
			c, v1, v2, err := shellPlans(ch, "busybox")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := explain.WriteShell(&out, ch, explain.EN, v1, v2, c.Shows, c.ShellVars...); err != nil {
				t.Fatal(err)
			}
			script := out.String()
			// Undo the folding: the continuations are the script's own.
			flat := strings.ReplaceAll(script, " \\\n    ", " ")
			flat = strings.ReplaceAll(flat, " \\\n\t    ", " ")
			for _, plan := range []explain.Plan{v1, v2} {
				if plan == nil {
					continue
				}
				n := 0
				for _, s := range plan {
					if s.Chapter != ch || strings.HasPrefix(s.Shell, "# ") {
						continue
					}
					n++
					// Without a trailing comment, before which the script may
					// add " || exit" (guardList).
					line := strings.SplitN(strings.SplitN(s.Shell, "\n", 2)[0], "   # ", 2)[0]
					line = strings.TrimSuffix(line, " minirun init")
					if !strings.Contains(flat, line) {
						t.Errorf("step %s's shell %q is not in the script", s.ID, line)
					}
					if u := strings.SplitN(s.UndoShell, "\n", 2)[0]; u != "" && !strings.Contains(flat, u) {
						t.Errorf("step %s's undo %q is not in the script", s.ID, u)
					}
				}
				if n == 0 {
					t.Fatalf("the chapter has no step")
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

// The network script names only its own objects, and none of its lines is
// a placeholder or a command that waits or only lists.
func TestExplainShellNetworkNames(t *testing.T) {
	var out bytes.Buffer
	if err := printShell(&out, explain.ChapterNetwork, explain.EN, "busybox"); err != nil {
		t.Fatal(err)
	}
	script := out.String()
	var code []string
	for _, l := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			// Without its trailing comment (the iptables equivalent).
			code = append(code, strings.SplitN(l, "   # ", 2)[0])
		}
	}
	body := strings.Join(code, "\n")
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`ip minirun\b`),           // minirun's own table
		regexp.MustCompile(`MINIRUN-`),               // minirun's chains in ip filter
		regexp.MustCompile(`\bmr-|\bmr[0-9a-f]{10}`), // minirun's links
		regexp.MustCompile(`xx:xx`),                  // a placeholder MAC
		regexp.MustCompile(`cat > `),                 // waits on input
		regexp.MustCompile(`> t &&`),                 // a temporary file in the current directory
		regexp.MustCompile(`(?m)^setsid minirun`),    // needs minirun
	} {
		if m := bad.FindString(body); m != "" {
			t.Errorf("the script runs %q:\n%s", m, script)
		}
	}
	for _, want := range []string{"TABLE=minirun_shell", "ip link add $BRIDGE ", "ip link add $VETH type veth peer name eth0 netns $PID",
		"nft add table ip $TABLE", "masquerade", "dnat to 10.98.0.2:80", "nft delete rule ip $TABLE ports handle $h"} {
		if !strings.Contains(script, want) {
			t.Errorf("the script has no %q", want)
		}
	}
}

// A chapter with no script is a one-line error, not a script that breaks.
func TestExplainShellOtherChapter(t *testing.T) {
	var out bytes.Buffer
	err := printShell(&out, explain.ChapterLifecycle, explain.EN, "busybox")
	if err == nil || !strings.Contains(err.Error(), "namespaces, rootfs, cgroups, network") || out.Len() > 0 {
		t.Fatalf("lifecycle --shell: %v, %q", err, out.String())
	}
}
