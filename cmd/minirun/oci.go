package main

// The OCI runtime command line (runtime-spec's "runtime.md" operations, as
// runc spells them), so a tool that drives runc can drive minirun.

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/runtime"
	"github.com/urfave/cli/v2"
)

var bundleFlag = &cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the OCI bundle (directory with config.json)"}
var pidFileFlag = &cli.StringFlag{Name: "pid-file", Usage: "file to write the container's init pid to"}
var consoleSocketFlag = &cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master when process.terminal is true"}

func oneID(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("%s: expects exactly one container id", c.Command.Name)
	}
	return c.Args().First(), nil
}

// loadOne loads the container named by the command's only argument.
func loadOne(c *cli.Context) (*runtime.Container, error) {
	id, err := oneID(c)
	if err != nil {
		return nil, err
	}
	return runtime.Load(c.String("root"), id)
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container from an OCI bundle; its process waits for start",
	ArgsUsage: "ID",
	Flags:     append([]cli.Flag{bundleFlag, pidFileFlag, consoleSocketFlag, &cli.BoolFlag{Name: "no-pivot"}, &cli.BoolFlag{Name: "no-new-keyring"}}, explainFlags...),
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if err := requireRoot(); err != nil {
			return err
		}
		tr, done, err := tracerFromFlags(c)
		if err != nil {
			return err
		}
		defer done()
		_, err = runtime.Create(runtime.CreateOpts{
			Root: c.String("root"), ID: id, Bundle: c.String("bundle"),
			PidFile: c.String("pid-file"), ConsoleSocket: c.String("console-socket"), Tracer: tr,
		})
		return err
	},
}

var startCommand = &cli.Command{
	Name: "start", Usage: "start a created container (OCI) or a stopped one again (Docker)", ArgsUsage: "ID|CONTAINER",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "Docker: attach to its output"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "Docker: attach stdin too"},
	},
	Action: func(c *cli.Context) error {
		m, err := openManager(c)
		if err != nil {
			return err
		}
		// runc's start: a container made by `minirun create`.
		if ctr, err := loadOne(c); err == nil {
			if _, derr := m.Get(c.Args().First()); derr != nil || ctr.Status() == runtime.Created {
				return ctr.Start(nil)
			}
		}
		if err := requireRoot(); err != nil {
			return err
		}
		attach := c.Bool("attach") || c.Bool("interactive")
		meta, err := m.Start(c.Args().First(), attach)
		if err != nil {
			return err
		}
		if !attach {
			fmt.Println(c.Args().First())
			return nil
		}
		code, err := attachTo(m, meta, c.Bool("interactive"))
		return codeErr(code, err)
	},
}

var stateCommand = &cli.Command{
	Name: "state", Usage: "print a container's OCI state as JSON", ArgsUsage: "ID",
	Action: func(c *cli.Context) error {
		ctr, err := loadOne(c)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(ctr.State(), "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	},
}

var killCommand = &cli.Command{
	Name: "kill", Usage: "send a signal: OCI `kill ID [SIGNAL]` (default TERM), Docker `kill [-s SIGNAL] CONTAINER` (default KILL)",
	ArgsUsage: "ID [SIGNAL]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "OCI: signal every process of the container, as runc kill --all"},
		&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Usage: "Docker: the signal to send (default KILL)"},
	},
	Action: func(c *cli.Context) error {
		if ok, err := killMany(c); ok {
			return err
		}
		if c.NArg() < 1 || c.NArg() > 2 {
			return fmt.Errorf("kill: expects ID [SIGNAL]")
		}
		// A Docker-side container (by name or id) gets Docker's semantics.
		if m, err := openManager(c); err == nil {
			if _, err := m.Get(c.Args().First()); err == nil {
				name := c.String("signal")
				if name == "" {
					name = c.Args().Get(1)
				}
				if name == "" {
					name = "KILL"
				}
				sig, err := runtime.ParseSignal(name)
				if err != nil {
					return err
				}
				if err := m.Kill(c.Args().First(), sig); err != nil {
					return err
				}
				fmt.Println(c.Args().First())
				return nil
			}
		}
		sigName := "TERM"
		if c.NArg() == 2 {
			sigName = c.Args().Get(1)
		}
		sig, err := runtime.ParseSignal(sigName)
		if err != nil {
			return err
		}
		ctr, err := runtime.Load(c.String("root"), c.Args().First())
		if err != nil {
			return err
		}
		if c.Bool("all") {
			return ctr.SignalAll(sig, nil)
		}
		return ctr.Signal(sig, nil)
	},
}

var deleteCommand = &cli.Command{
	Name: "delete", Usage: "delete a stopped container (--force: kill it first)", ArgsUsage: "ID",
	Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}}},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return runtime.DeleteByID(c.String("root"), id, c.Bool("force"), nil)
	},
}

var listCommand = &cli.Command{
	Name: "list", Usage: "list containers (OCI view)",
	Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table"}, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}}},
	Action: func(c *cli.Context) error {
		cs, err := runtime.List(c.String("root"))
		if err != nil {
			return err
		}
		if c.String("format") == "json" {
			var out []interface{}
			for _, ct := range cs {
				out = append(out, ct.State())
			}
			return json.NewEncoder(os.Stdout).Encode(out)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
		if !c.Bool("quiet") {
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
		}
		for _, ct := range cs {
			if c.Bool("quiet") {
				fmt.Fprintln(w, ct.ID)
				continue
			}
			st := ct.State()
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, ct.Created().Format(time.RFC3339))
		}
		return w.Flush()
	},
}

var specCommand = &cli.Command{
	Name: "spec", Usage: "write a default config.json (Docker's defaults) in the bundle",
	Flags: []cli.Flag{bundleFlag, &cli.BoolFlag{Name: "rootless"}},
	Action: func(c *cli.Context) error {
		path := c.String("bundle") + "/config.json"
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s already exists: remove it first", path)
		}
		b, err := json.MarshalIndent(runtime.DefaultSpec(), "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(b, '\n'), 0o644)
	},
}

// execInitCommand exists only so `minirun help` does not list "init" as
// unknown; main() dispatches it before the CLI parses anything.
var execInitCommand = &cli.Command{Name: runtime.InitArg, Hidden: true, Action: func(*cli.Context) error {
	return fmt.Errorf("init is run by minirun itself, inside a new container")
}}
