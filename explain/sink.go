package explain

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// TextSink narrates steps for a person, in one language, wrapped to Width
// columns (80 by default: a projector in a classroom). With Pause set it
// waits for Enter before each step, reading from In: the live-demo mode.
type TextSink struct {
	W     io.Writer
	Lang  Lang
	Width int
	Pause bool
	In    io.Reader
	// Shown counts the steps narrated so far.
	Shown int

	mu sync.Mutex
	rd *bufio.Reader
}

func (s *TextSink) width() int {
	if s.Width <= 20 {
		return 80
	}
	return s.Width
}

// Filter passes on to Sink only the steps of the listed chapters (all
// chapters when Chapters is empty) and, when Steps is not nil, only the
// steps whose ID it holds (`minirun explain --slide N`). The other steps
// still run, silently: `minirun explain CHAPTER` narrates one chapter of a
// real container's whole path.
type Filter struct {
	Sink     Sink
	Chapters []Chapter
	Steps    map[string]bool
}

func (f *Filter) shown(ev *Event) bool {
	if f.Steps != nil && !f.Steps[ev.Step.ID] {
		return false
	}
	if len(f.Chapters) == 0 {
		return true
	}
	for _, c := range f.Chapters {
		if ev.Step.Chapter == c {
			return true
		}
	}
	return false
}

// Begin passes a shown step on.
func (f *Filter) Begin(ev *Event) error {
	if !f.shown(ev) {
		return nil
	}
	return f.Sink.Begin(ev)
}

// End passes a shown step on.
func (f *Filter) End(ev *Event) {
	if f.shown(ev) {
		f.Sink.End(ev)
	}
}

// labels holds the few fixed words of the narration.
var labels = map[Lang][5]string{
	PT: {"por quê", "comando", "", "evidência", "página"},
	EN: {"why", "shell", "", "evidence", "docs"},
}

func (s *TextSink) label(i int) string {
	l := s.Lang
	if l == Both {
		return labels[PT][i] + "/" + labels[EN][i]
	}
	if _, ok := labels[l]; !ok {
		l = PT
	}
	return labels[l][i]
}

// Begin prints the step's title, reason, shell equivalent and slide, and in
// pause mode waits for Enter.
func (s *TextSink) Begin(ev *Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ev.Step
	s.Shown++
	fmt.Fprintln(s.W)
	s.wrapWith(fmt.Sprintf("[%d] %s: ", ev.Seq, st.Chapter), st.Title.In(s.Lang))
	s.wrap(s.label(0), st.Why.In(s.Lang))
	if st.Shell != "" {
		s.wrap(s.label(1), "$ "+st.Shell)
	}
	if len(ev.Slides) > 0 {
		// "slide 26 · DNS RR": the word is the same in both languages.
		s.wrapWith("    ", strings.Join(ev.Slides, "; "))
	}
	s.wrap(s.label(4), ev.Anchor)
	if s.Pause && !ev.DryRun {
		fmt.Fprint(s.W, "    [Enter] ")
		if s.rd == nil {
			s.rd = bufio.NewReader(s.In)
		}
		if _, err := s.rd.ReadString('\n'); err != nil && err != io.EOF {
			return fmt.Errorf("wait for Enter: %w", err)
		}
	}
	return nil
}

// End prints the outcome: the evidence, or the error.
func (s *TextSink) End(ev *Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case ev.Err != "":
		s.wrap("✗", ev.Err)
	case ev.EvidenceText != nil:
		s.wrap("✓ "+s.label(3), ev.EvidenceText.In(s.Lang))
	case ev.Evidence != "":
		s.wrap("✓ "+s.label(3), ev.Evidence)
	case !ev.DryRun:
		fmt.Fprintln(s.W, "    ✓")
	}
}

// wrap prints "    label: text", folding long text under the label so that
// nothing passes the width. Each line of text is folded on its own.
func (s *TextSink) wrap(label, text string) {
	s.wrapWith("    "+label+": ", text)
}

// wrapWith prints text after prefix, folded to the sink's width.
func (s *TextSink) wrapWith(prefix, text string) { fold(s.W, prefix, 6, s.width(), text) }

// fold prints text after prefix, folded to max columns; lines after the
// first are indented by indent spaces.
func fold(w io.Writer, prefix string, indentN, max int, text string) {
	indent := strings.Repeat(" ", indentN)
	first := true
	for _, line := range strings.Split(text, "\n") {
		words := splitLong(strings.Fields(line), max-len(indent))
		cur := indent
		if first {
			cur = prefix
			first = false
		}
		n := len([]rune(cur))
		empty := true
		for _, word := range words {
			wl := len([]rune(word))
			if !empty && n+1+wl > max {
				fmt.Fprintln(w, cur)
				cur, n, empty = indent+word, len(indent)+wl, false
				continue
			}
			if !empty {
				cur += " "
				n++
			}
			cur += word
			n += wl
			empty = false
		}
		fmt.Fprintln(w, cur)
	}
}

// JSONSink writes one JSON object per step, after it ran (--explain=json).
// Both languages are included; a program picks what it needs.
type JSONSink struct {
	W  io.Writer
	mu sync.Mutex
}

// Begin does nothing: the object is written once the outcome is known.
func (j *JSONSink) Begin(*Event) error { return nil }

// End writes the step as one line of JSON.
func (j *JSONSink) End(ev *Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	j.W.Write(append(b, '\n'))
}

// Recorder keeps every event in memory; tests use it to check the order and
// content of the narration.
type Recorder struct {
	mu     sync.Mutex
	Events []Event
}

// Begin records nothing: events are kept when they end.
func (r *Recorder) Begin(*Event) error { return nil }

// End keeps a copy of the event.
func (r *Recorder) End(ev *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Events = append(r.Events, *ev)
}

// IDs returns the step ids recorded so far, in order.
func (r *Recorder) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, len(r.Events))
	for i, e := range r.Events {
		ids[i] = e.Step.ID
	}
	return ids
}

// splitLong breaks words that cannot fit on a line (mount options, long
// paths) after a comma, a colon or a slash, or anywhere as a last resort,
// so the narration stays inside the projector's width.
func splitLong(words []string, room int) []string {
	if room < 10 {
		room = 10
	}
	var out []string
	for _, w := range words {
		for len([]rune(w)) > room {
			r := []rune(w)
			cut := -1
			for i := room - 1; i > room/3; i-- {
				if r[i] == ',' || r[i] == ':' || r[i] == '/' {
					cut = i + 1
					break
				}
			}
			if cut < 0 {
				cut = room
			}
			out = append(out, string(r[:cut]))
			w = string(r[cut:])
		}
		out = append(out, w)
	}
	return out
}
