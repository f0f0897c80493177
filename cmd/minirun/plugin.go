package main

// `minirun plugin …`: Docker's managed plugins (package plugins, managed.go).

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/minirun/minirun/plugins"
	"github.com/minirun/minirun/volume"
	"github.com/urfave/cli/v2"
)

// pluginStore is the managed plugin store of the data root, its plugins
// run under the state root, their sockets in the discovery directory.
func pluginStore(c *cli.Context) (*plugins.Store, func(), error) {
	tr, done, err := tracerFromFlags(c)
	if err != nil {
		return nil, nil, err
	}
	return volume.PluginStore(c.String("data-root"), c.String("root"), tr), done, nil
}

// pluginAction wraps a subcommand that changes the host: root, the store
// and its tracer, then fn.
func pluginAction(min int, fn func(c *cli.Context, s *plugins.Store) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() < min {
			return fmt.Errorf("%s: want %s", c.Command.Name, c.Command.ArgsUsage)
		}
		if err := requireRoot(); err != nil {
			return err
		}
		s, done, err := pluginStore(c)
		if err != nil {
			return err
		}
		defer done()
		return fn(c, s)
	}
}

var pluginCommand = &cli.Command{
	Name: "plugin", Usage: "manage plugins run by minirun (Docker's managed plugins)",
	Subcommands: []*cli.Command{
		{
			Name: "create", Usage: "create a plugin from a directory holding config.json and rootfs/", ArgsUsage: "NAME DIR",
			Flags: explainFlags,
			Action: pluginAction(2, func(c *cli.Context, s *plugins.Store) error {
				p, err := s.Create(c.Args().Get(0), c.Args().Get(1))
				if err != nil {
					return err
				}
				fmt.Println(p.Name)
				return nil
			}),
		},
		{
			Name: "enable", Usage: "start a plugin", ArgsUsage: "PLUGIN", Flags: explainFlags,
			Action: pluginAction(1, func(c *cli.Context, s *plugins.Store) error {
				if err := s.Enable(c.Args().First()); err != nil {
					return err
				}
				fmt.Println(c.Args().First())
				return nil
			}),
		},
		{
			Name: "disable", Usage: "stop a plugin", ArgsUsage: "PLUGIN",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "even while volumes of its driver exist"}}, explainFlags...),
			Action: pluginAction(1, func(c *cli.Context, s *plugins.Store) error {
				if err := s.Disable(c.Args().First(), c.Bool("force")); err != nil {
					return err
				}
				fmt.Println(c.Args().First())
				return nil
			}),
		},
		{
			Name: "rm", Aliases: []string{"remove"}, Usage: "remove a plugin", ArgsUsage: "PLUGIN",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "disable an enabled plugin first"}}, explainFlags...),
			Action: pluginAction(1, func(c *cli.Context, s *plugins.Store) error {
				if err := s.Remove(c.Args().First(), c.Bool("force")); err != nil {
					return err
				}
				fmt.Println(c.Args().First())
				return nil
			}),
		},
		{
			Name: "set", Usage: "change a disabled plugin's settings", ArgsUsage: "PLUGIN KEY=VALUE [KEY=VALUE…]",
			Action: pluginAction(2, func(c *cli.Context, s *plugins.Store) error {
				return s.Set(c.Args().First(), c.Args().Tail())
			}),
		},
		{
			Name: "ls", Aliases: []string{"list"}, Usage: "list plugins",
			Action: pluginAction(0, func(c *cli.Context, s *plugins.Store) error {
				all, err := s.List()
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tDESCRIPTION\tENABLED")
				for _, p := range all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%v\n", p.ID[:12], p.Name, p.Config.Description, p.Enabled)
				}
				return w.Flush()
			}),
		},
		{
			Name: "inspect", Usage: "show plugins as JSON", ArgsUsage: "PLUGIN [PLUGIN…]",
			Action: pluginAction(1, func(c *cli.Context, s *plugins.Store) error {
				var out []any
				for _, ref := range c.Args().Slice() {
					p, err := s.Get(ref)
					if err != nil {
						return err
					}
					out = append(out, p)
				}
				b, err := json.MarshalIndent(out, "", "    ")
				if err != nil {
					return err
				}
				fmt.Println(string(b))
				return nil
			}),
		},
	},
}
