package projector

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/minirun/minirun/explain"
)

// SVGSink writes one SVG file per step into Dir, after the step ran:
// NNN-<step id>.svg, numbered in the narration's order, all panels drawn,
// titled with the step. `minirun explain CHAPTER --svg DIR`.
type SVGSink struct {
	Dir    string
	Drawer *Drawer
	Lang   explain.Lang

	mu sync.Mutex
	// Written lists the files written so far.
	Written []string
	// Err is the first error met writing a file; the narration goes on.
	Err error
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Begin does nothing: a file shows the state after the step.
func (s *SVGSink) Begin(*explain.Event) error { return nil }

// End draws the host as the step left it and writes the file.
func (s *SVGSink) End(ev *explain.Event) {
	dg := *s.Drawer.Draw(ev)
	dg.Title = fmt.Sprintf("[%d] %s: %s", ev.Seq, ev.Step.Chapter, ev.Step.Title.In(s.Lang))
	name := filepath.Join(s.Dir, fmt.Sprintf("%03d-%s.svg", ev.Seq, unsafeName.ReplaceAllString(ev.Step.ID, "_")))
	err := os.WriteFile(name, []byte(svgOf(&dg, nil)), 0o644)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.Err == nil {
			s.Err = fmt.Errorf("write diagram %s: %w", name, err)
		}
		return
	}
	s.Written = append(s.Written, name)
}

// Tee passes every event to each of its sinks in order; the first Begin
// error stops the step.
type Tee []explain.Sink

// Begin passes the event on.
func (t Tee) Begin(ev *explain.Event) error {
	for _, s := range t {
		if err := s.Begin(ev); err != nil {
			return err
		}
	}
	return nil
}

// End passes the event on.
func (t Tee) End(ev *explain.Event) {
	for _, s := range t {
		s.End(ev)
	}
}
