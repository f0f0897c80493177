package explain

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/cleanup"
)

func step(id string, do func() error) Step {
	return Step{
		ID: id, Chapter: ChapterRootfs,
		Title: Text{PT: "Monta " + id, EN: "Mount " + id},
		Why:   Text{PT: "porque sim", EN: "because"},
		Shell: "mount -t overlay overlay -o lowerdir=/var/lib/minirun/image/layers/sha256/0123456789abcdef0123456789abcdef/diff,upperdir=/var/lib/minirun/containers/x/diff,workdir=/w /m",
		Do:    do,
	}
}

func TestTextSinkFitsTheProjector(t *testing.T) {
	var out bytes.Buffer
	tr := New(&TextSink{W: &out, Lang: PT, Width: 80})
	if err := tr.Do(step("a", func() error { return nil }), nil); err != nil {
		t.Fatal(err)
	}
	long := step("b", nil)
	long.Title.PT = "Esconde caminhos sensíveis: " + strings.Repeat("/proc/timer_list ", 10)
	tr.Do(long, nil)
	for _, l := range strings.Split(out.String(), "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
	if !strings.Contains(out.String(), "por quê: porque sim") || !strings.Contains(out.String(), "página: docs/rootfs.md#a") {
		t.Fatalf("narration lacks the reason or the docs anchor:\n%s", out.String())
	}
}

// A step of the slide map names its slide apart from its docs anchor.
func TestNarrationNamesTheSlide(t *testing.T) {
	var out bytes.Buffer
	s := step("network-dns", nil)
	s.Chapter = ChapterNetwork
	New(&TextSink{W: &out, Lang: EN, Width: 80}).Do(s, nil)
	if !strings.Contains(out.String(), "slide 26 · DNS RR") || !strings.Contains(out.String(), "docs: docs/network.md#network-dns") {
		t.Fatalf("narration lacks the slide or the docs anchor:\n%s", out.String())
	}
	var js bytes.Buffer
	New(&JSONSink{W: &js}).Do(s, nil)
	if !strings.Contains(js.String(), `"slides":[`) || !strings.Contains(js.String(), "slide 26 · DNS RR") {
		t.Fatalf("JSON lacks the slides: %s", js.String())
	}
}

func TestLanguages(t *testing.T) {
	for lang, want := range map[Lang]string{PT: "Monta a", EN: "Mount a", Both: "Monta a / Mount a"} {
		var out bytes.Buffer
		New(&TextSink{W: &out, Lang: lang}).Do(step("a", nil), nil)
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: want %q in %q", lang, want, out.String())
		}
	}
	if ParseLang("en_US.UTF-8") != EN || ParseLang("pt_BR.UTF-8") != PT || ParseLang("") != PT {
		t.Error("ParseLang")
	}
}

func TestPauseWaitsForEnter(t *testing.T) {
	var out bytes.Buffer
	ran := 0
	tr := New(&TextSink{W: &out, Pause: true, In: strings.NewReader("\n")})
	tr.Do(step("a", func() error { ran++; return nil }), nil)
	if ran != 1 || !strings.Contains(out.String(), "[Enter]") {
		t.Fatalf("ran=%d out=%q", ran, out.String())
	}
}

func TestUndoRegisteredOnlyOnSuccess(t *testing.T) {
	var undo cleanup.Stack
	rec := &Recorder{}
	tr := New(rec)
	ok := step("ok", func() error { return nil })
	ok.Undo = func() error { return nil }
	bad := step("bad", func() error { return errors.New("boom") })
	bad.Undo = func() error { t.Fatal("undo of a failed step ran"); return nil }
	if err := tr.Run(Plan{ok, bad, step("never", nil)}, &undo); err == nil {
		t.Fatal("plan with a failing step succeeded")
	}
	if undo.Len() != 1 {
		t.Fatalf("undos registered: %d, want 1", undo.Len())
	}
	if ids := rec.IDs(); len(ids) != 2 || rec.Events[1].Err != "boom" {
		t.Fatalf("recorded %v", ids)
	}
	if err := undo.Run(); err != nil {
		t.Fatal(err)
	}
}

func TestDryRunRunsNothing(t *testing.T) {
	rec := &Recorder{}
	tr := NewDryRun(rec)
	if err := tr.Do(step("a", func() error { t.Fatal("dry run executed a step"); return nil }), nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 1 || !rec.Events[0].DryRun {
		t.Fatalf("events %+v", rec.Events)
	}
}

func TestJSONSinkOneObjectPerStep(t *testing.T) {
	var out bytes.Buffer
	tr := New(&JSONSink{W: &out})
	tr.Do(step("a", nil), nil)
	tr.Do(step("b", nil), nil)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	var ev Event
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil || ev.Step.ID != "b" || ev.Anchor != "docs/rootfs.md#b" || ev.Step.Title.PT == "" || ev.Step.Title.EN == "" {
		t.Fatalf("bad event %s: %v", lines[1], err)
	}
}

// A relay renumbers the other process's steps into this tracer's sequence
// and ends, on Close, the steps whose end never came.
func TestRelay(t *testing.T) {
	rec := &Recorder{}
	tr := New(rec)
	tr.Do(step("parent", nil), nil)
	r := tr.Relay()
	child := &Event{Seq: 1, Step: step("child", nil)}
	r.Begin(child)
	r.End(&Event{Seq: 1, Step: child.Step})
	r.Begin(&Event{Seq: 2, Step: step("exec", nil)})
	r.(Closer).Close("")
	if got := rec.IDs(); strings.Join(got, " ") != "parent child exec" {
		t.Fatalf("ids %v", got)
	}
	if rec.Events[1].Seq != 2 || rec.Events[2].Seq != 3 {
		t.Fatalf("seqs %d %d", rec.Events[1].Seq, rec.Events[2].Seq)
	}
}
