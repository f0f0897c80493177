package explain

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func shellPlan() Plan {
	return Plan{
		{ID: "cgroups-create", Chapter: ChapterCgroups, Title: Text{"cria", "create"}, Why: Text{"porque", "because"},
			Shell: "mkdir -p /sys/fs/cgroup/pids/minirun/$ID", UndoShell: "rmdir /sys/fs/cgroup/pids/minirun/$ID"},
		{ID: "ns-clone", Chapter: ChapterNamespaces, Title: Text{"clona", "clone"},
			Shell: "unshare --pid --fork minirun init", UndoShell: "kill -KILL $PID"},
		{ID: "ns-cgroup", Chapter: ChapterNamespaces, Shell: "unshare --cgroup", Init: true},
		{ID: "ns-loopback", Chapter: ChapterNamespaces, Shell: "ip link set lo up", Init: true},
		{ID: "rootfs-bind", Chapter: ChapterRootfs, Shell: "mount --rbind $ROOTFS $ROOTFS", Init: true},
	}
}

func writeShell(t *testing.T, lang Lang, v1, v2 Plan, shows ...Chapter) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteShell(&b, ChapterNamespaces, lang, v1, v2, shows); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func bashSyntax(t *testing.T, script string) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		return
	}
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v: %s\n%s", err, out, script)
	}
}

// The init's steps run in a here-document under the clone's unshare; a
// bare unshare runs the rest of the init in the new namespace; steps of
// chapters not shown are left out, but the clone never is.
func TestWriteShellInit(t *testing.T) {
	s := writeShell(t, EN, shellPlan(), nil, ChapterNamespaces)
	for _, want := range []string{
		"set -euo pipefail",
		"unshare --pid --fork bash +h -euo pipefail -s <<'INIT' &\n",
		"exec unshare --cgroup bash +h -euo pipefail -s <<'INIT_2'\n",
		"ip link set lo up\n",
		"exec sleep infinity\nINIT_2\nINIT\n",
		"undo_1_ns_clone() {\n\tkill -KILL $PID\n\twait\n}",
		"UNDO+=(undo_1_ns_clone)",
		"trap teardown EXIT",
		`echo go > "$STATE/go"`,
		"minirun-shell: ready ID=$ID PID=$PID STATE=$STATE",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	for _, not := range []string{"mkdir -p /sys/fs/cgroup", "--rbind", "--fork minirun init"} {
		if strings.Contains(s, not) {
			t.Errorf("script has %q, of a chapter not shown", not)
		}
	}
	bashSyntax(t, s)
}

// With two plans the cgroup steps become branches the script picks at run
// time; plans that differ elsewhere are an error.
func TestWriteShellCgroupBranches(t *testing.T) {
	v1, v2 := shellPlan(), shellPlan()
	v2[0].Shell, v2[0].UndoShell = "mkdir -p /sys/fs/cgroup/minirun/$ID", "rmdir /sys/fs/cgroup/minirun/$ID"
	s := writeShell(t, EN, v1, v2, ChapterCgroups)
	i2, i1 := strings.Index(s, "\tmkdir -p /sys/fs/cgroup/minirun/$ID"), strings.Index(s, "\tmkdir -p /sys/fs/cgroup/pids/minirun/$ID")
	iIf, iElse, iFi := strings.Index(s, `if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then`), strings.Index(s, "\nelse\n"), strings.Index(s, "\nfi\n")
	if !(iIf >= 0 && iIf < i2 && i2 < iElse && iElse < i1 && i1 < iFi) {
		t.Errorf("want if v2 … else v1 … fi:\n%s", s)
	}
	if !strings.Contains(s, "undo_1_cgroups_create() {\n\trmdir /sys/fs/cgroup/minirun/$ID") ||
		!strings.Contains(s, "undo_2_cgroups_create() {\n\trmdir /sys/fs/cgroup/pids/minirun/$ID") {
		t.Errorf("each branch needs its own undo:\n%s", s)
	}
	bashSyntax(t, s)
	v2[1].Shell = "unshare --net --fork minirun init"
	if err := WriteShell(&bytes.Buffer{}, ChapterCgroups, EN, v1, v2, []Chapter{ChapterCgroups}); err == nil {
		t.Error("plans that part outside the cgroup steps gave no error")
	}
}

// --lang pt or en prints the comments in that language only; pt+en in
// both, Portuguese first.
func TestWriteShellLang(t *testing.T) {
	en, pt, both := writeShell(t, EN, shellPlan(), nil, ChapterNamespaces), writeShell(t, PT, shellPlan(), nil, ChapterNamespaces), writeShell(t, Both, shellPlan(), nil, ChapterNamespaces)
	if strings.Contains(en, "Valores") || !strings.Contains(en, "Values that exist") || !strings.Contains(en, "1. ns-clone: clone") {
		t.Errorf("--lang en:\n%s", en)
	}
	if strings.Contains(pt, "Values that exist") || !strings.Contains(pt, "Valores") || !strings.Contains(pt, "1. ns-clone: clona") {
		t.Errorf("--lang pt:\n%s", pt)
	}
	if i, j := strings.Index(both, "# Valores"), strings.Index(both, "# Values"); i < 0 || j < i {
		t.Errorf("pt+en: Portuguese first:\n%s", both)
	}
}

// A failure anywhere in an && list stops the script; a comment stays a
// comment.
func TestGuardList(t *testing.T) {
	for in, want := range map[string]string{
		"mkdir a && mount b":           "mkdir a && mount b || exit",
		"mkdir a && mount b   # note":  "mkdir a && mount b || exit   # note",
		"echo 'a && b' > f":            "echo 'a && b' > f",
		"ip link set lo up":            "ip link set lo up",
		"x $(a && b) y":                "x $(a && b) y",
		"rmdir d 2>/dev/null || true":  "rmdir d 2>/dev/null || true",
		"for d in a b; do echo; done":  "for d in a b; do echo; done",
		`echo "&&" && echo # a && b`:   `echo "&&" && echo || exit # a && b`,
		"cd $ROOTFS && pivot_root . .": "cd $ROOTFS && pivot_root . . || exit",
	} {
		if got := guardList(in); got != want {
			t.Errorf("guardList(%q) = %q, want %q", in, got, want)
		}
	}
}

// foldShell breaks long lines only at spaces outside quotes and $( ), and
// never inside a trailing comment; the line it gives back is the same
// command.
func TestFoldShell(t *testing.T) {
	long := "nft add rule ip minirun_shell postrouting 'ip saddr 10.79.0.0/24 oifname != \"mrsh0\" counter masquerade' && echo \"$(cat /sys/fs/cgroup/cpuset/minirun/cpuset.cpus)\" > /x   # a comment that is rather long as well"
	got := foldShell("", long, 80)
	if strings.ReplaceAll(got, " \\\n    ", " ") != long+"\n" {
		t.Errorf("folding changed the command:\n%s", got)
	}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if strings.Count(l, "'")%2 != 0 || strings.Count(l, `"`)%2 != 0 {
			t.Errorf("broken inside quotes: %q", l)
		}
	}
	if n := strings.Count(got, "\n"); n < 3 {
		t.Errorf("not folded:\n%s", got)
	}
	if short := "ip link set lo up"; foldShell("", short, 80) != short+"\n" {
		t.Error("a short line was folded")
	}
}
