package main

// `minirun lab list` and `minirun lab check NAME`: the course's guided
// exercises (docs/labs/) and the checker that tells a student whether a
// lab's expected state has been reached.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/lab"
	"github.com/urfave/cli/v2"
)

var labCommand = &cli.Command{
	Name:  "lab",
	Usage: "the course's labs: list them, check your work (docs/labs/)",
	Subcommands: []*cli.Command{
		{
			Name: "list", Aliases: []string{"ls"}, Usage: "list the labs and their guides",
			Flags: []cli.Flag{&cli.StringFlag{Name: "lang", Usage: "pt, en or pt+en (default from LANG, else pt)"}},
			Action: func(c *cli.Context) error {
				lang := explain.LangFromEnv(c.String("lang"))
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(w, "LAB\t"+explain.Text{PT: "ASSUNTO", EN: "TOPIC"}.In(lang)+"\t"+explain.Text{PT: "ROTEIRO", EN: "GUIDE"}.In(lang))
				for _, l := range lab.All() {
					fmt.Fprintf(w, "%s\t%s\t%s\n", l.Name, l.Title.In(lang), l.Page())
				}
				return w.Flush()
			},
		},
		{
			Name: "check", Usage: "check that a lab's expected state is reached (exit 0), or say what is missing (exit 1)",
			ArgsUsage: "LAB",
			Flags:     []cli.Flag{langFlag()},
			Action: func(c *cli.Context) error {
				// urfave/cli stops at the first argument, so a student's
				// `lab check network --lang en` leaves --lang among the
				// arguments: read it here.
				args := c.Args().Slice()
				trailing := flag.NewFlagSet("lab check", flag.ContinueOnError)
				trailing.SetOutput(io.Discard)
				langArg := trailing.String("lang", c.String("lang"), "")
				if len(args) > 0 {
					if err := trailing.Parse(args[1:]); err != nil {
						return fmt.Errorf("lab check %s: %w", args[0], err)
					}
				}
				if len(args) == 0 || trailing.NArg() != 0 {
					return fmt.Errorf("usage: minirun lab check LAB [--lang pt|en|pt+en] (minirun lab list shows them)")
				}
				l, err := lab.Lookup(args[0])
				if err != nil {
					return err
				}
				// The checks read other processes' /proc entries and
				// join their namespaces: root only, like the labs.
				if err := requireRoot(); err != nil {
					return err
				}
				env, err := lab.Open(c.String("data-root"), c.String("root"))
				if err != nil {
					return err
				}
				r := l.Run(env)
				r.Print(os.Stdout, labLang(*langArg))
				if !r.Passed() {
					return exitCode(1)
				}
				return nil
			},
		},
	},
}

func langFlag() cli.Flag {
	return &cli.StringFlag{Name: "lang", Usage: "pt, en or pt+en (default: pt+en, for a class with both)"}
}

// labLang is --lang, or both languages: a hint is read by whoever is stuck.
func labLang(flag string) explain.Lang {
	if flag == "" {
		return explain.Both
	}
	return explain.ParseLang(flag)
}
