package course

import (
	"errors"
	"fmt"
	"os"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
)

// Env is what a chapter's live demo works with: minirun's containers (one
// data root and state root), the image the demo container runs, and where
// the container's output goes.
type Env struct {
	Containers     *container.Manager
	Image          string
	Stdout, Stderr *os.File
	// DataRoot and StateRoot are what a dry run shows in paths; it opens
	// neither.
	DataRoot, StateRoot string
	// UsernsRemap, when set, gives the namespaces chapter's container a
	// user namespace mapped to USER's /etc/subuid and /etc/subgid ranges,
	// as `run --userns-remap USER` does (step ns-userns-map). Opt-in: the
	// data root then serves that one range (docs/security.md
	// #security-userns-data-root).
	UsernsRemap string
	// Version is minirun's release: what the api chapter's daemon
	// reports to `docker version`.
	Version string
}

// Chapter is how one chapter of `minirun explain` runs.
type Chapter struct {
	Name explain.Chapter
	// Shows are the chapters whose steps the narration shows: the
	// chapter's own, and for security the process steps that set the
	// defences right before execve.
	Shows []explain.Chapter
	// Live runs the demo for real and returns the demo container's exit
	// code.
	Live func(e *Env, tr *explain.Tracer) (int, error)
	// DryRun describes the same steps with a dry-run tracer.
	DryRun func(e *Env, tr *explain.Tracer) error
	// Shell, when set, is the dry run `explain --shell` writes its script
	// from instead of DryRun's: one a script can repeat by hand, whose
	// Shell lines name the script's own objects (ShellVars).
	Shell     func(e *Env, tr *explain.Tracer) error
	ShellVars []explain.ShellVar
	// Keep, when set, picks which steps of the other shown chapters the
	// narration shows (the api chapter shows a few of the daemon's steps
	// under each request, not the whole create); undos of those are not
	// shown.
	Keep map[string]bool
}

var registry = map[explain.Chapter]*Chapter{}

func register(c *Chapter) {
	if len(c.Shows) == 0 {
		c.Shows = []explain.Chapter{c.Name}
	}
	registry[c.Name] = c
}

// Get returns a chapter of the registry.
func Get(name explain.Chapter) (*Chapter, error) {
	c, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown chapter %q: run `minirun explain` for the list", name)
	}
	return c, nil
}

// Narrate runs chapter name live, or describes it when tr is a dry-run
// tracer, narrating to sink only the chapter's steps (and, when steps is not
// nil, only those steps: `explain --slide N`). It returns the demo
// container's exit code.
func Narrate(name explain.Chapter, e *Env, sink explain.Sink, steps map[string]bool, dryRun bool) (int, error) {
	c, err := Get(name)
	if err != nil {
		return -1, err
	}
	if c.Keep != nil {
		sink = &keepSink{Sink: sink, own: c.Shows[0], keep: c.Keep}
	}
	f := &explain.Filter{Sink: sink, Chapters: c.Shows, Steps: steps}
	if dryRun {
		return 0, c.DryRun(e, explain.NewDryRun(f))
	}
	if e.Containers == nil {
		return -1, errors.New("explain: a live chapter needs minirun's containers")
	}
	return c.Live(e, explain.New(f))
}

// keepSink passes on a chapter's own steps and, of the others, those in
// keep (not their undos).
type keepSink struct {
	explain.Sink
	own  explain.Chapter
	keep map[string]bool
}

func (k *keepSink) shown(ev *explain.Event) bool {
	return ev.Step.Chapter == k.own || (k.keep[ev.Step.ID] && !ev.Undo)
}

// Begin passes a kept step on.
func (k *keepSink) Begin(ev *explain.Event) error {
	if !k.shown(ev) {
		return nil
	}
	return k.Sink.Begin(ev)
}

// End passes a kept step on.
func (k *keepSink) End(ev *explain.Event) {
	if k.shown(ev) {
		k.Sink.End(ev)
	}
}
