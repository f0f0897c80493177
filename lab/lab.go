package lab

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
)

// Lab is one guided exercise of docs/labs/: its page and the checks that
// tell whether the state it builds has been reached.
type Lab struct {
	// Name is what `minirun lab check NAME` takes; the page is
	// docs/labs/NAME.md.
	Name  string
	Title explain.Text
	// Checks run in order and stop at the first that fails: a later
	// check assumes what the earlier ones found (the container runs, so
	// its /proc entry can be read).
	Checks []Check
}

// Check is one expectation of a lab: what it looks for, how, and what to
// tell the student when it is not there.
type Check struct {
	What explain.Text // "a rede lab existe" / "network lab exists"
	Hint explain.Text // what to do when it fails
	// Run returns nil when the expectation holds, or an error saying what
	// it found instead ("container web1 is exited, not running").
	Run func(e *Env) error
}

// Page is the lab's page in the repository.
func (l *Lab) Page() string { return "docs/labs/" + l.Name + ".md" }

// Env is where checks look: minirun's containers and networks (one data
// root and state root, as the CLI's --data-root and --root), and the
// kernel's /proc and /sys/fs/cgroup.
type Env struct {
	Containers *container.Manager
	Networks   *network.Manager
	// Proc is the proc(5) mount ("/proc"); CgroupRoot is where the
	// cgroup hierarchies are mounted ("/sys/fs/cgroup"). Tests point them
	// at fakes.
	Proc       string
	CgroupRoot string
}

// Open returns the Env of one data root and state root, on the real /proc
// and /sys/fs/cgroup.
func Open(dataRoot, stateRoot string) (*Env, error) {
	cm, err := container.Open(dataRoot, stateRoot)
	if err != nil {
		return nil, fmt.Errorf("open containers of %s: %w", dataRoot, err)
	}
	nm, err := network.Open(dataRoot, nil)
	if err != nil {
		return nil, fmt.Errorf("open networks of %s: %w", dataRoot, err)
	}
	return &Env{Containers: cm, Networks: nm, Proc: "/proc", CgroupRoot: "/sys/fs/cgroup"}, nil
}

// ErrUnknown means no lab has that name.
var ErrUnknown = errors.New("no such lab")

// All returns the labs in the course's order.
func All() []*Lab {
	return []*Lab{
		namespacesLab(), cgroupsLab(), overlayLab(), networkLab(), dnsRRLab(),
		volumesLab(), composeLab(), securityLab(),
	}
}

// Lookup finds a lab by name.
func Lookup(name string) (*Lab, error) {
	var names []string
	for _, l := range All() {
		if l.Name == name {
			return l, nil
		}
		names = append(names, l.Name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: %q (labs: %s)", ErrUnknown, name, strings.Join(names, ", "))
}

// Result is the outcome of one check: Err is nil when it passed; Skipped
// checks were not run because an earlier one failed.
type Result struct {
	Check   *Check
	Err     error
	Skipped bool
}

// Report is the outcome of every check of a lab.
type Report struct {
	Lab     *Lab
	Results []Result
}

// Passed reports whether every check passed.
func (r *Report) Passed() bool {
	for _, res := range r.Results {
		if res.Err != nil || res.Skipped {
			return false
		}
	}
	return true
}

// Run runs the lab's checks in order, stopping at the first failure.
func (l *Lab) Run(e *Env) *Report {
	r := &Report{Lab: l}
	failed := false
	for i := range l.Checks {
		c := &l.Checks[i]
		if failed {
			r.Results = append(r.Results, Result{Check: c, Skipped: true})
			continue
		}
		err := c.Run(e)
		r.Results = append(r.Results, Result{Check: c, Err: err})
		failed = err != nil
	}
	return r
}

// Print writes the report for a student, in lang: one line per check
// (✓ passed, ✗ failed, · not checked), the failed check's finding and its
// hint, and the verdict last, so `minirun lab check` ends with it. Lines
// are wrapped at 80 columns, for the projector.
func (r *Report) Print(w io.Writer, lang explain.Lang) {
	line := func(indent, first, s string) {
		fmt.Fprint(w, wrap(first+s, 80, indent))
	}
	line("    ", "", "lab "+r.Lab.Name+" — "+r.Lab.Title.In(lang))
	for _, res := range r.Results {
		switch {
		case res.Skipped:
			line("    ", "  · ", res.Check.What.In(lang))
		case res.Err == nil:
			line("    ", "  ✓ ", res.Check.What.In(lang))
		default:
			line("    ", "  ✗ ", res.Check.What.In(lang))
			line("      ", "    "+pick(lang, "encontrado", "found")+": ", res.Err.Error())
			if lang != explain.EN {
				line("      ", "    dica: ", res.Check.Hint.PT)
			}
			if lang != explain.PT {
				line("      ", "    hint: ", res.Check.Hint.EN)
			}
		}
	}
	if r.Passed() {
		fmt.Fprintf(w, "%s\n", pick(lang, "PASSOU", "PASSED"))
	} else {
		line("    ", "", pick(lang, "FALHOU", "FAILED")+" — "+
			pick(lang, "o roteiro está em", "the guide is in")+" "+r.Lab.Page())
	}
}

// wrap breaks s into lines of at most width runes at spaces (a longer word
// gets a line of its own); lines after the first start with indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	col := 0
	for i, word := range strings.Fields(s) {
		n := utf8.RuneCountInString(word)
		switch {
		case i == 0:
			// Keep the leading spaces of the first line.
			lead := len(s) - len(strings.TrimLeft(s, " "))
			b.WriteString(s[:lead])
			col = lead
		case col+1+n > width:
			b.WriteString("\n" + indent)
			col = utf8.RuneCountInString(indent)
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += n
	}
	b.WriteByte('\n')
	return b.String()
}

// pick says a short word in lang; pt+en gets both.
func pick(lang explain.Lang, pt, en string) string {
	return explain.Text{PT: pt, EN: en}.In(lang)
}

// text builds an explain.Text: the checks read better with it.
func text(pt, en string) explain.Text { return explain.Text{PT: pt, EN: en} }
