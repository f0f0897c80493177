package projector

import (
	"bytes"
	"sync"

	"github.com/minirun/minirun/diagram"
	"github.com/minirun/minirun/explain"
)

// Drawer reads the host after a step and draws it, once per step however
// many sinks (the page, the SVG files) ask.
type Drawer struct {
	Probe *diagram.Probe
	Lang  explain.Lang

	mu   sync.Mutex
	seq  int
	last *diagram.Diagram
	prev *diagram.Diagram
}

// Draw returns the diagram after the step ev, reading the host the first
// time it is asked for that step. Nodes the step added or changed are
// marked.
func (d *Drawer) Draw(ev *explain.Event) *diagram.Diagram {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil && d.seq == ev.Seq && ev.Seq != 0 {
		return d.last
	}
	dg := diagram.Build(d.Probe.Read(), d.Lang)
	dg.MarkChanged(d.last)
	d.prev, d.last, d.seq = d.last, dg, ev.Seq
	return dg
}

// Current returns the last diagram drawn, drawing one of the host as it is
// when none was yet (the picture before the first step).
func (d *Drawer) Current() *diagram.Diagram {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = diagram.Build(d.Probe.Read(), d.Lang)
	}
	return d.last
}

// svgOf renders dg, only the panels in focus when focus is set.
func svgOf(dg *diagram.Diagram, focus []string) string {
	var b bytes.Buffer
	if err := diagram.SVG(&b, dg, focus); err != nil {
		return ""
	}
	return b.String()
}
