package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// exportCommand is `docker export`: a container's filesystem as a tar,
// which `minirun image import` turns back into a one-layer image.
var exportCommand = &cli.Command{
	Name: "export", Usage: "write a container's filesystem as a tar", ArgsUsage: "CONTAINER",
	Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file instead of stdout"}},
	Action: func(c *cli.Context) error {
		if err := requireRoot(); err != nil {
			return err
		}
		m, meta, err := oneContainer(c)
		if err != nil {
			return err
		}
		var w io.Writer = os.Stdout
		if f := c.String("output"); f != "" {
			fh, err := os.Create(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			w = fh
		} else if isTerminal(os.Stdout) {
			return fmt.Errorf("export: refusing to write a tar to a terminal; use -o FILE or a redirect")
		}
		return m.Export(meta.ID, w)
	},
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
