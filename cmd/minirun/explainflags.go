package main

import (
	"fmt"
	"io"
	"os"

	"github.com/minirun/minirun/explain"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// explainValue lets `--explain` stand alone (text narration) or take a
// format (`--explain=json`): a flag.Value whose IsBoolFlag is true.
type explainValue struct{ v string }

func (e *explainValue) String() string   { return e.v }
func (e *explainValue) IsBoolFlag() bool { return true }
func (e *explainValue) Set(s string) error {
	switch s {
	case "true", "text":
		e.v = "text"
	case "json":
		e.v = "json"
	case "false", "":
		e.v = ""
	default:
		return fmt.Errorf("--explain takes text or json, not %q", s)
	}
	return nil
}

var explainFlags = []cli.Flag{
	&cli.GenericFlag{Name: "explain", Value: &explainValue{}, Usage: "narrate each step (--explain=json: one JSON object per step)"},
	&cli.BoolFlag{Name: "pause", Usage: "with --explain: wait for Enter before each step (live demo)"},
	&cli.StringFlag{Name: "lang", Usage: "narration language: pt, en or pt+en (default from LANG)"},
}

// tracerFromFlags builds the tracer the --explain flags ask for; nil (run
// silently) when they ask for nothing. Narration goes to stderr so that the
// container's stdout stays clean.
func tracerFromFlags(c *cli.Context) (*explain.Tracer, func(), error) {
	mode := ""
	if v, ok := c.Generic("explain").(*explainValue); ok && v != nil {
		mode = v.v
	}
	if c.Bool("pause") && mode == "" {
		mode = "text"
	}
	switch mode {
	case "":
		return nil, func() {}, nil
	case "json":
		return explain.New(&explain.JSONSink{W: os.Stderr}), func() {}, nil
	}
	sink, done := textSink(c, "")
	return explain.New(sink), done, nil
}

// textSink narrates for a person. In pause mode it reads Enter from the
// terminal itself, not from stdin, which may belong to the container.
func textSink(c *cli.Context, only explain.Chapter) (*explain.TextSink, func()) {
	s := &explain.TextSink{W: os.Stderr, Lang: explain.LangFromEnv(c.String("lang")), Pause: c.Bool("pause"), Only: only}
	done := func() {}
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w > 20 {
		s.Width = w
		if w > 100 {
			s.Width = 100
		}
	}
	if s.Pause {
		var in io.Reader = os.Stdin
		if tty, err := os.Open("/dev/tty"); err == nil {
			in = tty
			done = func() { tty.Close() }
		}
		s.In = in
	}
	return s, done
}
