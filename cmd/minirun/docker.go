package main

// Docker-style commands over the container and image stores.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/urfave/cli/v2"
)

func openManager(c *cli.Context) (*container.Manager, error) {
	return openManagerAt(c, c.String("data-root"), c.String("root"))
}

// openManagerAt is openManager with the roots given: the daemon's own
// flags may name them.
func openManagerAt(c *cli.Context, dataRoot, root string) (*container.Manager, error) {
	m, err := container.Open(dataRoot, root)
	if err != nil {
		return nil, err
	}
	switch d := c.String("storage-driver"); d {
	case "overlay2", "overlay", "":
	case "vfs":
		m.StorageDriver = "vfs"
	default:
		return nil, fmt.Errorf("--storage-driver %q: use overlay2 or vfs", d)
	}
	return m, nil
}

var psCommand = &cli.Command{
	Name: "ps", Usage: "list containers (Docker view)",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also stopped containers"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only ids"},
		&cli.StringFlag{Name: "format", Usage: "Go template, e.g. '{{.Names}} {{.Status}}'"},
		&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "status=running|exited|paused|created|restarting, name=…"},
	},
	Action: func(c *cli.Context) error {
		m, err := openManager(c)
		if err != nil {
			return err
		}
		// ps is what a user runs to see what is left: a container whose
		// rm was killed half way is finished first (see Manager.Sweep).
		if err := m.Sweep(); err != nil {
			fmt.Fprintf(os.Stderr, "minirun: warning: %v\n", err)
		}
		all, err := m.List()
		if err != nil {
			return err
		}
		f := container.Filter{All: c.Bool("all")}
		for _, kv := range c.StringSlice("filter") {
			k, v, ok := strings.Cut(kv, "=")
			switch {
			case ok && k == "status":
				f.Status = append(f.Status, v)
			case ok && k == "name":
				f.Name = append(f.Name, v)
			default:
				return fmt.Errorf("--filter %q: supported are status=… and name=…", kv)
			}
		}
		var tmpl *template.Template
		if f := c.String("format"); f != "" {
			if tmpl, err = template.New("ps").Parse(f); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
		if !c.Bool("quiet") && tmpl == nil {
			fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
		}
		for _, ct := range all {
			if !f.Match(ct) {
				continue
			}
			status := container.StateName(ct)
			row := psRow{ID: ct.ID[:12], Image: ct.ImageRef, Command: strings.Join(append([]string{ct.Path}, ct.Args...), " "),
				CreatedAt: container.Ago(ct.Created), Status: container.StatusText(ct), Names: ct.Name, State: status}
			switch {
			case c.Bool("quiet"):
				fmt.Fprintln(w, row.ID)
			case tmpl != nil:
				if err := tmpl.Execute(w, row); err != nil {
					return err
				}
				fmt.Fprintln(w)
			default:
				cmd := row.Command
				if len(cmd) > 20 {
					cmd = cmd[:19] + "…"
				}
				fmt.Fprintf(w, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", row.ID, row.Image, cmd, row.CreatedAt, row.Status, row.Ports, row.Names)
			}
		}
		return w.Flush()
	},
}

// psRow holds the fields `ps --format` templates can name, as Docker's.
type psRow struct {
	ID, Image, Command, CreatedAt, Status, Ports, Names, State string
}

func ago(t time.Time) string { return container.Ago(t) }

var rmCommand = &cli.Command{
	Name: "rm", Usage: "remove containers", ArgsUsage: "CONTAINER [CONTAINER…]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"},
		&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove its anonymous volumes too"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return fmt.Errorf("rm: give at least one container")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		var failed error
		for _, ref := range c.Args().Slice() {
			if err := m.RemoveWithVolumes(ref, c.Bool("force"), c.Bool("volumes")); err != nil {
				fmt.Fprintf(os.Stderr, "minirun: %v\n", err)
				failed = exitCode(1)
				continue
			}
			fmt.Println(ref)
		}
		return failed
	},
}

var inspectCommand = &cli.Command{
	Name: "inspect", Usage: "show containers or images as JSON", ArgsUsage: "NAME|ID [NAME|ID…]",
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return fmt.Errorf("inspect: give at least one container or image")
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		var out []interface{}
		for _, ref := range c.Args().Slice() {
			if ct, err := m.Get(ref); err == nil {
				out = append(out, ct)
				continue
			}
			img, err := m.Images.Get(ref)
			if err != nil {
				return fmt.Errorf("no such object: %s", ref)
			}
			out = append(out, imageInspect(img))
		}
		b, err := json.MarshalIndent(out, "", "    ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	},
}
