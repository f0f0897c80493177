package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/internal/prunefilter"
	"github.com/urfave/cli/v2"
)

// cpCommand is `docker cp`: files between a container (running or
// stopped) and the host, or a tar on stdin/stdout with "-". The work is
// container.Manager.CopyFrom/CopyTo, which the daemon's archive endpoints
// share.
var cpCommand = &cli.Command{
	Name: "cp", Usage: "copy files between a container and the host",
	ArgsUsage: "CONTAINER:SRC_PATH DEST_PATH|-\n   minirun cp SRC_PATH|- CONTAINER:DEST_PATH",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep owners (into a container: its user's)"},
		&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "follow a symlink source"},
	}, explainFlags...),
	Action: func(c *cli.Context) error {
		if err := requireRoot(); err != nil {
			return err
		}
		if c.NArg() != 2 {
			return fmt.Errorf("cp: want 2 arguments, SRC and DEST, one of them CONTAINER:PATH")
		}
		src, dst := c.Args().Get(0), c.Args().Get(1)
		srcCtr, srcPath, srcIn := splitCpArg(src)
		dstCtr, dstPath, dstIn := splitCpArg(dst)
		o := container.CopyOpts{Archive: c.Bool("archive"), FollowLink: c.Bool("follow-link")}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		tr, done, err := tracerFromFlags(c)
		if err != nil {
			return err
		}
		defer done()
		switch {
		case srcIn && dstIn:
			return fmt.Errorf("cp: copying between containers is not supported")
		case srcIn:
			if dst == "-" && isTerminal(os.Stdout) {
				return fmt.Errorf("cp: refusing to write a tar to a terminal; redirect stdout")
			}
			return m.CopyFrom(srcCtr, srcPath, dstPath, o, os.Stdout, tr)
		case dstIn:
			return m.CopyTo(srcPath, dstCtr, dstPath, o, os.Stdin, tr)
		}
		return fmt.Errorf("cp: one of SRC and DEST must be CONTAINER:PATH")
	},
}

// splitCpArg reads docker cp's CONTAINER:PATH. A local path with a colon
// must start with "/" or "." to be read as local (docker's rule).
func splitCpArg(arg string) (ctr, p string, inContainer bool) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg, false
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || ctr == "" {
		return "", arg, false
	}
	return ctr, p, true
}

// pruneFilterFlag is the prune commands' --filter (until=, label=, label!=).
var pruneFilterFlag = &cli.StringSliceFlag{Name: "filter", Usage: "only what matches: until=24h, label=K[=V], label!=K[=V]"}

// pruneFilter reads --filter.
func pruneFilter(c *cli.Context) (prunefilter.Filter, error) {
	args, err := prunefilter.ParseKV(c.StringSlice("filter"))
	if err != nil {
		return prunefilter.Filter{}, err
	}
	return prunefilter.Parse(args, time.Now())
}
