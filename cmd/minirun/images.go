package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/image"
	"github.com/urfave/cli/v2"
)

var imagesCommand = &cli.Command{
	Name: "images", Usage: "list images",
	Flags:  []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}}},
	Action: listImages,
}

var imageCommand = &cli.Command{
	Name: "image", Usage: "manage images",
	Subcommands: []*cli.Command{
		{Name: "ls", Usage: "list images", Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}}}, Action: listImages},
		{
			Name: "import", Usage: "create an image from a rootfs tar (- for stdin), like docker import",
			ArgsUsage: "FILE|- NAME[:TAG]",
			Flags: append([]cli.Flag{
				&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: `set CMD, ENTRYPOINT, ENV, WORKDIR or USER, e.g. 'CMD ["sh"]'`},
			}, explainFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return fmt.Errorf("image import: expects FILE|- NAME[:TAG]")
				}
				if err := requireRoot(); err != nil {
					return err
				}
				cfg, err := image.ParseChanges(c.StringSlice("change"))
				if err != nil {
					return err
				}
				var r io.Reader = os.Stdin
				if f := c.Args().Get(0); f != "-" {
					fh, err := os.Open(f)
					if err != nil {
						return err
					}
					defer fh.Close()
					r = fh
				}
				st, err := image.Open(c.String("data-root"))
				if err != nil {
					return err
				}
				tr, done, err := tracerFromFlags(c)
				if err != nil {
					return err
				}
				defer done()
				img, err := st.Import(r, c.Args().Get(1), cfg, tr)
				if err != nil {
					return err
				}
				fmt.Println(img.ID)
				return nil
			},
		},
		{
			Name: "rm", Usage: "remove images (docker rmi)", ArgsUsage: "IMAGE [IMAGE…]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "untag an image a container uses, or one with names in several repositories"},
				&cli.BoolFlag{Name: "no-prune", Usage: "keep the untagged parents (a build's steps)"},
			},
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				m, err := openManager(c)
				if err != nil {
					return err
				}
				// The rules are dockerd's, in image.Store.Delete: the
				// daemon's DELETE /images/{name} calls it too.
				o := image.DeleteOptions{Force: c.Bool("force"), NoPrune: c.Bool("no-prune"), User: m.ImageUser}
				for _, ref := range c.Args().Slice() {
					rm, err := m.Images.Delete(ref, o)
					if err != nil {
						return err
					}
					for _, u := range rm.Untagged {
						fmt.Println("Untagged: " + u)
					}
					for _, d := range rm.Deleted {
						fmt.Println("Deleted: " + d)
					}
				}
				return nil
			},
		},
		{
			Name: "inspect", Usage: "show an image as JSON", ArgsUsage: "IMAGE",
			Action: inspectCommand.Action,
		},
		imagePruneCommand,
		{Name: "history", Usage: historyCommand.Usage, ArgsUsage: historyCommand.ArgsUsage, Flags: historyCommand.Flags, Action: historyCommand.Action},
		{Name: "pull", Usage: pullCommand.Usage, ArgsUsage: pullCommand.ArgsUsage, Flags: pullCommand.Flags, Action: pullCommand.Action},
		{Name: "load", Usage: loadCommand.Usage, Flags: loadCommand.Flags, Action: loadCommand.Action},
		{Name: "save", Usage: saveCommand.Usage, ArgsUsage: saveCommand.ArgsUsage, Flags: saveCommand.Flags, Action: saveCommand.Action},
		{Name: "tag", Usage: tagCommand.Usage, ArgsUsage: tagCommand.ArgsUsage, Action: tagCommand.Action},
		{Name: "build", Usage: buildCommand.Usage, ArgsUsage: buildCommand.ArgsUsage, Flags: buildCommand.Flags, Action: buildCommand.Action},
	},
}

func listImages(c *cli.Context) error {
	st, err := image.Open(c.String("data-root"))
	if err != nil {
		return err
	}
	imgs, err := st.List()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	if !c.Bool("quiet") {
		fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, img := range imgs {
		short := strings.TrimPrefix(img.ID, "sha256:")[:12]
		if c.Bool("quiet") {
			fmt.Fprintln(w, short)
			continue
		}
		names := img.Names
		if len(names) == 0 {
			names = []string{"<none>:<none>"}
		}
		for _, n := range names {
			repo, tag := n, "latest"
			if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
				repo, tag = n[:i], n[i+1:]
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", repo, tag, short, ago(img.Created), humanSize(img.Size))
		}
	}
	return w.Flush()
}

func humanSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.3gkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

// imageInspect is `docker image inspect`'s shape, reduced to what minirun has.
func imageInspect(img *image.Image) map[string]interface{} {
	return map[string]interface{}{
		"Id":           img.ID,
		"RepoTags":     img.Names,
		"Created":      img.Created,
		"Size":         img.Size,
		"Architecture": img.Config.Architecture,
		"Os":           img.Config.OS,
		"Config":       img.Config.Config,
		"RootFS":       img.Config.RootFS,
		"History":      img.Config.History,
	}
}
