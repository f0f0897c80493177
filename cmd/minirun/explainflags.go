package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// normalizeExplain rewrites `--explain=json` to the hidden `--explain-json`
// and `--explain=text` to `--explain`, so that --explain can be a plain bool
// flag and still take a format, as the interface asks.
func normalizeExplain(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--explain="); ok {
			switch v {
			case "json":
				a = "--explain-json"
			case "text", "true":
				a = "--explain"
			case "false":
				continue
			default:
				return nil, fmt.Errorf("--explain takes text or json, not %q", v)
			}
		}
		out = append(out, a)
	}
	return append(out, args[len(out):]...), nil
}

var explainFlags = []cli.Flag{
	&cli.BoolFlag{Name: "explain", Usage: "narrate each step (--explain=json: one JSON object per step)"},
	&cli.BoolFlag{Name: "explain-json", Hidden: true},
	&cli.BoolFlag{Name: "pause", Usage: "with --explain: wait for Enter before each step (live demo)"},
	&cli.StringFlag{Name: "lang", Usage: "narration language: pt, en or pt+en (default from LANG)"},
}

// tracerFromFlags builds the tracer the --explain flags ask for; nil (run
// silently) when they ask for nothing. Narration goes to stderr so that the
// container's stdout stays clean.
func tracerFromFlags(c *cli.Context) (*explain.Tracer, func(), error) {
	mode := ""
	switch {
	case c.Bool("explain-json"):
		mode = "json"
	case c.Bool("explain"):
		mode = "text"
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
	sink, done := textSink(c)
	return explain.New(sink), done, nil
}

// textSink narrates for a person. In pause mode it reads Enter from the
// terminal itself, not from stdin, which may belong to the container.
func textSink(c *cli.Context) (*explain.TextSink, func()) {
	s := &explain.TextSink{W: os.Stderr, Lang: explain.LangFromEnv(c.String("lang")), Pause: c.Bool("pause")}
	done := func() {}
	s.Width = termWidth()
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

// termWidth is the narration's width: the terminal's, between 21 and 100
// columns, or 80 (a projector) when stderr is not a terminal.
func termWidth() int {
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w > 20 {
		return min(w, 100)
	}
	return 80
}
