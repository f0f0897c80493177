//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/lab"
	"github.com/minirun/minirun/network"
)

// TestLabs runs every lab of docs/labs/ the way a student does: the page's
// ```sh blocks in order, in a shell where `minirun` is the suite's binary
// with the suite's roots. For each lab it checks that:
//
//   - `minirun lab check LAB` fails, with its hint, before the first step;
//   - every block exits and prints what the page says the student sees
//     (its <!-- expect… --> markers, see lab.ParseGuide);
//   - `minirun lab check LAB` passes after the steps;
//   - the page's cleanup leaves no container or network behind.
//
// Labs whose commands are not in the binary yet are skipped, saying which.
func TestLabs(t *testing.T) {
	if r := mr(t, "lab", "list"); r.code != 0 {
		t.Fatalf("minirun lab list: exit %d: %s (is labCommand wired into the app?)", r.code, r.stderr)
	}
	for _, l := range lab.All() {
		l := l
		t.Run(l.Name, func(t *testing.T) { runLab(t, l) })
	}
}

// labNeeds says what each lab needs beyond the basics, as a probe that
// returns "" when the binary has it.
var labNeeds = map[string]func(t *testing.T) string{
	"volumes": func(t *testing.T) string {
		if !strings.Contains(mr(t, "run", "--help").stdout, "--volume") {
			return "run has no -v/--volume yet"
		}
		if mr(t, "volume", "ls").code != 0 {
			return "no volume command yet"
		}
		return ""
	},
	"compose": func(t *testing.T) string {
		if mr(t, "compose", "--help").code != 0 {
			return "no compose command yet"
		}
		if _, err := os.Stat(repoPath("examples/contador/docker-compose.yaml")); err != nil {
			return "examples/contador is not there yet"
		}
		if mr(t, "volume", "ls").code != 0 {
			return "no volume command yet (the example keeps Redis's data in a volume)"
		}
		return ""
	},
}

func runLab(t *testing.T, l *lab.Lab) {
	if probe := labNeeds[l.Name]; probe != nil {
		if missing := probe(t); missing != "" {
			t.Skipf("lab %s: %s — the page is written to Docker's syntax and runs once it lands", l.Name, missing)
		}
	}
	md, err := os.ReadFile(repoPath(l.Page()))
	if err != nil {
		t.Fatal(err)
	}
	g, err := lab.ParseGuide(md)
	if err != nil {
		t.Fatalf("%s: %v", l.Page(), err)
	}
	sh := newLabShell(t)
	ctrsBefore, netsBefore := labObjects(t)
	volsBefore := labVolumes(t)

	// The cleanup runs whatever happens; at the normal end its blocks must
	// also succeed (checked below, before this runs again harmlessly).
	cleaned := false
	t.Cleanup(func() {
		if !cleaned {
			for _, b := range g.Cleanup {
				sh.run(t, b)
			}
		}
		ctrs, nets := labObjects(t)
		if left := newNames(ctrsBefore, ctrs); len(left) > 0 {
			t.Errorf("%s: the cleanup left containers: %v", l.Page(), left)
			for _, n := range left {
				mr(t, "rm", "-f", n)
			}
		}
		if left := newNames(netsBefore, nets); len(left) > 0 {
			t.Errorf("%s: the cleanup left networks: %v", l.Page(), left)
			for _, n := range left {
				mr(t, "network", "rm", n)
			}
		}
		if left := newNames(volsBefore, labVolumes(t)); len(left) > 0 {
			t.Errorf("%s: the cleanup left volumes: %v", l.Page(), left)
			for _, n := range left {
				mr(t, "volume", "rm", n)
			}
		}
	})

	// Before the steps, nothing of the lab exists: the checker must fail
	// and say what to do, in both languages.
	// The report is wrapped at 80 columns: compare words, not lines.
	r := mr(t, "lab", "check", l.Name)
	words := strings.Join(strings.Fields(r.stdout), " ")
	if r.code != 1 || !strings.Contains(words, "dica: "+l.Checks[0].Hint.PT) ||
		!strings.Contains(r.stdout, "hint: ") || !strings.Contains(r.stdout, "FALHOU") {
		t.Fatalf("lab check %s before the steps: exit %d, want 1 with the first hint\n%s%s", l.Name, r.code, r.stdout, r.stderr)
	}

	if l.Name == "compose" {
		buildCourseImages(t, sh)
	}
	for _, b := range g.Steps {
		out, code := sh.run(t, b)
		if testing.Verbose() {
			t.Logf("%s:%d: exit %d\n%s", l.Page(), b.Line, code, out)
		}
		if err := b.Check(out, code); err != nil {
			t.Fatalf("%s:%d: %v\n--- script:\n%s--- output:\n%s", l.Page(), b.Line, err, b.Script, out)
		}
	}

	r = mr(t, "lab", "check", l.Name)
	if r.code != 0 || !strings.Contains(r.stdout, "PASSOU") {
		t.Fatalf("lab check %s after the steps: exit %d\n%s%s", l.Name, r.code, r.stdout, r.stderr)
	}

	cleaned = true
	for _, b := range g.Cleanup {
		if out, code := sh.run(t, b); code != 0 {
			t.Errorf("%s:%d: cleanup exit %d\n%s", l.Page(), b.Line, code, out)
		}
	}
}

// labShell runs a page's blocks one after the other as a student's shell
// would: in bash, with `minirun` on PATH being the suite's binary and
// roots, the variables a block sets and the directory it cd'ed to carried
// to the next block.
type labShell struct {
	dir     string // a temp dir: the wrapper, the carried state
	env     string // file of carried variables (declare -p)
	cwd     string // file holding the current directory
	path    string
	rewrite func(string) string
}

func newLabShell(t *testing.T) *labShell {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %q --root %q --data-root %q \"$@\"\n", binary, stateRoot, dataRoot)
	if err := os.WriteFile(filepath.Join(bin, "minirun"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	cwd := filepath.Join(dir, "cwd")
	if err := os.WriteFile(cwd, []byte(home), 0o644); err != nil {
		t.Fatal(err)
	}
	// In the VM the repository is at /minirun; here it is wherever the
	// test runs. Only a path that starts a word is rewritten, so that
	// /sys/fs/cgroup/minirun/... stays as it is.
	repo, _ := filepath.Abs(repoPath(""))
	re := regexp.MustCompile(`(^|[\s=:"'])/minirun(/|\s|$)`)
	return &labShell{
		dir: dir, env: filepath.Join(dir, "env"), cwd: cwd,
		path: bin + ":" + os.Getenv("PATH"),
		rewrite: func(s string) string {
			return re.ReplaceAllString(s, "${1}"+repo+"${2}")
		},
	}
}

// run runs one block and returns its output (stdout and stderr, in order)
// and exit status. Output goes to a file, not a pipe: a detached
// container's shim must not hold the test's pipe open.
func (s *labShell) run(t *testing.T, b lab.Block) (string, int) {
	t.Helper()
	script := fmt.Sprintf("set -eo pipefail\ncd \"$(cat %q)\"\n[ -f %q ] && . %q\n%s\n", s.cwd, s.env, s.env, s.rewrite(b.Script))
	if vars := b.Assigned(); len(vars) > 0 {
		script += fmt.Sprintf("declare -p %s >>%q\n", strings.Join(vars, " "), s.env)
	}
	script += fmt.Sprintf("pwd >%q\n", s.cwd)
	out, err := os.CreateTemp(s.dir, "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+s.path, "HOME="+filepath.Join(s.dir, "home"))
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b2, _ := os.ReadFile(out.Name())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run block at line %d: %v", b.Line, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("block at line %d timed out\n%s", b.Line, b2)
	}
	return string(b2), code
}

// buildCourseImages builds the images the compose lab uses, as
// scripts/provision.sh does in the VM: images/build.sh with MINIRUN set to
// the suite's binary.
func buildCourseImages(t *testing.T, s *labShell) {
	t.Helper()
	cmd := exec.Command("bash", repoPath("images/build.sh"), "contador", "redis")
	cmd.Env = append(os.Environ(), "PATH="+s.path, "MINIRUN=minirun")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("images/build.sh contador redis: %v\n%s", err, out)
	}
}

// labObjects lists the names of the suite's containers and user networks.
func labObjects(t *testing.T) (ctrs, nets []string) {
	t.Helper()
	cm, err := container.Open(dataRoot, stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	all, err := cm.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		ctrs = append(ctrs, c.Name)
	}
	nm, err := network.Open(dataRoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nm.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		// The default bridge appears with the first container and stays,
		// like docker0; TestMain removes it at the end.
		if !n.Predefined() {
			nets = append(nets, n.Name)
		}
	}
	return ctrs, nets
}

// labVolumes lists the suite's volumes (none while the binary has no
// volume command).
func labVolumes(t *testing.T) []string {
	t.Helper()
	r := mr(t, "volume", "ls", "-q")
	if r.code != 0 {
		return nil
	}
	return strings.Fields(r.stdout)
}

// newNames returns the names of after that are not in before.
func newNames(before, after []string) []string {
	had := map[string]bool{}
	for _, n := range before {
		had[n] = true
	}
	var out []string
	for _, n := range after {
		if !had[n] {
			out = append(out, n)
		}
	}
	return out
}
