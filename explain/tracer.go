package explain

import (
	"fmt"
	"strings"
	"sync"

	"github.com/minirun/minirun/internal/cleanup"
)

// Event is what a Sink is told about one step: the step's description (no
// functions: it may cross a socket) plus its outcome once known.
type Event struct {
	Seq    int    `json:"seq"`
	Step   Step   `json:"step"`
	Anchor string `json:"anchor"`
	// Slides are the deck's slides the step shows ("slide 26 · DNS RR"),
	// from the slide map.
	Slides   []string `json:"slides,omitempty"`
	Evidence string   `json:"evidence,omitempty"`
	// EvidenceText is evidence in both languages (Evidence then holds
	// the Portuguese).
	EvidenceText *Text  `json:"evidenceText,omitempty"`
	Err          string `json:"error,omitempty"`
	// DryRun is true when the step was only described, not executed.
	DryRun bool `json:"dryRun,omitempty"`
	// Undo is true when the event is a step being undone: a rollback
	// after a later step failed, narrated "desfaz …" / "undo …".
	Undo bool `json:"undo,omitempty"`
}

// Sink receives the narration. Begin is called before a step runs and may
// block (the --pause mode waits for Enter there); End after it ran.
type Sink interface {
	Begin(ev *Event) error
	End(ev *Event)
}

// Tracer executes steps and tells its Sink about each. A nil *Tracer is
// valid and executes steps silently, so code never needs to check.
type Tracer struct {
	sink   Sink
	dryRun bool
	mu     sync.Mutex
	seq    int
}

// New returns a tracer narrating to sink; a nil sink narrates nothing.
func New(sink Sink) *Tracer { return &Tracer{sink: sink} }

// NewDryRun returns a tracer that describes every step to sink without
// running it: `minirun explain --dry-run`, which needs no root.
func NewDryRun(sink Sink) *Tracer { return &Tracer{sink: sink, dryRun: true} }

// DryRun reports whether steps are only described.
func (t *Tracer) DryRun() bool { return t != nil && t.dryRun }

// Sink returns the tracer's sink (nil when silent).
func (t *Tracer) Sink() Sink {
	if t == nil {
		return nil
	}
	return t.sink
}

func (t *Tracer) next() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	return t.seq
}

// Do runs one step: Begin, Do, Evidence, End. When the step has an Undo
// and undo is not nil, the Undo is registered right after Do succeeds; a
// narrating tracer registers it so that, should it ever run (a rollback),
// it is narrated too: "desfaz …" / "undo …", under the step's own ID.
//
// A narrating tracer's error names the step and its slides, "step
// network-veth (slide 31 · Bridge): …", so a failure on a projector says
// where in the course it happened; errors.Is still sees the cause.
func (t *Tracer) Do(s Step, undo *cleanup.Stack) error {
	if t == nil || t.sink == nil {
		if t.DryRun() {
			return nil
		}
		if s.Do != nil {
			if err := s.Do(); err != nil {
				return err
			}
		}
		if s.Undo != nil && undo != nil {
			undo.Add(s.ID, s.Undo)
		}
		return nil
	}
	return t.do(s, undo, false)
}

func (t *Tracer) do(s Step, undo *cleanup.Stack, undoing bool) error {
	ev := &Event{Seq: t.next(), Step: s, Anchor: s.Anchor(), Slides: slideLabels(s.ID), DryRun: t.dryRun, Undo: undoing}
	if err := t.sink.Begin(ev); err != nil {
		return stepError(s.ID, ev.Slides, err)
	}
	if t.dryRun {
		t.sink.End(ev)
		return nil
	}
	var err error
	if s.Do != nil {
		err = s.Do()
	}
	if err != nil {
		ev.Err = err.Error()
	} else {
		if s.Undo != nil && undo != nil {
			u := undoStep(s)
			undo.Add(s.ID, func() error { return t.do(u, nil, true) })
		}
		if s.Evidence != nil {
			ev.Evidence = s.Evidence()
		}
		if s.EvidenceText != nil {
			t := s.EvidenceText()
			ev.EvidenceText, ev.Evidence = &t, t.PT
		}
	}
	t.sink.End(ev)
	if err != nil {
		return stepError(s.ID, ev.Slides, err)
	}
	return nil
}

// undoStep is how a step's undo is narrated: the same ID, chapter and
// page, the title prefixed with "desfaz" / "undo", Do the step's Undo.
func undoStep(s Step) Step {
	return Step{
		ID: s.ID, Chapter: s.Chapter,
		Title: Text{PT: "desfaz: " + s.Title.PT, EN: "undo: " + s.Title.EN},
		Why: Text{PT: "Um passo seguinte falhou ou o trabalho acabou: o que este passo fez é desfeito, na ordem inversa.",
			EN: "A later step failed or the work is over: what this step did is undone, in reverse order."},
		Shell: "# " + s.Shell,
		Do:    s.Undo,
	}
}

// stepError names the step and the slides it shows in err.
func stepError(id string, slides []string, err error) error {
	if len(slides) == 0 {
		return fmt.Errorf("step %s: %w", id, err)
	}
	return fmt.Errorf("step %s (%s): %w", id, strings.Join(slides, ", "), err)
}

// Run executes the plan's steps in order, stopping at the first failure.
// The undos of the steps that succeeded stay on undo for the caller to run
// (or release), so rollback covers exactly steps 1..k-1.
func (t *Tracer) Run(p Plan, undo *cleanup.Stack) error {
	for _, s := range p {
		if err := t.Do(s, undo); err != nil {
			return err
		}
	}
	return nil
}

// Relay returns a Sink that passes events coming from another process's
// tracer (the container's init, over the sync socket) on to this tracer's
// sink, renumbered so one narration counts both processes' steps in order.
func (t *Tracer) Relay() Sink {
	if t == nil || t.sink == nil {
		return nil
	}
	return &relay{t: t, open: map[int]*Event{}}
}

// Closer is implemented by a relay: Close ends the steps that began but
// whose end never came, because the other process replaced itself (the
// final execve) or died.
type Closer interface{ Close(err string) }

type relay struct {
	t    *Tracer
	open map[int]*Event // by the other process's number
}

func (r *relay) Begin(ev *Event) error {
	theirs := ev.Seq
	ev.Seq = r.t.next()
	cp := *ev
	r.open[theirs] = &cp
	return r.t.sink.Begin(ev)
}

func (r *relay) End(ev *Event) {
	if b, ok := r.open[ev.Seq]; ok {
		delete(r.open, ev.Seq)
		ev.Seq = b.Seq
	}
	r.t.sink.End(ev)
}

func (r *relay) Close(err string) {
	for k, ev := range r.open {
		delete(r.open, k)
		ev.Err = err
		r.t.sink.End(ev)
	}
}
