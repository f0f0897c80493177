package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minirun/minirun/diagram"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/projector"
	"github.com/urfave/cli/v2"
)

// defaultWebAddr is where `explain --web` serves the projector page: loopback
// only, since the page shows the host's pids, paths and addresses.
const defaultWebAddr = "127.0.0.1:8080"

// explainWebFlags are the projector view's flags of `minirun explain`
// (docs/projector.md).
var explainWebFlags = []cli.Flag{
	&cli.BoolFlag{Name: "web", Usage: "serve the projector view (step + live diagram) on `[ADDR]` (default " + defaultWebAddr + ") while the narration runs"},
	&cli.StringFlag{Name: "web-addr", Hidden: true},
	&cli.BoolFlag{Name: "web-public", Usage: "let --web ADDR be a non-loopback address (the page shows host details)"},
	&cli.StringFlag{Name: "svg", Usage: "write the diagram after each step as an SVG file into `DIR`"},
}

func init() { explainCommand.Flags = append(explainCommand.Flags, explainWebFlags...) }

// normalizeWeb lets --web take an optional address, as issue #17 writes it:
// `--web=ADDR` and `--web ADDR` become `--web --web-addr=ADDR`. A following
// argument is taken as the address only when it has a colon, which no
// chapter name has (`--web network` keeps network as the chapter).
func normalizeWeb(args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if v, ok := strings.CutPrefix(a, "--web="); ok {
			out = append(out, "--web", "--web-addr="+v)
			continue
		}
		if a == "--web" && i+1 < len(args) && strings.Contains(args[i+1], ":") && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, "--web", "--web-addr="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// projectorSinks adds to sink what --web and --svg ask for. ts, when not
// nil, is the terminal's narration: with --web its pause is the
// projector's, so that Enter and the page's Next button both advance,
// whichever comes first. finish closes the page's server (it lives only
// while the narration runs) and reports the SVG files.
func projectorSinks(c *cli.Context, sink explain.Sink, ts *explain.TextSink, ch explain.Chapter, lang explain.Lang) (explain.Sink, func(status string) error, error) {
	web, svgDir := c.Bool("web"), c.String("svg")
	if c.Bool("web-public") && !web {
		return nil, nil, fmt.Errorf("explain: --web-public goes with --web ADDR")
	}
	if !web && svgDir == "" {
		return sink, func(string) error { return nil }, nil
	}
	probe := diagram.Live(c.String("root"), c.String("data-root"))
	// Containers that exist before the narration are not drawn: the
	// picture is the chapter's demo container.
	probe.Baseline()
	drawer := &projector.Drawer{Probe: probe, Lang: lang}
	tee := projector.Tee{sink}
	var svg *projector.SVGSink
	if svgDir != "" {
		if err := os.MkdirAll(svgDir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("explain --svg: %w", err)
		}
		svg = &projector.SVGSink{Dir: svgDir, Drawer: drawer, Lang: lang}
	}
	var p *projector.Projector
	if web {
		addr := c.String("web-addr")
		if addr == "" {
			addr = defaultWebAddr
		}
		l, err := projector.Listen(addr, c.Bool("web-public"))
		if err != nil {
			return nil, nil, err
		}
		pause := c.Bool("pause") && !c.Bool("dry-run")
		p = projector.New(lang, ch, pause, drawer)
		if pause {
			var in io.Reader = os.Stdin
			if ts != nil {
				in, ts.Pause = ts.In, false
				p.Prompt = ts.W
			}
			go enterAdvances(in, p)
		}
		p.Serve(l)
		url := "http://" + l.Addr().String() + "/"
		if !projector.IsLoopback(l.Addr().String()) {
			fmt.Fprintf(os.Stderr, "minirun: warning: the projector page at %s shows this host's pids, paths and addresses to anyone who reaches it\n", url)
		}
		fmt.Fprintf(os.Stderr, "minirun: projector: %s\n", url)
		tee = append(tee, p)
	}
	if svg != nil {
		tee = append(tee, svg)
	}
	finish := func(status string) error {
		var err error
		if p != nil {
			err = p.Close(status)
		}
		if svg != nil {
			fmt.Fprintf(os.Stderr, "minirun: %d diagram(s) in %s\n", len(svg.Written), svgDir)
			if svg.Err != nil {
				return svg.Err
			}
		}
		return err
	}
	return tee, finish, nil
}

// enterAdvances turns each line read from the terminal into Next: Enter
// releases the step the narration waits on. A line typed while no step
// waits does nothing.
func enterAdvances(in io.Reader, p *projector.Projector) {
	rd := bufio.NewReader(in)
	for {
		if _, err := rd.ReadString('\n'); err != nil {
			return
		}
		p.Next(0)
	}
}

// narrationStatus is what the page says when the narration ends.
func narrationStatus(code int, err error) string {
	if err != nil {
		return "✗ " + err.Error()
	}
	return fmt.Sprintf("exit %d", code)
}
