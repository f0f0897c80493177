package main

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/course"
	"github.com/minirun/minirun/explain"
	"github.com/urfave/cli/v2"
)

var explainCommand = &cli.Command{
	Name:      "explain",
	Usage:     "narrate what minirun does, chapter by chapter (runs a real container)",
	ArgsUsage: "[CHAPTER | slides]",
	Flags: []cli.Flag{
		&cli.IntFlag{Name: "slide", Usage: "narrate only what slide `N` of the course's deck shows (see `minirun explain slides`)"},
		&cli.BoolFlag{Name: "pause", Usage: "wait for Enter before each step (live demo on a projector)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the steps without running them (no root needed)"},
		&cli.StringFlag{Name: "lang", Usage: "pt, en or pt+en (default from LANG)"},
		&cli.StringFlag{Name: "image", Value: "busybox", Usage: "image the demo container runs"},
		&cli.BoolFlag{Name: "json", Usage: "one JSON object per step instead of text"},
		&cli.BoolFlag{Name: "shell", Usage: "print the chapter as one bash script to run by hand (no root needed to print it)"},
		&cli.StringFlag{Name: "userns-remap", Usage: "namespaces chapter: USER whose /etc/subuid range the container's root maps to (shows ns-userns-map)"},
	},
	Action: func(c *cli.Context) error {
		lang := explain.LangFromEnv(c.String("lang"))
		if c.NArg() == 1 && c.Args().First() == "slides" {
			explain.PrintSlides(os.Stdout, lang, termWidth())
			return nil
		}
		var slide *explain.Slide
		if c.IsSet("slide") {
			if c.NArg() > 0 {
				return fmt.Errorf("explain: --slide takes no chapter (the slide names its own)")
			}
			s, ok := explain.SlideByNum(c.Int("slide"))
			if !ok {
				return fmt.Errorf("explain: no slide %d: the deck has slides 1 to %d (minirun explain slides)", c.Int("slide"), len(explain.Slides))
			}
			explain.PrintSlide(os.Stdout, s, lang, termWidth())
			if s.Chapter == "" {
				return nil
			}
			slide = &s
		}
		if c.NArg() == 0 && slide == nil {
			explain.PrintChapters(os.Stdout, lang, termWidth())
			return nil
		}
		if c.NArg() > 1 {
			return fmt.Errorf("explain: one chapter at a time")
		}
		ch := explain.Chapter(c.Args().First())
		if slide != nil {
			ch = slide.Chapter
		}
		if !explain.Known(ch) {
			return fmt.Errorf("unknown chapter %q: run `minirun explain` for the list", ch)
		}
		if c.Bool("shell") {
			if slide != nil || c.Bool("json") || c.Bool("pause") {
				return fmt.Errorf("explain: --shell prints a whole chapter: no --slide, --json or --pause")
			}
			return printShell(os.Stdout, ch, lang, c.String("image"))
		}
		var sink explain.Sink
		done := func() {}
		var ts *explain.TextSink
		if c.Bool("json") {
			sink = &explain.JSONSink{W: os.Stdout}
		} else {
			ts, done = textSink(c)
			ts.W = os.Stdout
			sink = ts
		}
		defer done()
		var steps map[string]bool
		if slide != nil {
			steps = map[string]bool{}
			for _, id := range slide.Steps {
				steps[id] = true
			}
		}
		if c.String("userns-remap") != "" && ch != explain.ChapterNamespaces {
			return fmt.Errorf("explain: --userns-remap is for the namespaces chapter, not %s", ch)
		}
		env := &course.Env{Image: c.String("image"), Stdout: os.Stdout, Stderr: os.Stderr,
			DataRoot: c.String("data-root"), StateRoot: c.String("root"), UsernsRemap: c.String("userns-remap"),
			Version: version}
		if !c.Bool("dry-run") {
			if err := requireRoot(); err != nil {
				return err
			}
			m, err := openManager(c)
			if err != nil {
				return err
			}
			env.Containers = m
		}
		sink, finish, err := projectorSinks(c, sink, ts, ch, lang)
		if err != nil {
			return err
		}
		code, err := course.Narrate(ch, env, sink, steps, c.Bool("dry-run"))
		if ferr := finish(narrationStatus(code, err)); err == nil {
			err = ferr
		}
		if ts != nil && slide != nil && ts.Shown == 0 {
			none := explain.Text{PT: "Nenhum passo deste slide rodou neste capítulo.", EN: "No step of this slide ran in this chapter."}
			fmt.Println(none.In(lang))
		}
		if err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	},
}

// printShell writes chapter ch as a bash script (`explain --shell`), from
// the steps of its dry run with paths under the script's own $STATE.
func printShell(w io.Writer, ch explain.Chapter, lang explain.Lang, image string) error {
	if !slices.Contains(explain.ShellChapters, ch) {
		// Before any dry run: WriteShell says which chapters have one.
		return explain.WriteShell(w, ch, "", nil, nil, nil)
	}
	c, v1, v2, err := shellPlans(ch, image)
	if err != nil {
		return err
	}
	return explain.WriteShell(w, ch, lang, v1, v2, c.Shows, c.ShellVars...)
}

// shellPlans are the plans the script of chapter ch is written from: the
// chapter's Shell scenario, described once; or its dry run, described twice,
// as a cgroup v1 machine and as a v2 one would run it (v1, v2), for the
// script to pick at run time.
func shellPlans(ch explain.Chapter, image string) (c *course.Chapter, v1, v2 explain.Plan, err error) {
	c, err = course.Get(ch)
	if err != nil {
		return nil, nil, nil, err
	}
	env := &course.Env{Image: image, Stdout: os.Stdout, Stderr: os.Stderr,
		DataRoot: explain.ShellDataRoot, StateRoot: explain.ShellStateRoot}
	if c.Shell != nil {
		rec := &explain.Recorder{}
		if err := c.Shell(env, explain.NewDryRun(rec)); err != nil {
			return nil, nil, nil, err
		}
		return c, explain.PlanOf(rec.Events), nil, nil
	}
	var plans [2]explain.Plan
	for i, m := range []cgroups.Mode{cgroups.Legacy, cgroups.Unified} {
		rec := &explain.Recorder{}
		restore := cgroups.DescribeAs(m)
		err := c.DryRun(env, explain.NewDryRun(rec))
		restore()
		if err != nil {
			return nil, nil, nil, err
		}
		plans[i] = explain.PlanOf(rec.Events)
	}
	return c, plans[0], plans[1], nil
}
