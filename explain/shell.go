package explain

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// ShellDataRoot and ShellStateRoot are the data and state roots of the
// dry run a shell script is built from: paths under the script's own
// temporary directory ($STATE), so that nothing it makes mixes with
// minirun's /var/lib/minirun and /run/minirun.
const (
	ShellDataRoot  = "$STATE/lib"
	ShellStateRoot = "$STATE/run"
)

// ShellChapters are the chapters `explain --shell` writes a script for:
// those whose steps all have a Shell that runs as written.
var ShellChapters = []Chapter{ChapterNamespaces, ChapterRootfs, ChapterCgroups, ChapterNetwork}

// ShellVar is a variable a chapter's Shell lines use for a name of the
// script's own ($BRIDGE), set at the top of the script from $ID.
type ShellVar struct {
	Name, Value string
	// Why, when set, is the comment above it.
	Why Text
}

// shellWidth is the width WriteShell folds comments and commands to.
const shellWidth = 80

// WriteShell writes chapter ch as one bash script a student can run by
// hand: `minirun explain CHAPTER --shell`.
//
// plan is every step of the chapter's dry run, in the order minirun takes
// them (all chapters: the script needs the clone even when the chapter is
// rootfs); shows are the chapters whose steps the script keeps. The script
// is the steps' own Shell lines, not a text kept apart from the code:
//
//   - the variables a real run draws (the container id, the pid, the paths)
//     come first, under a temporary directory $STATE;
//   - each host step runs its Shell, then pushes its UndoShell, wrapped in a
//     function undo_N_ID, on a stack (internal/cleanup's Stack, in bash);
//   - ns-clone starts the container's init, whose steps (Init) run in a
//     here-document inside the new namespaces: the init writes its host pid,
//     waits on a FIFO for the parent to finish (minirun's msgConfig) and
//     ends in `exec sleep infinity`, the container's process;
//   - a step that is a bare `unshare --X` changes the init's own namespaces:
//     the rest of the init runs under `exec unshare --X bash`;
//   - at the end the script waits for Enter (or end of input) and the EXIT
//     trap runs the undo stack in reverse order, as a failed step would.
//
// vars are the chapter's own variables (ShellVar), written after $ID and
// $STATE when a step uses them.
func WriteShell(w io.Writer, ch Chapter, lang Lang, v1, v2 Plan, shows []Chapter, vars ...ShellVar) error {
	if !slices.Contains(ShellChapters, ch) {
		return fmt.Errorf("explain --shell: no script for chapter %s yet (there is one for %s)", ch, chapterList(ShellChapters))
	}
	items, err := mergeCgroupPlans(shellSteps(v1, shows), shellSteps(v2, shows))
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return fmt.Errorf("explain --shell: chapter %s has no step a shell can run", ch)
	}
	b := &shellBuf{lang: lang}
	b.header(ch)
	b.vars(items, vars)
	b.undos(items)
	b.body(items)
	b.footer()
	_, err = io.WriteString(w, b.String())
	return err
}

func chapterList(cs []Chapter) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// shellSteps keeps the steps of the chapters shown, and the clone, without
// which no step has a process to act on.
func shellSteps(plan Plan, shows []Chapter) []Step {
	var out []Step
	for _, s := range plan {
		if s.ID == "ns-clone" || slices.Contains(shows, s.Chapter) {
			out = append(out, s)
		}
	}
	return out
}

// item is one step of the script: its number, and the cgroup version it
// is for ("" for both).
type item struct {
	n      int
	s      Step
	branch string
}

// mergeCgroupPlans lines up the plan as described for cgroup v1 with the
// plan as described for v2 (nil: one plan only). They differ only in their
// cgroup steps: each run of those becomes a v2 and a v1 branch, which the
// script picks at run time.
func mergeCgroupPlans(v1, v2 []Step) ([]item, error) {
	var out []item
	add := func(s Step, branch string) { out = append(out, item{n: len(out) + 1, s: s, branch: branch}) }
	if v2 == nil {
		for _, s := range v1 {
			add(s, "")
		}
		return out, nil
	}
	isCg := func(s Step) bool { return s.Chapter == ChapterCgroups }
	i, j := 0, 0
	for i < len(v1) || j < len(v2) {
		for ; j < len(v2) && isCg(v2[j]); j++ {
			add(v2[j], "v2")
		}
		for ; i < len(v1) && isCg(v1[i]); i++ {
			add(v1[i], "v1")
		}
		if i == len(v1) && j == len(v2) {
			break
		}
		if i == len(v1) || j == len(v2) || v1[i].ID != v2[j].ID || v1[i].Shell != v2[j].Shell {
			return nil, fmt.Errorf("explain --shell: the v1 and v2 plans part at step %d", len(out)+1)
		}
		add(v1[i], "")
		i++
		j++
	}
	return out, nil
}

// PlanOf is the plan a dry run's recorded events describe: the steps, in
// order, without the narration of undos.
func PlanOf(events []Event) Plan {
	var p Plan
	for _, ev := range events {
		if !ev.Undo {
			p = append(p, ev.Step)
		}
	}
	return p
}

type shellBuf struct {
	strings.Builder
	lang Lang
}

// langs is the languages the comments are written in, Portuguese first.
func (b *shellBuf) langs() []Lang {
	if b.lang == Both {
		return []Lang{PT, EN}
	}
	return []Lang{b.lang}
}

// comment writes t as comment lines with prefix ("# ", "#    "), folded
// to the script's width, once per language.
func (b *shellBuf) comment(indent string, t Text) {
	for _, l := range b.langs() {
		s := t.In(l)
		if s == "" {
			continue
		}
		b.foldComment(indent, s)
	}
}

func (b *shellBuf) foldComment(prefix, s string) {
	line := prefix
	for _, w := range strings.Fields(s) {
		if len(line) > len(prefix) && len(line)+1+len(w) > shellWidth {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = prefix
		}
		if len(line) > len(prefix) {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
}

func (b *shellBuf) line(s string) { b.WriteString(s + "\n") }

func (b *shellBuf) header(ch Chapter) {
	b.line("#!/bin/bash")
	b.line("# minirun explain " + string(ch) + " --shell")
	b.comment("# ", Text{
		PT: "O capítulo " + string(ch) + " como um script bash: as mesmas linhas de shell que o minirun mostra para cada passo (o plano de verdade, do --dry-run), na mesma ordem. Rode como root. Tudo o que ele cria tem nome próprio, à parte dos do minirun (cgroup minirun/shell-*, links mrsh*, tabela ip minirun_shell, diretório /tmp/minirun-shell.*) e é desfeito no fim, na ordem inversa, como o minirun faz.",
		EN: "The " + string(ch) + " chapter as a bash script: the same shell lines minirun shows for each step (the real plan, from --dry-run), in the same order. Run it as root. Everything it makes has a name of its own, apart from minirun's (cgroup minirun/shell-*, links mrsh*, table ip minirun_shell, directory /tmp/minirun-shell.*) and is undone at the end, in reverse order, as minirun does.",
	})
	b.line("set -euo pipefail")
	b.line("")
}

// uses reports whether any step's Shell or UndoShell mentions $name.
func uses(items []item, name string) bool {
	re := regexp.MustCompile(`\$\{?` + name + `\b`)
	for _, it := range items {
		s := it.s
		if re.MatchString(s.Shell) || re.MatchString(s.UndoShell) {
			return true
		}
	}
	return false
}

func (b *shellBuf) vars(steps []item, own []ShellVar) {
	b.comment("# ", Text{PT: "Valores que só existem ao rodar (o minirun os sorteia ou descobre):", EN: "Values that exist only at run time (minirun draws or finds them):"})
	b.line(`ID=shell-$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')`)
	b.line(`STATE=$(mktemp -d /tmp/minirun-shell.XXXXXX)`)
	b.line(`PID=`)
	exports := []string{"ID", "STATE"}
	if uses(steps, "HOSTNAME") {
		b.line(`HOSTNAME=$ID`)
		exports = append(exports, "HOSTNAME")
	}
	if uses(steps, "ROOTFS") {
		b.line(`ROOTFS=` + ShellDataRoot + `/containers/$ID/merged`)
		exports = append(exports, "ROOTFS")
	}
	for _, v := range own {
		if !uses(steps, v.Name) {
			continue
		}
		b.comment("# ", v.Why)
		b.line(v.Name + "=" + v.Value)
		exports = append(exports, v.Name)
	}
	b.line("export " + strings.Join(exports, " "))
	if uses(steps, "LAYER") {
		b.line("")
		b.comment("# ", Text{
			PT: "A camada da imagem ($LAYER): o busybox estático do host e os nomes dos seus comandos; o minirun usaria as camadas baixadas com pull.",
			EN: "The image's layer ($LAYER): the host's static busybox and the names of its commands; minirun would use the layers it pulled.",
		})
		b.line("LAYER=busybox")
		diff := ShellDataRoot + "/image/layers/sha256/$LAYER/diff"
		b.line(`mkdir -p ` + diff + `/bin`)
		b.command("", `cp "$(command -v busybox)" `+diff+`/bin/busybox`)
		b.line(`for c in sh ls cat sleep umount mount hostname; do`)
		b.line(`	ln -s busybox ` + diff + `/bin/$c`)
		b.line(`done`)
	}
	b.line("")
}

// funcName is the name of the undo function of step n.
func funcName(n int, s Step) string {
	return fmt.Sprintf("undo_%d_%s", n, strings.NewReplacer("-", "_", ".", "_").Replace(s.ID))
}

func (b *shellBuf) undos(items []item) {
	b.comment("# ", Text{
		PT: "Desmontagem: o \"desfaz\" de cada passo que muda o host. Cada passo empilha o seu em UNDO logo depois de dar certo; teardown (no fim, no erro ou no Ctrl-C) roda a pilha de trás para a frente.",
		EN: "Teardown: the undo of each step that changes the host. Each step pushes its own on UNDO right after it succeeds; teardown (at the end, on error or on Ctrl-C) runs the stack back to front.",
	})
	for _, it := range items {
		s := it.s
		if s.UndoShell == "" || s.Init {
			continue
		}
		b.line(funcName(it.n, s) + "() {")
		// No guardList here: teardown goes on past a failed undo, as
		// cleanup.Stack does, and an exit would end it.
		for _, l := range strings.Split(s.UndoShell, "\n") {
			b.WriteString(foldShell("\t", l, shellWidth))
		}
		if s.ID == "ns-clone" {
			// unshare --fork returns once its child is gone: after the
			// wait, no process holds the cgroup or the mounts.
			b.line("\twait")
		}
		b.line("}")
	}
	b.line("UNDO=()")
	b.line("teardown() {")
	b.line("\tset +eu")
	b.line("\tlocal i")
	b.line(`	for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do "${UNDO[i]}"; done`)
	b.line("\tUNDO=()")
	b.line(`	rm -rf "$STATE"`)
	b.line("}")
	b.line("trap teardown EXIT")
	b.line("trap 'exit 130' INT TERM HUP")
	b.line("")
}

// bareUnshare matches a step that changes the calling process's own
// namespaces ("unshare --cgroup"): it has no command to run.
var bareUnshare = regexp.MustCompile(`^unshare( --[a-z]+)+$`)

func (b *shellBuf) stepComment(indent string, n int, s Step) {
	b.comment(indent+"# ", Text{PT: fmt.Sprintf("%d. %s: %s", n, s.ID, s.Title.PT), EN: fmt.Sprintf("%d. %s: %s", n, s.ID, s.Title.EN)})
	b.comment(indent+"#    ", s.Why)
}

func (b *shellBuf) body(items []item) {
	goSent := false
	sendGo := func() {
		b.comment("# ", Text{
			PT: "O init pode começar os seus passos: o pai terminou os dele (no minirun, a mensagem msgConfig pelo socket de sincronização).",
			EN: "The init may start its steps: the parent has done its own (in minirun, the msgConfig message over the sync socket).",
		})
		b.line(`echo go > "$STATE/go"`)
		b.line("")
		goSent = true
	}
	branch := ""
	for i, it := range items {
		s := it.s
		if s.Init {
			if !goSent {
				sendGo()
			}
			continue
		}
		if it.branch != branch {
			switch {
			case branch == "" && it.branch == "v2":
				b.line(`if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then`)
				b.comment("\t# ", Text{PT: "cgroup v2: uma só árvore em /sys/fs/cgroup.", EN: "cgroup v2: one tree at /sys/fs/cgroup."})
			case branch == "v2" && it.branch == "v1":
				b.line("else")
				b.comment("\t# ", Text{PT: "cgroup v1 (ou híbrido): uma hierarquia por controlador.", EN: "cgroup v1 (or hybrid): one hierarchy per controller."})
			case branch != "" && it.branch == "":
				b.line("fi")
				b.line("")
			}
			branch = it.branch
		}
		indent := ""
		if it.branch != "" {
			indent = "\t"
		}
		b.stepComment(indent, it.n, s)
		if s.ID == "ns-clone" {
			b.clone(it.n, s, items[i+1:])
		} else {
			b.command(indent, s.Shell)
		}
		if s.UndoShell != "" {
			b.line(indent + "UNDO+=(" + funcName(it.n, s) + ")")
		}
		if s.ID == "ns-clone" {
			b.comment("# ", Text{PT: "O PID do init, visto do host:", EN: "The init's PID, as the host sees it:"})
			b.line(`until [ -s "$STATE/pid" ]; do kill -0 $! 2>/dev/null || exit 1; sleep 0.1; done`)
			b.line(`PID=$(cat "$STATE/pid")`)
		}
		if it.branch == "" {
			b.line("")
		}
	}
	if branch != "" {
		b.line("fi")
		b.line("")
	}
	if !goSent {
		sendGo()
	}
}

// clone writes the ns-clone step: its unshare, with the init's steps (the
// Init steps after it) in a here-document where minirun runs "minirun
// init".
func (b *shellBuf) clone(n int, s Step, rest []item) {
	cmd, ok := strings.CutSuffix(s.Shell, " minirun init")
	if !ok {
		cmd = s.Shell
	}
	b.line(`mkfifo "$STATE/go"`)
	b.comment("# ", Text{
		PT: "\"minirun init\" é, aqui, o bash abaixo: os passos que o init do minirun dá dentro dos namespaces novos.",
		EN: "\"minirun init\" is, here, the bash below: the steps minirun's init takes inside the new namespaces.",
	})
	// +h: no hashing of command paths, which pivot_root makes stale.
	b.command("", cmd+" bash +h -euo pipefail -s <<'INIT' &")
	b.comment("# ", Text{
		PT: "O init anota o seu PID no host (o /proc ainda é o do host) e espera o pai.",
		EN: "The init notes its host PID (/proc is still the host's) and waits for the parent.",
	})
	b.line(`read -r pid _ < /proc/self/stat`)
	b.line(`echo "$pid" > "$STATE/pid"`)
	b.line(`read -r _ < "$STATE/go"`)
	var closers []string
	for _, it := range rest {
		in := it.s
		if !in.Init {
			continue
		}
		b.stepComment("", it.n, in)
		if bareUnshare.MatchString(in.Shell) {
			tag := fmt.Sprintf("INIT_%d", it.n)
			b.comment("# ", Text{PT: "O resto do init roda já no namespace novo:", EN: "The rest of the init runs in the new namespace:"})
			b.line("exec " + in.Shell + " bash +h -euo pipefail -s <<'" + tag + "'")
			closers = append(closers, tag)
			continue
		}
		b.command("", in.Shell)
	}
	b.comment("# ", Text{PT: "O processo do contêiner (no minirun, o execve do comando pedido):", EN: "The container's process (in minirun, the execve of the command asked for):"})
	b.line("exec sleep infinity")
	for i := len(closers) - 1; i >= 0; i-- {
		b.line(closers[i])
	}
	b.line("INIT")
}

func (b *shellBuf) footer() {
	b.comment("# ", Text{PT: "Espera o init chegar ao processo do contêiner.", EN: "Wait for the init to reach the container's process."})
	b.line(`until [ "$(cat /proc/$PID/comm 2>/dev/null)" = sleep ]; do`)
	b.line(`	kill -0 "$PID" 2>/dev/null || { echo "init $PID failed" >&2; exit 1; }`)
	b.line(`	sleep 0.1`)
	b.line(`done`)
	b.comment("# ", Text{
		PT: "Pronto: examine o contêiner (nsenter -t $PID -a sh, ls -l /proc/$PID/ns, findmnt, cat /proc/$PID/cgroup). Enter (ou o fim da entrada) desfaz tudo.",
		EN: "Ready: look at the container (nsenter -t $PID -a sh, ls -l /proc/$PID/ns, findmnt, cat /proc/$PID/cgroup). Enter (or end of input) undoes everything.",
	})
	b.line(`echo "minirun-shell: ready ID=$ID PID=$PID STATE=$STATE"`)
	b.line(`read -r _ || true`)
}

// command writes one Shell line, folded at spaces that are outside quotes,
// $( ), { } and a trailing comment, with "\" continuations, so that it fits
// the width where it can.
func (b *shellBuf) command(indent, s string) {
	for _, l := range strings.Split(s, "\n") {
		if c, ok := strings.CutPrefix(l, "# "); ok {
			// A step with no shell equivalent says so in a comment.
			b.foldComment(indent+"# ", c)
			continue
		}
		b.WriteString(foldShell(indent, guardList(l), shellWidth))
	}
}

// guardList makes a failure anywhere in an "a && b" line stop the script:
// set -e ignores the failure of any command of an && list but the last
// (bash(1), "set -e"), so "mkdir x && mount …" whose mkdir fails would go
// on quietly. " || exit" ends the script with the failing command's status.
func guardList(s string) string {
	code, comment := s, ""
	hasAnd := false
	scanShell(s, func(i int, depth int) bool {
		switch {
		case s[i] == '#' && i > 0 && s[i-1] == ' ':
			code, comment = strings.TrimRight(s[:i], " "), s[len(strings.TrimRight(s[:i], " ")):]
			return false
		case depth == 0 && strings.HasPrefix(s[i:], "&&"):
			hasAnd = true
		}
		return true
	})
	if !hasAnd {
		return s
	}
	return code + " || exit" + comment
}

// scanShell calls f with the offset and ( { depth of every byte of s that
// is outside quotes and not escaped, until f returns false.
func scanShell(s string, f func(i, depth int) bool) {
	var single, double bool
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case single:
			if c == '\'' {
				single = false
			}
			continue
		case c == '\\':
			i++
			continue
		case double:
			if c == '"' {
				double = false
			}
			continue
		}
		switch c {
		case '\'':
			single = true
			continue
		case '"':
			double = true
			continue
		case '(', '{':
			depth++
		case ')', '}':
			depth--
		}
		if !f(i, depth) {
			return
		}
	}
}

// foldShell folds one line of shell.
func foldShell(indent, s string, width int) string {
	var breaks []int // byte offsets of spaces where a break is safe
	scanShell(s, func(i, depth int) bool {
		switch s[i] {
		case '#':
			if i > 0 && s[i-1] == ' ' {
				return false // a comment: no break inside
			}
		case ' ':
			if depth == 0 && i > 0 && s[i-1] != ' ' && i+1 < len(s) && s[i+1] != ' ' && s[i+1] != '#' {
				breaks = append(breaks, i)
			}
		}
		return true
	})
	var out strings.Builder
	start, prefix := 0, indent
	cont := indent + "    "
	for {
		rest := s[start:]
		if len(prefix)+len(rest) <= width {
			out.WriteString(prefix + rest + "\n")
			return out.String()
		}
		cut := -1
		for _, bp := range breaks {
			if bp-start < 12 {
				continue // "rmdir \" alone on a line reads worse than a long line
			}
			if len(prefix)+bp-start+2 > width && cut >= 0 {
				break
			}
			cut = bp
		}
		if cut < 0 {
			out.WriteString(prefix + rest + "\n")
			return out.String()
		}
		out.WriteString(prefix + s[start:cut] + " \\\n")
		start, prefix = cut+1, cont
	}
}
