package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/image"
	"github.com/urfave/cli/v2"
)

var historyCommand = &cli.Command{
	Name: "history", Usage: "show the steps that made an image", ArgsUsage: "IMAGE",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "no-trunc", Usage: "do not shorten the output"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only image IDs"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("history: expects one IMAGE")
		}
		st, err := image.Open(c.String("data-root"))
		if err != nil {
			return err
		}
		hist, err := st.History(c.Args().First())
		if err != nil {
			return err
		}
		noTrunc := c.Bool("no-trunc")
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
		if !c.Bool("quiet") {
			fmt.Fprintln(w, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
		}
		for _, h := range hist {
			id := "<missing>"
			if h.ID != "" {
				id = h.ID
				if !noTrunc {
					id = strings.TrimPrefix(id, "sha256:")[:12]
				}
			}
			if c.Bool("quiet") {
				fmt.Fprintln(w, id)
				continue
			}
			by := strings.Join(strings.Fields(h.CreatedBy), " ")
			if strings.Contains(h.CreatedBy, "#(nop)  ") {
				by = strings.Replace(by, "#(nop) ", "#(nop)  ", 1) // Docker's two spaces
			}
			if !noTrunc && len([]rune(by)) > 45 {
				by = string([]rune(by)[:44]) + "…"
			}
			created := "N/A"
			if !h.Created.IsZero() {
				created = ago(h.Created)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, created, by, humanSize(h.Size), h.Comment)
		}
		return w.Flush()
	},
}
