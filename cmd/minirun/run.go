package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	"github.com/urfave/cli/v2"
)

// runCommand serves two masters, as the issue asks: `minirun run --bundle
// DIR ID` is runc's run (create + start on an OCI bundle), and `minirun run
// [flags] IMAGE [CMD…]` is Docker's. The OCI form is chosen by --bundle, or
// by a single argument when ./config.json exists and no image has that name.
var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "run a container: IMAGE [CMD…] (Docker) or --bundle DIR ID (OCI)",
	ArgsUsage: "IMAGE [COMMAND] [ARG…] | --bundle DIR ID",
	Flags: append([]cli.Flag{
		bundleFlag, pidFileFlag, consoleSocketFlag,
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the container started; a shim looks after it"},
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "no, on-failure[:N], always or unless-stopped"},
		&cli.StringFlag{Name: "pull", Value: "missing", EnvVars: []string{"MINIRUN_PULL"}, Usage: "missing (pull an image that is not here) or never"},
		&cli.StringFlag{Name: "name", Usage: "name of the container"},
		&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable K=V"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "container hostname"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] or uid[:gid]"},
		&cli.StringFlag{Name: "entrypoint", Usage: "override the image's ENTRYPOINT"},
		deviceFlag, deviceCgroupRuleFlag,
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability (or ALL)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability (or ALL)"},
		&cli.BoolFlag{Name: "privileged", Usage: "every capability and device, no seccomp: what Docker's --privileged does"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "no-new-privileges[:false], seccomp=unconfined|FILE.json, apparmor=P, label=…"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root filesystem read-only"},
		&cli.StringSliceFlag{Name: "group-add", Usage: "an extra group for the process"},
		&cli.StringFlag{Name: "userns-remap", EnvVars: []string{"MINIRUN_USERNS_REMAP"}, Usage: "USER: map the container's root to USER's range in /etc/subuid and /etc/subgid"},
		&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Value: "bridge", Usage: "bridge, host, none or a network made with network create"},
		&cli.StringFlag{Name: "ip", Usage: "the container's address on its network"},
		&cli.StringSliceFlag{Name: "network-alias", Aliases: []string{"net-alias"}, Usage: "another DNS name for it on a user network"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]"},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every exposed port on a free host port"},
		&cli.StringSliceFlag{Name: "expose", Usage: "expose a port (for -P)"},
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label K=V"},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "HOSTPATH:PATH[:ro] (bind), NAME:PATH[:ro] (named volume) or PATH (anonymous)"},
		&cli.StringSliceFlag{Name: "mount", Usage: "type=bind|volume|tmpfs,source=…,target=…[,readonly]"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "PATH[:OPTIONS]: a tmpfs at PATH"},
		&cli.StringFlag{Name: "volume-driver", Usage: "driver of the volumes this run creates: local or a volume plugin's name"},
		&cli.StringSliceFlag{Name: "volumes-from", Usage: "CONTAINER[:ro]: its volumes and binds too"},
	}, append(append([]cli.Flag{}, resourceFlags...), explainFlags...)...),
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return fmt.Errorf("run: give an IMAGE (Docker form) or --bundle DIR ID (OCI form)")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		tr, done, err := tracerFromFlags(c)
		if err != nil {
			return err
		}
		defer done()
		if ociRun(c) {
			return runBundle(c, tr)
		}
		m, err := openManager(c)
		if err != nil {
			return err
		}
		o := container.RunOpts{
			Name: c.String("name"), Image: c.Args().First(), Cmd: c.Args().Tail(),
			Env: c.StringSlice("env"), Workdir: c.String("workdir"), Hostname: c.String("hostname"),
			User: c.String("user"), TTY: c.Bool("tty"), Interactive: c.Bool("interactive"), Remove: c.Bool("rm"),
		}
		o.Security = container.SecurityOpts{CapAdd: c.StringSlice("cap-add"), CapDrop: c.StringSlice("cap-drop"),
			Privileged: c.Bool("privileged"), SecurityOpt: c.StringSlice("security-opt"), ReadOnly: c.Bool("read-only"), GroupAdd: c.StringSlice("group-add")}
		o.UsernsRemap = c.String("userns-remap")
		o.Net = container.NetworkOpts{Network: c.String("network"), IP: c.String("ip"), Aliases: c.StringSlice("network-alias")}
		for _, p := range c.StringSlice("publish") {
			ports, err := network.ParsePublish(p)
			if err != nil {
				return err
			}
			o.Net.Ports = append(o.Net.Ports, ports...)
		}
		o.PublishAll, o.Expose = c.Bool("publish-all"), c.StringSlice("expose")
		o.Volumes, o.Mounts, o.Tmpfs, o.VolumesFrom = c.StringSlice("volume"), c.StringSlice("mount"), c.StringSlice("tmpfs"), c.StringSlice("volumes-from")
		o.VolumeDriver = c.String("volume-driver")
		for _, l := range c.StringSlice("label") {
			k, v, _ := strings.Cut(l, "=")
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			o.Labels[k] = v
		}
		switch c.String("pull") {
		case "missing":
			o.Pull = os.Stderr
		case "never":
		default:
			return fmt.Errorf("--pull %q: use missing or never", c.String("pull"))
		}
		if o.Resources, o.Devices, err = resourcesFromFlags(c); err != nil {
			return err
		}
		if c.IsSet("entrypoint") {
			e := c.String("entrypoint")
			o.Entrypoint = &e
		}
		if o.Restart, err = shim.ParseRestart(c.String("restart")); err != nil {
			return err
		}
		if o.Remove && o.Restart.Name != "no" {
			return fmt.Errorf("--rm and --restart %s cannot be used together", o.Restart.Name)
		}
		if c.Bool("detach") {
			meta, err := m.RunDetached(o, false, tr)
			if err != nil {
				return err
			}
			fmt.Println(meta.ID)
			return nil
		}
		if tr == nil {
			// Attached, the way Docker does it: a shim runs the container
			// and this command attaches to it before it starts.
			meta, err := m.RunDetached(o, true, nil)
			if err != nil {
				return err
			}
			code, err := attachTo(m, meta, true)
			if err == nil && o.Remove {
				// As docker run --rm: return once the container is
				// gone, files and all, not when its name is.
				if rerr := m.WaitRemoved(meta.ID, 10*time.Second); rerr != nil {
					fmt.Fprintln(os.Stderr, "minirun: "+rerr.Error())
				}
			}
			return codeErr(code, err)
		}
		// Narrated (--explain): in this process, so every step is shown.
		stdio := container.IO{Stdout: os.Stdout, Stderr: os.Stderr}
		if o.Interactive || o.TTY {
			stdio.Stdin = os.Stdin
		} else {
			devnull, err := os.Open(os.DevNull)
			if err != nil {
				return err
			}
			defer devnull.Close()
			stdio.Stdin = devnull
		}
		code, err := m.Run(o, stdio, tr)
		if err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	},
}

func ociRun(c *cli.Context) bool {
	if c.IsSet("bundle") {
		return true
	}
	if c.NArg() != 1 {
		return false
	}
	if _, err := os.Stat("config.json"); err != nil {
		return false
	}
	m, err := openManager(c)
	if err != nil {
		return true
	}
	_, err = m.Images.Get(c.Args().First())
	return err != nil
}

// runBundle is runc's run: create, start, and unless detached wait for the
// container, delete it and exit with its code.
func runBundle(c *cli.Context, tr *explain.Tracer) error {
	if c.NArg() != 1 {
		return fmt.Errorf("run --bundle: expects exactly one container id")
	}
	id := c.Args().First()
	ctr, err := runtime.Create(runtime.CreateOpts{
		Root: c.String("root"), ID: id, Bundle: c.String("bundle"),
		PidFile: c.String("pid-file"), ConsoleSocket: c.String("console-socket"), Tracer: tr,
	})
	if err != nil {
		return err
	}
	var console *container.ConsoleCopier
	if ctr.Console != nil {
		if console, err = container.AttachConsole(ctr.Console, container.IO{}); err != nil {
			return err
		}
	}
	if err := ctr.Start(tr); err != nil {
		return err
	}
	if c.Bool("detach") {
		return nil
	}
	code, err := ctr.Wait()
	if console != nil {
		console.Close()
	}
	if err != nil {
		return err
	}
	if err := ctr.Delete(true, nil); err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// expandShortFlags turns Docker's combined short flags (-it, -dit, ps -aq,
// rm -fv) into separate ones before the CLI parses them: Go's flag
// package, under urfave/cli, knows only one flag per dash. For run and
// exec it stops at the image (or container): what follows belongs to the
// container's command.
func expandShortFlags(flags flagTable, args []string) []string {
	out := make([]string, 0, len(args)+2)
	cmd, done, skipValue := "", false, false
	for _, a := range args {
		letters := shortBools[cmd]
		switch {
		case done:
		case skipValue:
			skipValue = false
		case len(out) == 0: // the program's name
		case cmd == "":
			if _, ok := shortBools[a]; ok {
				cmd = a
			} else if strings.HasPrefix(a, "-") {
				skipValue = flags.takesValue("", a)
			} else {
				done = true // some other command: leave its arguments alone
			}
		case a == "--" || (!strings.HasPrefix(a, "-") && (cmd == "run" || cmd == "exec")):
			done = true // the image (or container): the rest is the command's
		case len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.Trim(a[1:], letters) == "":
			for _, c := range a[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		case flags.takesValue(cmd, a) && !(len(a) == 2 && strings.ContainsRune(letters, rune(a[1]))):
			skipValue = true
		}
		out = append(out, a)
	}
	return out
}

// shortBools are, per command, the one-letter boolean flags that may be
// combined after one dash.
var shortBools = map[string]string{
	"run": "itdP", "exec": "itd", "ps": "aq", "rm": "fv", "logs": "ft", "start": "ai",
	"images": "aq", "create": "it",
}

// flagTable knows, for each command ("" for the global flags), which of
// its flags take a value in the next argument. It is read from the app's
// own flag definitions: a list kept by hand drifted (ps --filter was not
// in it, so `ps -a --filter status=exited -q` moved status=exited behind
// -q, and --filter took "-q" as its value).
type flagTable map[string]map[string]bool

// newFlagTable reads every command's flags, under every name and alias.
func newFlagTable(app *cli.App) flagTable {
	t := flagTable{"": flagKinds(app.Flags)}
	for _, c := range app.Commands {
		for _, n := range c.Names() {
			t[n] = flagKinds(c.Flags)
		}
	}
	return t
}

// flagKinds maps each name of each flag to whether it takes a value:
// every flag but a bool does (urfave/cli's DocGenerationFlag.TakesValue).
func flagKinds(flags []cli.Flag) map[string]bool {
	out := map[string]bool{}
	for _, f := range flags {
		takes := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			takes = d.TakesValue()
		}
		for _, n := range f.Names() {
			out[n] = takes
		}
	}
	return out
}

// takesValue reports whether arg, a flag of the command cmd written
// without "=value", takes the next argument as its value. A command's
// own flag wins over a global flag of the same name.
func (t flagTable) takesValue(cmd, arg string) bool {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	if v, ok := t[cmd][name]; ok {
		return v
	}
	return t[""][name]
}

// flagsFirst lets flags follow the arguments, as Docker's and runc's
// commands allow (`minirun explain rootfs --dry-run`): for commands whose
// arguments are plain names, it moves the flags, with their values, in
// front of them. urfave/cli stops parsing flags at the first argument.
func flagsFirst(flags flagTable, args []string) []string {
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") { // global flags
		if flags.takesValue("", args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) || !plainArgs[args[i]] {
		return args
	}
	var moved, rest []string
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			rest = append(rest, args[j+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			moved = append(moved, a)
			if flags.takesValue(args[i], a) && j+1 < len(args) {
				j++
				moved = append(moved, args[j])
			}
			continue
		}
		rest = append(rest, a)
	}
	out := append(append([]string{}, args[:i+1]...), moved...)
	return append(out, rest...)
}

// plainArgs are the commands whose arguments never start with a dash.
var plainArgs = map[string]bool{
	"explain": true, "create": true, "start": true, "state": true, "delete": true,
	"rm": true, "inspect": true, "ps": true, "list": true, "spec": true, "images": true,
	"update": true, "pause": true, "resume": true, "unpause": true, "stats": true, "export": true,
	"logs": true, "stop": true, "restart": true, "wait": true, "attach": true, "top": true, "rename": true, "kill": true,
}
