package main

// `minirun compose …`: Docker Compose's commands over the compose package.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/minirun/minirun/compose"
	"github.com/minirun/minirun/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// composeCommand is `docker compose`: every verb loads the file (-f, or
// compose.yaml / docker-compose.yaml found from the current directory up),
// then acts on the project's containers, networks and volumes, which it
// finds by their names and labels.
var composeCommand = &cli.Command{
	Name:  "compose",
	Usage: "run a multi-container project from a Compose file (docker compose)",
	Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "file", Aliases: []string{"f"}, Usage: "Compose file (repeatable; default: compose.yaml or docker-compose.yaml)"},
		&cli.StringFlag{Name: "project-name", Aliases: []string{"p"}, Usage: "project name (default: the file's directory, lower-cased)"},
		&cli.StringFlag{Name: "project-directory", Usage: "where relative paths start (default: the first file's directory)"},
	},
	Before: func(c *cli.Context) error {
		// compose-go warns through logrus ("the attribute `version` is
		// obsolete"): print those as one plain line each.
		logrus.SetFormatter(warningFormatter{})
		logrus.SetOutput(os.Stderr)
		return nil
	},
	Subcommands: []*cli.Command{
		{
			Name: "up", Usage: "create and start the project: networks, volumes, then containers in depends_on order",
			ArgsUsage: " ",
			Flags: append([]cli.Flag{
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the containers run (else follow their logs until Ctrl-C, then stop them)"},
				&cli.BoolFlag{Name: "build", Usage: "build images of services with build: even when they exist"},
				&cli.StringFlag{Name: "pull", Value: "missing", EnvVars: []string{"MINIRUN_PULL"}, Usage: "missing (pull an image that is not here) or never"},
				&cli.Int64Flag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "seconds a container gets to stop"},
			}, explainFlags...),
			Action: func(c *cli.Context) error {
				timeout, err := timeoutFlag(c, "timeout")
				if err != nil {
					return err
				}
				e, p, done, err := composeProject(c, true)
				if err != nil {
					return err
				}
				defer done()
				if err := e.Up(p, compose.UpOptions{Build: c.Bool("build"), StopTimeout: timeout}); err != nil {
					return err
				}
				if c.Bool("detach") {
					return nil
				}
				sig := make(chan os.Signal, 2)
				signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
				defer signal.Stop(sig)
				return e.Attach(p, os.Stdout, os.Stderr, sig, timeout)
			},
		},
		{
			Name: "down", Usage: "stop and remove the project's containers and networks (-v: and volumes)",
			Flags: append([]cli.Flag{
				&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "also remove the named volumes of the file and the anonymous ones"},
				&cli.Int64Flag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "seconds a container gets to stop"},
			}, explainFlags...),
			Action: onProject(func(c *cli.Context, e *compose.Engine, p *compose.Project) error {
				timeout, err := timeoutFlag(c, "timeout")
				if err != nil {
					return err
				}
				return e.Down(p, compose.DownOptions{Volumes: c.Bool("volumes"), Timeout: timeout})
			}),
		},
		{
			Name: "ps", Usage: "list the project's containers",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also stopped containers"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only ids"},
			},
			Action: func(c *cli.Context) error {
				e, p, done, err := composeProject(c, false)
				if err != nil {
					return err
				}
				defer done()
				cs, err := e.ProjectContainers(p)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
				if !c.Bool("quiet") {
					fmt.Fprintln(w, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
				}
				for _, ct := range cs {
					if !c.Bool("all") && ct.State.Status != "running" && ct.State.Status != "restarting" {
						continue
					}
					if c.Bool("quiet") {
						fmt.Fprintln(w, ct.ID)
						continue
					}
					cmd := strings.Join(append([]string{ct.Path}, ct.Args...), " ")
					if len(cmd) > 20 {
						cmd = cmd[:19] + "…"
					}
					var ports []string
					for _, pm := range ct.HostConfig.Network.Ports {
						ports = append(ports, pm.String())
					}
					fmt.Fprintf(w, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", ct.Name, ct.ImageRef, cmd, ct.Config.Labels[compose.LabelService],
						ago(ct.Created), container.StatusText(ct), strings.Join(ports, ", "))
				}
				return w.Flush()
			},
		},
		{
			Name: "logs", Usage: "show the containers' output, each line after its container's name", ArgsUsage: "[SERVICE…]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
				&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show each line's time"},
				&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "only the last N lines of each"},
			},
			Action: func(c *cli.Context) error {
				e, p, done, err := composeProject(c, false)
				if err != nil {
					return err
				}
				defer done()
				o := compose.LogOptions{Follow: c.Bool("follow"), Timestamps: c.Bool("timestamps"), Tail: -1}
				if t := c.String("tail"); t != "all" {
					if o.Tail, err = strconv.Atoi(t); err != nil || o.Tail < 0 {
						return fmt.Errorf("--tail %q: want a number or all", t)
					}
				}
				return e.Logs(p, c.Args().Slice(), o, os.Stdout, os.Stderr)
			},
		},
		{
			Name: "exec", Usage: "run a command in a service's running container", ArgsUsage: "SERVICE COMMAND [ARG…]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "no-TTY", Aliases: []string{"T"}, Usage: "no pseudo-terminal (the default when stdin is not a terminal)"},
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run it in the background"},
				&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable K=V"},
				&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
				&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] or uid[:gid]"},
			},
			Action: composeExec,
		},
		{
			Name: "stop", Usage: "stop the project's containers (dependents first), keeping them", ArgsUsage: "[SERVICE…]",
			Flags: []cli.Flag{&cli.Int64Flag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "seconds before SIGKILL"}},
			Action: onProject(func(c *cli.Context, e *compose.Engine, p *compose.Project) error {
				timeout, err := timeoutFlag(c, "timeout")
				if err != nil {
					return err
				}
				return e.Stop(p, c.Args().Slice(), timeout)
			}),
		},
		{
			Name: "start", Usage: "start the project's stopped containers, in depends_on order", ArgsUsage: "[SERVICE…]",
			Action: onProject(func(c *cli.Context, e *compose.Engine, p *compose.Project) error {
				return e.Start(p, c.Args().Slice())
			}),
		},
		{
			Name: "restart", Usage: "stop, then start the project's containers", ArgsUsage: "[SERVICE…]",
			Flags: []cli.Flag{&cli.Int64Flag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "seconds before SIGKILL"}},
			Action: onProject(func(c *cli.Context, e *compose.Engine, p *compose.Project) error {
				timeout, err := timeoutFlag(c, "timeout")
				if err != nil {
					return err
				}
				return e.Restart(p, c.Args().Slice(), timeout)
			}),
		},
		{
			Name: "pull", Usage: "pull the images of services that have no build:", ArgsUsage: "[SERVICE…]",
			Action: func(c *cli.Context) error {
				e, p, done, err := composeProject(c, true)
				if err != nil {
					return err
				}
				defer done()
				if e.PullOut == nil {
					e.PullOut = os.Stderr // an explicit pull always may
				}
				return e.Pull(p, c.Args().Slice())
			},
		},
		{
			Name: "build", Usage: "build the images of services with build:", ArgsUsage: "[SERVICE…]",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "pull", Value: "missing", EnvVars: []string{"MINIRUN_PULL"}, Usage: "missing (pull a FROM image that is not here) or never"},
			}, explainFlags...),
			Action: onProject(func(c *cli.Context, e *compose.Engine, p *compose.Project) error {
				return e.Build(p, c.Args().Slice())
			}),
		},
		{
			Name: "config", Usage: "print the project as compose-go understood it (variables expanded, paths absolute)",
			Action: func(c *cli.Context) error {
				p, err := loadProject(c)
				if err != nil {
					return err
				}
				b, err := p.MarshalYAML()
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(b)
				return err
			},
		},
	},
}

// loadProject reads the Compose file the compose flags name.
func loadProject(c *cli.Context) (*compose.Project, error) {
	var files []string
	var name, dir string
	// The flags belong to `compose`, the parent of the verb.
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name == "compose" {
			files, name, dir = ctx.StringSlice("file"), ctx.String("project-name"), ctx.String("project-directory")
		}
	}
	return compose.Load(context.Background(), compose.Options{Files: files, ProjectName: name, WorkingDir: dir, Env: os.Environ()})
}

// composeProject loads the project and opens the engine; changing says
// the verb changes the host (root needed, --explain honoured).
// onProject is the action of a verb that changes the host: it loads the
// project, runs fn, and releases what loading took.
func onProject(fn func(c *cli.Context, e *compose.Engine, p *compose.Project) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		e, p, done, err := composeProject(c, true)
		if err != nil {
			return err
		}
		defer done()
		return fn(c, e, p)
	}
}

func composeProject(c *cli.Context, changing bool) (*compose.Engine, *compose.Project, func(), error) {
	done := func() {}
	if changing {
		if err := requireRoot(); err != nil {
			return nil, nil, done, err
		}
	}
	p, err := loadProject(c)
	if err != nil {
		return nil, nil, done, err
	}
	// Verbs with --explain narrate every host change of the managers.
	tr, done, err := tracerFromFlags(c)
	if err != nil {
		return nil, nil, func() {}, err
	}
	e, err := compose.Open(c.String("data-root"), c.String("root"), tr)
	if err != nil {
		done()
		return nil, nil, func() {}, err
	}
	e.Out = os.Stderr // progress goes to stderr, as Compose's does
	// --pull (up, build) falls back to MINIRUN_PULL; the other verbs read
	// the variable directly.
	pull := c.String("pull")
	if pull == "" {
		pull = os.Getenv("MINIRUN_PULL")
	}
	switch pull {
	case "", "missing":
		e.PullOut = os.Stderr
	case "never":
	default:
		done()
		return nil, nil, func() {}, fmt.Errorf("--pull %q: use missing or never", pull)
	}
	return e, p, done, nil
}

// composeExec is `compose exec SERVICE COMMAND…`: exec in the service's
// container, with a terminal when stdin is one (unless -T).
func composeExec(c *cli.Context) error {
	if c.NArg() < 2 {
		return errors.New("compose exec: expects SERVICE COMMAND [ARG…]")
	}
	e, p, done, err := composeProject(c, true)
	if err != nil {
		return err
	}
	defer done()
	meta, err := e.ServiceContainer(p, c.Args().First())
	if err != nil {
		return err
	}
	tty := !c.Bool("no-TTY") && !c.Bool("detach") && term.IsTerminal(int(os.Stdin.Fd()))
	proc := &specs.Process{Args: c.Args().Tail(), Terminal: tty, Cwd: c.String("workdir")}
	if proc.Cwd == "" {
		proc.Cwd = meta.Config.WorkingDir
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	proc.Env = append(append([]string{}, meta.Config.Env...), c.StringSlice("env")...)
	if u := c.String("user"); u != "" {
		if proc.User, err = e.Containers.ResolveUser(meta, u); err != nil {
			return err
		}
	}
	stdio := container.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if c.Bool("detach") {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		stdio = container.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull}
	}
	pr, err := e.Containers.Exec(meta.ID, proc, stdio, nil)
	if err != nil {
		return err
	}
	if c.Bool("detach") {
		return nil
	}
	var console *container.ConsoleCopier
	if pr.Console != nil {
		if console, err = container.AttachConsole(pr.Console, container.IO{Stdin: os.Stdin, Stdout: os.Stdout}); err != nil {
			return err
		}
	}
	code, err := pr.Wait()
	if console != nil {
		console.Close()
	}
	return codeErr(code, err)
}

// warningFormatter prints compose-go's log lines as "minirun compose:
// warning: …", one per line, instead of logrus's key=value format.
type warningFormatter struct{}

func (warningFormatter) Format(e *logrus.Entry) ([]byte, error) {
	return []byte("minirun compose: " + e.Level.String() + ": " + e.Message + "\n"), nil
}
