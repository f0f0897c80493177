package main

// Docker's commands for detached containers: the shim and what talks to it.

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

// shimCommand is the shim role: `minirun shim ID`, started by run -d and
// start, never by a person.
var shimCommand = &cli.Command{
	Name: "shim", Hidden: true, ArgsUsage: "ID",
	Flags: []cli.Flag{&cli.BoolFlag{Name: "attach-first"}},
	Action: func(c *cli.Context) error {
		// The container's parent-death signal belongs to the thread that
		// started it: keep this goroutine on the main thread for good.
		goruntime.LockOSThread()
		m, err := openManager(c)
		if err != nil {
			return err
		}
		id := c.Args().First()
		// Started before its container existed (the shim's start-up runs
		// beside the CLI's preparation), it waits for the word to go.
		if ok, err := m.WaitForGo(id); err != nil || !ok {
			return err // no word: the run failed before its container was made
		}
		cfg, err := m.ShimConfig(id, os.NewFile(3, "ready"))
		if err != nil {
			return err
		}
		cfg.AttachFirst = c.Bool("attach-first")
		// A shim idles for the container's whole life: once the container
		// runs, it gives back what it needed only to start, and lowers its
		// GOGC (its GOMAXPROCS is set by the environment startShim gives
		// it).
		cfg.OnIdle = func() {
			if _, err := shim.ReleaseIdleMemory(); err != nil {
				fmt.Fprintf(os.Stderr, "minirun shim: release idle memory: %v\n", err)
			}
		}
		return shim.Run(cfg)
	},
}

// attachTo connects the caller's terminal or stdio to a container.
func attachTo(m *container.Manager, meta *container.Meta, stdin bool) (int, error) {
	o := shim.AttachOpts{Stdout: os.Stdout, Stderr: os.Stderr, TTY: meta.Config.Tty}
	if stdin && meta.Config.OpenStdin {
		o.Stdin = os.Stdin
	}
	code, err := shim.Attach(m.Socket(meta.ID), o)
	if err == shim.ErrDetached {
		fmt.Fprintln(os.Stderr, "\r\nminirun: "+err.Error())
		return 0, nil
	}
	if err != nil {
		// The container may have ended before we got there: its record has the code.
		return m.Wait(meta.ID, 0)
	}
	return code, nil
}

var attachCommand = &cli.Command{
	Name: "attach", Usage: "connect to a running container's stdio (Ctrl-P Ctrl-Q detaches)", ArgsUsage: "CONTAINER",
	Action: func(c *cli.Context) error {
		m, meta, err := oneContainer(c)
		if err != nil {
			return err
		}
		if meta.State.Status != "running" {
			return fmt.Errorf("you cannot attach to a stopped container, start it first")
		}
		code, err := attachTo(m, meta, true)
		return codeErr(code, err)
	},
}

func codeErr(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

func oneContainer(c *cli.Context) (*container.Manager, *container.Meta, error) {
	if c.NArg() != 1 {
		return nil, nil, fmt.Errorf("%s: expects one container", c.Command.Name)
	}
	m, err := openManager(c)
	if err != nil {
		return nil, nil, err
	}
	meta, err := m.Get(c.Args().First())
	return m, meta, err
}

var logsCommand = &cli.Command{
	Name: "logs", Usage: "show a container's output (json-file log)", ArgsUsage: "CONTAINER",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
		&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "only the last N lines"},
		&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show each line's time"},
		&cli.StringFlag{Name: "since", Usage: "only lines after a time (RFC 3339) or a duration ago (10m)"},
	},
	Action: func(c *cli.Context) error {
		m, meta, err := oneContainer(c)
		if err != nil {
			return err
		}
		o := container.LogOpts{Follow: c.Bool("follow"), Timestamps: c.Bool("timestamps"), Tail: -1}
		if t := c.String("tail"); t != "all" {
			if o.Tail, err = strconv.Atoi(t); err != nil || o.Tail < 0 {
				return fmt.Errorf("--tail %q: want a number or all", t)
			}
		}
		if s := c.String("since"); s != "" {
			if d, err := time.ParseDuration(s); err == nil {
				o.Since = time.Now().Add(-d)
			} else if o.Since, err = time.Parse(time.RFC3339, s); err != nil {
				return fmt.Errorf("--since %q: want a duration (10m) or an RFC 3339 time", s)
			}
		}
		return m.Logs(meta, o, os.Stdout, os.Stderr)
	},
}

var stopCommand = &cli.Command{
	Name: "stop", Usage: "stop containers: SIGTERM, then SIGKILL after the timeout", ArgsUsage: "CONTAINER [CONTAINER…]",
	Flags: []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}},
	Action: func(c *cli.Context) error {
		return eachParallel(c, func(m *container.Manager, ref string) error {
			return m.Stop(ref, time.Duration(c.Int("time"))*time.Second)
		})
	},
}

// killMany is Docker's `kill [-s SIGNAL] CONTAINER CONTAINER…`: with more
// than two arguments (the OCI form is ID [SIGNAL]), or two that both name
// Docker containers, they are all signalled in parallel. It reports
// whether it handled the command.
func killMany(c *cli.Context) (bool, error) {
	if c.NArg() < 2 {
		return false, nil
	}
	if c.NArg() == 2 {
		m, err := openManager(c)
		if err != nil {
			return false, nil
		}
		for _, ref := range c.Args().Slice() {
			if _, err := m.Get(ref); err != nil {
				return false, nil // OCI's kill ID SIGNAL
			}
		}
	}
	name := c.String("signal")
	if name == "" {
		name = "KILL"
	}
	sig, err := runtime.ParseSignal(name)
	if err != nil {
		return true, err
	}
	return true, eachParallel(c, func(m *container.Manager, ref string) error { return m.Kill(ref, sig) })
}

// parallelLimit bounds how many containers stop at once. Each stop is a
// goroutine that mostly waits (one poll(2) on a pidfd for the grace
// period, then for the shim's record) with a few files open, so the bound
// is high: with Docker's 50, 100 containers took two grace periods.
const parallelLimit = 128

// eachParallel runs fn for every container named, up to parallelLimit at
// a time, as Docker's CLI stops containers in parallel: stopping 100
// containers with -t 1 takes about one grace period, not a hundred.
// Names are printed in the order given, each once it and all before it
// are done; a failure is printed as its own line on stderr and makes the
// exit status 1, without stopping the others (Docker does the same).
func eachParallel(c *cli.Context, fn func(*container.Manager, string) error) error {
	if c.NArg() == 0 {
		return fmt.Errorf("%s: give at least one container", c.Command.Name)
	}
	if err := requireRoot(); err != nil {
		return err
	}
	m, err := openManager(c)
	if err != nil {
		return err
	}
	refs := c.Args().Slice()
	errs := make([]error, len(refs))
	done := make([]chan struct{}, len(refs))
	slots := make(chan struct{}, parallelLimit)
	for i, ref := range refs {
		done[i] = make(chan struct{})
		go func() {
			slots <- struct{}{}
			defer func() { <-slots; close(done[i]) }()
			errs[i] = fn(m, ref)
		}()
	}
	var failed error
	for i, ref := range refs {
		<-done[i]
		if errs[i] != nil {
			fmt.Fprintf(os.Stderr, "minirun: %s\n", oneLine(errs[i]))
			failed = exitCode(1)
			continue
		}
		fmt.Println(ref)
	}
	return failed
}

var restartCommand = &cli.Command{
	Name: "restart", Usage: "stop then start containers", ArgsUsage: "CONTAINER [CONTAINER…]",
	Flags: []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10}},
	Action: func(c *cli.Context) error {
		return eachDocker(c, func(m *container.Manager, ref string) error {
			if err := m.Stop(ref, time.Duration(c.Int("time"))*time.Second); err != nil {
				return err
			}
			_, err := m.Start(ref, false)
			return err
		})
	},
}

var waitCommand = &cli.Command{
	Name: "wait", Usage: "wait for containers to exit and print their exit codes", ArgsUsage: "CONTAINER [CONTAINER…]",
	Action: func(c *cli.Context) error {
		return eachDockerQuiet(c, func(m *container.Manager, ref string) error {
			code, err := m.Wait(ref, 0)
			if err == nil {
				fmt.Println(code)
			}
			return err
		})
	},
}

var renameCommand = &cli.Command{
	Name: "rename", Usage: "rename a container", ArgsUsage: "CONTAINER NEW_NAME",
	Action: func(c *cli.Context) error {
		if c.NArg() != 2 {
			return fmt.Errorf("rename: expects CONTAINER NEW_NAME")
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		return m.Rename(c.Args().Get(0), c.Args().Get(1))
	},
}

var containerCommand = &cli.Command{
	Name: "container", Usage: "manage containers",
	Subcommands: []*cli.Command{
		{Name: "ls", Flags: psCommand.Flags, Action: psCommand.Action},
		{Name: "rm", Flags: rmCommand.Flags, Action: rmCommand.Action},
		{Name: "inspect", Action: inspectCommand.Action},
		{
			Name: "prune", Usage: "remove every stopped container",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}}, pruneFilterFlag},
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				m, err := openManager(c)
				if err != nil {
					return err
				}
				f, err := pruneFilter(c)
				if err != nil {
					return err
				}
				gone, freed, err := m.Prune(f)
				if len(gone) > 0 {
					fmt.Println("Deleted Containers:")
					fmt.Println(strings.Join(gone, "\n"))
				}
				fmt.Printf("Total reclaimed space: %s\n", humanSize(int64(freed)))
				return err
			},
		},
	},
}

func eachDocker(c *cli.Context, fn func(*container.Manager, string) error) error {
	return eachRef(c, fn, true)
}

func eachDockerQuiet(c *cli.Context, fn func(*container.Manager, string) error) error {
	return eachRef(c, fn, false)
}

func eachRef(c *cli.Context, fn func(*container.Manager, string) error, echo bool) error {
	if c.NArg() == 0 {
		return fmt.Errorf("%s: give at least one container", c.Command.Name)
	}
	if err := requireRoot(); err != nil {
		return err
	}
	m, err := openManager(c)
	if err != nil {
		return err
	}
	for _, ref := range c.Args().Slice() {
		if err := fn(m, ref); err != nil {
			return err
		}
		if echo {
			fmt.Println(ref)
		}
	}
	return nil
}

var topCommand = &cli.Command{
	Name: "top", Usage: "show the processes of a container, as the host sees them", ArgsUsage: "CONTAINER",
	Action: func(c *cli.Context) error {
		m, meta, err := oneContainer(c)
		if err != nil {
			return err
		}
		rows, err := m.Top(meta.ID)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
		fmt.Fprintln(w, strings.Join(container.TopTitles, "\t"))
		for _, row := range rows {
			fmt.Fprintln(w, strings.Join(row, "\t"))
		}
		return w.Flush()
	},
}

var execCommand = &cli.Command{
	Name: "exec", Usage: "run a command in a running container", ArgsUsage: "CONTAINER COMMAND [ARG…]",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}},
	}, explainFlags...),
	Action: func(c *cli.Context) error {
		if c.NArg() < 2 {
			return fmt.Errorf("exec: expects CONTAINER COMMAND [ARG…]")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		meta, err := m.Get(c.Args().First())
		if err != nil {
			return err
		}
		p := &specs.Process{Args: c.Args().Tail(), Terminal: c.Bool("tty"), Cwd: c.String("workdir")}
		p.Env = append(append([]string{}, meta.Config.Env...), c.StringSlice("env")...)
		if u := c.String("user"); u != "" {
			if p.User, err = m.ResolveUser(meta, u); err != nil {
				return err
			}
		}
		tr, done, err := tracerFromFlags(c)
		if err != nil {
			return err
		}
		defer done()
		stdio := container.IO{Stdout: os.Stdout, Stderr: os.Stderr}
		if c.Bool("interactive") {
			stdio.Stdin = os.Stdin
		} else if stdio.Stdin, err = os.Open(os.DevNull); err != nil {
			return err
		}
		if c.Bool("detach") {
			devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			stdio = container.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull}
		}
		proc, err := m.Exec(meta.ID, p, stdio, tr)
		if err != nil {
			return err
		}
		if c.Bool("detach") {
			return nil
		}
		var console *container.ConsoleCopier
		if proc.Console != nil {
			in := container.IO{Stdout: os.Stdout}
			if c.Bool("interactive") {
				in.Stdin = os.Stdin
			} else {
				in.Stdin = stdio.Stdin
			}
			if console, err = container.AttachConsole(proc.Console, in); err != nil {
				return err
			}
		}
		code, err := proc.Wait()
		if console != nil {
			console.Close()
		}
		return codeErr(code, err)
	},
}
