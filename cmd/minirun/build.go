package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/image/build"
	"github.com/urfave/cli/v2"
)

// buildRunner gives `build` the container runner for RUN instructions.
// The container manager provides it; while it is nil, a Dockerfile with
// RUN fails with a clear error and the other instructions still work.
var buildRunner func(c *cli.Context) (build.Runner, error)

var buildCommand = &cli.Command{
	Name: "build", Usage: "build an image from a Dockerfile", ArgsUsage: "CONTEXT",
	Flags: append([]cli.Flag{
		&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name the image NAME[:TAG] (repeatable)"},
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Dockerfile (default CONTEXT/Dockerfile)"},
		&cli.StringSliceFlag{Name: "build-arg", Usage: "set an ARG: K=V (or K, taken from the environment)"},
		&cli.BoolFlag{Name: "no-cache", Usage: "run every step again"},
		&cli.StringSliceFlag{Name: "label", Usage: "set a label on the image: K=V (repeatable)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
		// The same policy as run's: with never, a FROM image that is not
		// here fails before any network traffic.
		&cli.StringFlag{Name: "pull", Value: "missing", EnvVars: []string{"MINIRUN_PULL"}, Usage: "missing (pull a FROM image that is not here) or never"},
	}, explainFlags...),
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("build: expects one CONTEXT directory")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		args := map[string]string{}
		for _, kv := range c.StringSlice("build-arg") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				// Docker's "--build-arg K": the value of K in minirun's
				// environment, if it has one.
				if v, ok = os.LookupEnv(k); !ok {
					continue
				}
			}
			args[k] = v
		}
		labels := map[string]string{}
		for _, kv := range c.StringSlice("label") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
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
		var out io.Writer = os.Stdout
		if c.Bool("quiet") {
			out = io.Discard
		}
		var runner build.Runner
		if buildRunner != nil {
			if runner, err = buildRunner(c); err != nil {
				return err
			}
		}
		o := build.Options{
			ContextDir: c.Args().First(), Dockerfile: c.String("file"),
			Tags: c.StringSlice("tag"), BuildArgs: args, NoCache: c.Bool("no-cache"), Labels: labels,
			Out: out, Runner: runner, Tracer: tr,
		}
		switch c.String("pull") {
		case "missing":
			o.Pull = func(ref string) (*image.Image, error) {
				return st.Pull(ref, image.PullOptions{Progress: out, Tracer: tr})
			}
		case "never": // o.Pull stays nil: build fails on a missing FROM image
		default:
			return fmt.Errorf("--pull %q: use missing or never", c.String("pull"))
		}
		img, err := build.Build(st, o)
		if err != nil {
			return err
		}
		if c.Bool("quiet") {
			fmt.Println(img.ID)
		}
		return nil
	},
}
