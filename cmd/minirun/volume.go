package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/volume"
	"github.com/urfave/cli/v2"
)

var volumeCommand = &cli.Command{
	Name: "volume", Usage: "manage volumes (data outside every layer)",
	Subcommands: []*cli.Command{
		{
			Name: "create", Usage: "create a volume", ArgsUsage: "[NAME]",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "local"},
				&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "local driver: type=…, o=…, device=… (handed to mount); a plugin: its own options"},
				&cli.StringSliceFlag{Name: "label"},
			}, explainFlags...),
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				opts, labels := kvs(c.StringSlice("opt")), kvs(c.StringSlice("label"))
				tr, done, err := tracerFromFlags(c)
				if err != nil {
					return err
				}
				defer done()
				vs, err := volume.Open(c.String("data-root"), tr)
				if err != nil {
					return err
				}
				v, err := vs.Create(c.Args().First(), c.String("driver"), opts, labels)
				if err != nil {
					return err
				}
				fmt.Println(v.Name)
				return nil
			},
		},
		{
			Name: "ls", Usage: "list volumes", Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}}},
			Action: func(c *cli.Context) error {
				vs, err := volume.Open(c.String("data-root"), nil)
				if err != nil {
					return err
				}
				all, err := vs.List()
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
				if !c.Bool("quiet") {
					fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
				}
				for _, v := range all {
					if c.Bool("quiet") {
						fmt.Fprintln(w, v.Name)
					} else {
						fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
					}
				}
				return w.Flush()
			},
		},
		{
			Name: "inspect", Usage: "show volumes as JSON", ArgsUsage: "NAME [NAME…]",
			Action: func(c *cli.Context) error {
				vs, err := volume.Open(c.String("data-root"), nil)
				if err != nil {
					return err
				}
				// A plugin's volume shows what the plugin says of it
				// (/VolumeDriver.Get): its Mountpoint and Status.
				type shown struct {
					*volume.Volume
					Status map[string]interface{} `json:"Status,omitempty"`
				}
				var out []shown
				for _, n := range c.Args().Slice() {
					v, st, err := vs.Inspect(n)
					if err != nil {
						return err
					}
					out = append(out, shown{v, st})
				}
				b, _ := json.MarshalIndent(out, "", "    ")
				fmt.Println(string(b))
				return nil
			},
		},
		{
			Name: "rm", Usage: "remove volumes no container uses", ArgsUsage: "NAME [NAME…]",
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				m, err := openManager(c)
				if err != nil {
					return err
				}
				vs, err := volume.Open(c.String("data-root"), nil)
				if err != nil {
					return err
				}
				for _, n := range c.Args().Slice() {
					if err := vs.Remove(n, m.VolumeUsers); err != nil {
						return err
					}
					fmt.Println(n)
				}
				return nil
			},
		},
		{
			Name: "prune", Usage: "remove unused anonymous volumes (--all: named ones too)",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}}, &cli.BoolFlag{Name: "force", Aliases: []string{"f"}}, pruneFilterFlag},
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				m, err := openManager(c)
				if err != nil {
					return err
				}
				vs, err := volume.Open(c.String("data-root"), nil)
				if err != nil {
					return err
				}
				f, err := pruneFilter(c)
				if err != nil {
					return err
				}
				gone, _, err := vs.Prune(c.Bool("all") || f.All, m.VolumeUsers, f)
				if len(gone) > 0 {
					fmt.Println("Deleted Volumes:\n" + strings.Join(gone, "\n"))
				}
				return err
			},
		},
	},
}

func kvs(l []string) map[string]string {
	if len(l) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, kv := range l {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}
