// Command minirun is a container runtime written to teach how Docker works
// inside. This file only wires the commands; each verb lives in its own file
// and calls the packages that do the work.
package main

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/minirun/minirun/image/build"
	"github.com/minirun/minirun/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

// When re-executed as a container's init, minirun must stay on one OS
// thread: namespaces, credentials and capabilities set on a thread are what
// execve hands to the user's program (see runtime.Init).
//
// In every other role the main goroutine is locked to the main thread too,
// so that no other goroutine ever runs there: the goroutines that move
// their thread into another namespace (runtime's onJoinedThread, the
// CVE-2019-5736 private mount namespace) lock a thread and never unlock
// it, so Go throws that thread away at their end — but it cannot throw
// away the main thread, which would stay in the private namespace, and
// /proc/self (the main thread's view) would show that namespace's mounts
// to the rest of the process.
//
// The init's GOMAXPROCS=1 comes from its environment (runtime.initCmd);
// the call below only matters for an init started some other way, and is
// free when the value is already 1.
func init() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		goruntime.GOMAXPROCS(1)
	}
	goruntime.LockOSThread()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		runtime.Init() // never returns
	}
	app := newApp()
	args, err := prepareArgs(app, os.Args)
	if err == nil {
		err = app.Run(args)
	}
	if err != nil {
		var ee *runtime.ExitError
		var ce exitCode
		switch {
		case errors.As(err, &ce):
			os.Exit(int(ce))
		case errors.As(err, &ee):
			fmt.Fprintf(os.Stderr, "minirun: %v\n", err)
			os.Exit(ee.Code)
		default:
			fmt.Fprintf(os.Stderr, "minirun: %v\n", oneLine(err))
			os.Exit(1)
		}
	}
}

// prepareArgs rewrites the command line into what urfave/cli parses:
// Docker's combined short flags split (-it), flags moved before the
// arguments for commands whose arguments are plain names, --explain=FORMAT
// made a bool. Which flags take a value is read from the app itself.
func prepareArgs(app *cli.App, args []string) ([]string, error) {
	flags := newFlagTable(app)
	return normalizeExplain(flagsFirst(flags, expandShortFlags(flags, normalizeWeb(args))))
}

// version is minirun's release; the OCI spec version it implements is
// printed next to it.
const version = "0.1.0"

// exitCode makes minirun exit with a code without printing anything: the
// container's own exit code after `run`.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func init() {
	// RUN instructions of `build` run in real containers of the manager.
	buildRunner = func(c *cli.Context) (build.Runner, error) {
		m, err := openManager(c)
		if err != nil {
			return nil, err
		}
		return m.BuildRunner(), nil
	}
}

// helpFlag is --help only: Docker's run uses -h for --hostname. One value,
// so that a second newApp (the tests build one per case) finds it already
// among the commands' flags (urfave/cli compares flags by pointer) instead
// of adding a second --help.
var helpFlag = &cli.BoolFlag{Name: "help", Usage: "show help"}

func newApp() *cli.App {
	cli.HelpFlag = helpFlag
	return &cli.App{
		Name:    "minirun",
		Version: version + " (OCI runtime spec " + specs.Version + ")",
		Usage:   "um runtime de contêineres para aprender como o Docker funciona / a container runtime to learn how Docker works",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: runtime.DefaultRoot, EnvVars: []string{"MINIRUN_ROOT"}, Usage: "state directory of running containers (like runc's --root)"},
			&cli.StringFlag{Name: "data-root", Value: "/var/lib/minirun", EnvVars: []string{"MINIRUN_DATA_ROOT"}, Usage: "where images and containers' layers are stored"},
			&cli.StringFlag{Name: "storage-driver", Value: "overlay2", EnvVars: []string{"MINIRUN_STORAGE_DRIVER"}, Usage: "overlay2 (layers shared by a union mount) or vfs (a full copy per container)"},
			&cli.BoolFlag{Name: "debug", Usage: "print debug information"},
			&cli.StringFlag{Name: "log", Usage: "accepted for runc compatibility; minirun logs to stderr"},
			&cli.StringFlag{Name: "log-format", Usage: "accepted for runc compatibility"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "accepted for runc compatibility; minirun manages cgroupfs itself"},
		},
		Commands: []*cli.Command{
			createCommand, startCommand, stateCommand, killCommand, deleteCommand,
			runCommand, specCommand, listCommand, execInitCommand,
			explainCommand,
			psCommand, rmCommand, imagesCommand, imageCommand, inspectCommand,
			updateCommand, statsCommand, pauseCommand, resumeCommand,
			shimCommand, attachCommand, logsCommand, stopCommand, restartCommand, waitCommand,
			renameCommand, containerCommand, topCommand, execCommand,
			networkCommand, portCommand, volumeCommand, exportCommand, cpCommand, composeCommand, labCommand, infoCommand, pullCommand, loadCommand, saveCommand, tagCommand, buildCommand, historyCommand,
			daemonCommand, pluginCommand,
		},
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		ExitErrHandler:       func(*cli.Context, error) {},
		// NOTE: urfave/cli splits every list flag's value on commas by
		// default, so `-e X=a,b` gave X=a and a second "b", `--mount
		// type=tmpfs,target=/t` became two mounts, and `-v /p/with,comma:/c`
		// a volume named "comma". Docker's list flags take one value per
		// use (they repeat: -e A=1 -e B=2), and the commas belong to the
		// value (--mount's CSV, --tmpfs's mount options). The App passes
		// this to every command and subcommand (urfave/cli v2 app.go Setup,
		// command.go setup).
		DisableSliceFlagSeparator: true,
	}
}

// oneLine keeps an error on one line: joined errors are separated by "; ".
func oneLine(err error) string {
	s := err.Error()
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

// requireRoot is the first check of every command that changes the host.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("this command needs root (try sudo)")
	}
	return nil
}
