package main

// Docker-style commands over the container and image stores.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/urfave/cli/v2"
)

func openManager(c *cli.Context) (*container.Manager, error) {
	return container.Open(c.String("data-root"), c.String("root"))
}

var psCommand = &cli.Command{
	Name: "ps", Usage: "list containers (Docker view)",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also stopped containers"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only ids"},
	},
	Action: func(c *cli.Context) error {
		m, err := openManager(c)
		if err != nil {
			return err
		}
		all, err := m.List()
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
		if !c.Bool("quiet") {
			fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
		}
		for _, ct := range all {
			if !c.Bool("all") && ct.State.Status != "running" {
				continue
			}
			if c.Bool("quiet") {
				fmt.Fprintln(w, ct.ID[:12])
				continue
			}
			cmd := strings.Join(append([]string{ct.Path}, ct.Args...), " ")
			if len(cmd) > 20 {
				cmd = cmd[:19] + "…"
			}
			fmt.Fprintf(w, "%s\t%s\t%q\t%s\t%s\t\t%s\n", ct.ID[:12], ct.ImageRef, cmd, ago(ct.Created), statusText(ct), ct.Name)
		}
		return w.Flush()
	},
}

// statusText is Docker's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago".
func statusText(m *container.Meta) string {
	switch m.State.Status {
	case "running":
		return "Up " + human(time.Since(m.State.StartedAt))
	case "exited":
		return fmt.Sprintf("Exited (%d) %s", m.State.ExitCode, ago(m.State.FinishedAt))
	}
	return "Created"
}

func ago(t time.Time) string { return human(time.Since(t)) + " ago" }

func human(d time.Duration) string {
	switch {
	case d < 2*time.Second:
		return "Less than a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < 2*time.Minute:
		return "About a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

var rmCommand = &cli.Command{
	Name: "rm", Usage: "remove containers", ArgsUsage: "CONTAINER [CONTAINER…]",
	Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"}},
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
			if err := m.Remove(ref, c.Bool("force")); err != nil {
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
