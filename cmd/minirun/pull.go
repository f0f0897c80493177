package main

// Image transfer and naming: pull, load, save, tag, image prune.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/minirun/minirun/image"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

var pullCommand = &cli.Command{
	Name: "pull", Usage: "download an image from a registry (Docker Hub by default)",
	ArgsUsage: "NAME[:TAG|@DIGEST]",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "os/arch to pick from a multi-platform image (default linux/<this machine>)"},
		&cli.BoolFlag{Name: "insecure", Usage: "plain HTTP or an unverified certificate (loopback registries need no flag)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the reference"},
	}, explainFlags...),
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("pull: expects one NAME[:TAG|@DIGEST]")
		}
		if err := requireRoot(); err != nil {
			return err
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
		var progress io.Writer = os.Stdout
		if c.Bool("quiet") {
			progress = nil
		}
		ref := c.Args().First()
		img, err := st.Pull(ref, image.PullOptions{
			Insecure: c.Bool("insecure"), Platform: c.String("platform"), Progress: progress, Tracer: tr,
		})
		if err != nil || img == nil {
			return err
		}
		fmt.Println(ref)
		return nil
	},
}

var loadCommand = &cli.Command{
	Name: "load", Usage: "load images from a docker save tar or an OCI layout (tar or directory)",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Value: "-", Usage: "read from FILE or DIR instead of stdin"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() != 0 {
			return fmt.Errorf("load: takes no arguments; use -i FILE")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		in := c.String("input")
		if in == "-" && term.IsTerminal(int(os.Stdin.Fd())) {
			return fmt.Errorf("load: requested load from stdin, but stdin is empty (a terminal): use -i FILE")
		}
		st, err := image.Open(c.String("data-root"))
		if err != nil {
			return err
		}
		var progress io.Writer = os.Stdout
		if c.Bool("quiet") {
			progress = nil
		}
		_, err = st.Load(in, image.LoadOptions{Progress: progress})
		return err
	},
}

var saveCommand = &cli.Command{
	Name: "save", Usage: "write images to a tar (OCI layout + docker manifest.json)",
	ArgsUsage: "IMAGE [IMAGE…]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to FILE instead of stdout"},
	},
	Action: func(c *cli.Context) (retErr error) {
		if c.NArg() == 0 {
			return fmt.Errorf("save: give at least one image")
		}
		st, err := image.Open(c.String("data-root"))
		if err != nil {
			return err
		}
		out := c.String("output")
		if out == "" {
			if term.IsTerminal(int(os.Stdout.Fd())) {
				return fmt.Errorf("cowardly refusing to save to a terminal: use the -o flag or redirect")
			}
			w := bufio.NewWriterSize(os.Stdout, 1<<20)
			if err := st.Save(w, c.Args().Slice()); err != nil {
				return err
			}
			return w.Flush()
		}
		// A temporary file renamed at the end: a failed save leaves no
		// half-written archive under the asked name.
		tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		defer func() {
			if retErr != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w := bufio.NewWriterSize(tmp, 1<<20)
		if err := st.Save(w, c.Args().Slice()); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		if err := tmp.Chmod(0o644); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		return os.Rename(tmp.Name(), out)
	},
}

var tagCommand = &cli.Command{
	Name: "tag", Usage: "give an image another name", ArgsUsage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
	Action: func(c *cli.Context) error {
		if c.NArg() != 2 {
			return fmt.Errorf("tag: expects SOURCE TARGET")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		st, err := image.Open(c.String("data-root"))
		if err != nil {
			return err
		}
		return st.Tag(c.Args().Get(0), c.Args().Get(1))
	},
}

var imagePruneCommand = &cli.Command{
	Name: "prune", Usage: "remove dangling images (-a: every image no container uses)",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused images, not just dangling ones"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
	},
	Action: func(c *cli.Context) error {
		if err := requireRoot(); err != nil {
			return err
		}
		if !c.Bool("force") {
			what := "all dangling images"
			if c.Bool("all") {
				what = "all images without at least one container associated to them"
			}
			fmt.Printf("WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", what)
			line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				return nil
			}
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		rm, freed, err := m.Images.Prune(c.Bool("all"), m.InUse)
		if rm != nil && (len(rm.Untagged) > 0 || len(rm.Deleted) > 0) {
			fmt.Println("Deleted Images:")
			for _, u := range rm.Untagged {
				fmt.Println("untagged: " + u)
			}
			for _, d := range rm.Deleted {
				fmt.Println("deleted: " + d)
			}
			fmt.Println()
		}
		if err != nil && !errors.Is(err, image.ErrInUse) {
			return err
		}
		fmt.Printf("Total reclaimed space: %s\n", humanSize(freed))
		return nil
	},
}
