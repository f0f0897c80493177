package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
	"github.com/urfave/cli/v2"
)

// demoCommand is what the container runs in each chapter: something whose
// output shows the chapter's point from the inside.
var demoCommand = map[explain.Chapter]string{
	explain.ChapterLifecycle:  "echo 'PID 1 é '$(cat /proc/1/comm); echo 'status: running'",
	explain.ChapterNamespaces: "echo \"pid=$$ hostname=$(hostname)\"; ls -l /proc/self/ns | sed 's/.* -> //'; ip link 2>/dev/null | grep -c mtu | sed 's/^/interfaces: /'",
	explain.ChapterRootfs:     "ls /; echo escrito > /novo-arquivo; rm -f /bin/vi; ls -l /novo-arquivo",
	explain.ChapterMounts:     "cat /proc/self/mounts",
	explain.ChapterProcess:    "grep -E 'Uid|Gid|Cap|NoNewPrivs' /proc/self/status; ulimit -n",
	explain.ChapterVolumes:    "echo oi > /dados/arquivo; grep -E ' / | /dados | /rapido ' /proc/self/mountinfo | awk '{print $5, $9, $10}'",
	explain.ChapterNetwork:    "ip -4 addr show eth0; ip route; cat /etc/resolv.conf",
	explain.ChapterImages:     "cat /etc/os-release 2>/dev/null; ls /bin | head -3",
	explain.ChapterSecurity:   "grep -E 'Cap(Eff|Bnd)|NoNewPrivs|Seccomp:' /proc/self/status; unshare -m true || echo unshare bloqueado",
	explain.ChapterCgroups:    "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>/dev/null",
}

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
			head := explain.Text{PT: "Capítulos (minirun explain CAPÍTULO):", EN: "Chapters (minirun explain CHAPTER):"}
			fmt.Println(head.In(lang))
			for _, ch := range explain.Chapters {
				fmt.Printf("  %-11s %s\n  %-11s %s\n", ch.Name, ch.Title.In(lang), "", ch.Summary.In(lang))
			}
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
		var sink explain.Sink
		done := func() {}
		if c.Bool("json") {
			sink = &explain.JSONSink{W: os.Stdout}
		} else {
			ts, d := textSink(c, ch)
			ts.W = os.Stdout
			if ch == explain.ChapterSecurity {
				// The defences set right before execve are process steps.
				ts.Also = []explain.Chapter{explain.ChapterProcess}
			}
			if slide != nil {
				ts.Steps = map[string]bool{}
				for _, id := range slide.Steps {
					ts.Steps[id] = true
				}
				defer func() {
					if ts.Shown == 0 {
						none := explain.Text{PT: "Nenhum passo deste slide rodou neste capítulo.", EN: "No step of this slide ran in this chapter."}
						fmt.Println(none.In(lang))
					}
				}()
			}
			sink, done = ts, d
		}
		defer done()
		if c.Bool("dry-run") {
			return dryRun(explain.NewDryRun(sink), c)
		}
		if err := requireRoot(); err != nil {
			return err
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		if ch == explain.ChapterComponents {
			return componentsDemo(m, explain.New(sink), c.String("image"))
		}
		o := container.RunOpts{Image: c.String("image"), Cmd: []string{"sh", "-c", demoCommand[ch]}, Remove: true}
		if ch == explain.ChapterVolumes {
			// An anonymous volume and a tmpfs beside the overlay root.
			o.Volumes, o.Tmpfs = []string{"/dados"}, []string{"/rapido"}
		}
		if ch == explain.ChapterCgroups {
			// Limits, so that the chapter shows each file being written.
			o.Resources, _, err = container.ResourceFlags{Memory: "64m", CPUs: "0.5", PidsLimit: 64}.Resources()
			if err != nil {
				return err
			}
		}
		code, err := m.Run(o, container.IO{Stdout: os.Stdout, Stderr: os.Stderr}, explain.New(sink))
		if err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	},
}

// dryRun walks the same plans `run` executes, with a tracer that only
// describes each step: the list cannot drift from the real code path.
func dryRun(tr *explain.Tracer, c *cli.Context) error {
	dir := filepath.Join(c.String("data-root"), "containers", "$ID")
	ov := overlay.Options{Lower: []string{filepath.Join(c.String("data-root"), "image/layers/sha256/$LAYER/diff")},
		Upper: filepath.Join(dir, "diff"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "merged")}
	if err := tr.Do(overlay.MountStep(ov), nil); err != nil {
		return err
	}
	spec := runtime.DefaultSpec()
	spec.Root.Path = ov.Target
	spec.Process.Terminal = false
	_, err := runtime.Create(runtime.CreateOpts{Root: c.String("root"), ID: "ID", Bundle: dir, Spec: spec, Tracer: tr})
	return err
}
