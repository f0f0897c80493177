package main

// Commands about cgroups: Docker's resource flags, update, stats, pause.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

// resourceFlags are Docker's run/update flags for cgroup limits.
var resourceFlags = []cli.Flag{
	&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (e.g. 32m)"},
	&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit; -1 for unlimited swap"},
	&cli.StringFlag{Name: "memory-reservation", Usage: "soft memory limit"},
	&cli.BoolFlag{Name: "oom-kill-disable", Usage: "do not let the OOM killer kill the container"},
	&cli.StringFlag{Name: "cpus", Usage: "number of CPUs (e.g. 0.5)"},
	&cli.Int64Flag{Name: "cpu-shares", Aliases: []string{"c"}, Usage: "relative CPU weight (default 1024)"},
	&cli.Int64Flag{Name: "cpu-quota", Usage: "CFS quota in µs per period"},
	&cli.Int64Flag{Name: "cpu-period", Usage: "CFS period in µs"},
	&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs allowed (e.g. 0-1)"},
	&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes allowed"},
	&cli.Int64Flag{Name: "pids-limit", Usage: "most processes and threads (-1 unlimited)"},
	// Int64, not Uint: a negative weight gets the range error below, not
	// a parse error; and never a narrower type than the check's.
	&cli.Int64Flag{Name: "blkio-weight", Usage: "relative block IO weight, 10 to 1000"},
	&cli.StringSliceFlag{Name: "device-read-bps", Usage: "limit reads of a device, e.g. /dev/sda:1mb"},
	&cli.StringSliceFlag{Name: "device-write-bps", Usage: "limit writes of a device"},
	&cli.StringSliceFlag{Name: "device-read-iops", Usage: "limit read operations per second of a device"},
	&cli.StringSliceFlag{Name: "device-write-iops", Usage: "limit write operations per second of a device"},
	&cli.StringSliceFlag{Name: "blkio-weight-device", Usage: "relative block IO weight of one device, e.g. /dev/sda:200"},
}

var deviceFlag = &cli.StringSliceFlag{Name: "device", Usage: "add a host device: HOST[:CONTAINER[:rwm]]"}

// deviceCgroupRuleFlag is run's --device-cgroup-rule.
var deviceCgroupRuleFlag = &cli.StringSliceFlag{Name: "device-cgroup-rule", Usage: "allow devices in the device cgroup: TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm'"}

// resourcesFromFlags reads the resource flags; nil when none was given.
func resourcesFromFlags(c *cli.Context) (*specs.LinuxResources, []specs.LinuxDevice, error) {
	f := container.ResourceFlags{
		Memory: c.String("memory"), MemorySwap: c.String("memory-swap"), MemoryReservation: c.String("memory-reservation"),
		OOMKillDisable: c.Bool("oom-kill-disable"), CPUs: c.String("cpus"), CPUShares: c.Int64("cpu-shares"),
		CPUQuota: c.Int64("cpu-quota"), CPUPeriod: c.Int64("cpu-period"), CpusetCpus: c.String("cpuset-cpus"),
		CpusetMems: c.String("cpuset-mems"), PidsLimit: c.Int64("pids-limit"), BlkioWeight: c.Int64("blkio-weight"),
		DeviceReadBps: c.StringSlice("device-read-bps"), DeviceWriteBps: c.StringSlice("device-write-bps"),
		DeviceReadIOps: c.StringSlice("device-read-iops"), DeviceWriteIOps: c.StringSlice("device-write-iops"),
		BlkioWeightDevice: c.StringSlice("blkio-weight-device"),
	}
	if c.Command.Name == "run" {
		f.Devices = c.StringSlice("device")
		f.DeviceCgroupRules = c.StringSlice("device-cgroup-rule")
	}
	r, devs, err := f.Resources()
	if err != nil {
		return nil, nil, err
	}
	if r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil && len(r.Devices) == 0 {
		return nil, devs, nil
	}
	return r, devs, nil
}

// resolve finds a container by Docker name or id, or else takes the
// argument as an OCI container id (for containers made with create).
func resolve(c *cli.Context, ref string) (*runtime.Container, error) {
	if m, err := openManager(c); err == nil {
		if _, ctr, err := m.Runtime(ref); err == nil {
			return ctr, nil
		}
	}
	return runtime.Load(c.String("root"), ref)
}

var updateCommand = &cli.Command{
	Name: "update", Usage: "change the limits of running containers (like docker update / runc update)",
	ArgsUsage: "CONTAINER [CONTAINER…]",
	Flags: append(append([]cli.Flag{}, resourceFlags...), append(explainFlags,
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "runc style: a JSON file of linux.resources (- for stdin)"},
		&cli.StringFlag{Name: "restart", Usage: "the restart policy from the next exit on: no, on-failure[:N], always or unless-stopped"})...),
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return fmt.Errorf("update: give at least one container")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		res, _, err := resourcesFromFlags(c)
		if err != nil {
			return err
		}
		if f := c.String("resources"); f != "" {
			b, err := readFileOrStdin(f)
			if err != nil {
				return err
			}
			res = &specs.LinuxResources{}
			if err := json.Unmarshal(b, res); err != nil {
				return fmt.Errorf("--resources %s: %w", f, err)
			}
		}
		var restart *shim.RestartPolicy
		if c.IsSet("restart") {
			p, err := shim.ParseRestart(c.String("restart"))
			if err != nil {
				return err
			}
			restart = &p
		}
		if res == nil && restart == nil {
			return fmt.Errorf("update: give a limit to change, e.g. --memory 64m, or --restart")
		}
		tr, done, err := tracerFromFlags(c)
		if err != nil {
			return err
		}
		defer done()
		m, err := openManager(c)
		if err != nil {
			return err
		}
		for _, ref := range c.Args().Slice() {
			if _, err := m.Get(ref); err == nil {
				if restart != nil {
					if err := m.UpdateRestart(ref, *restart); err != nil {
						return err
					}
				}
				if res != nil {
					if err := m.Update(ref, res, tr); err != nil {
						return err
					}
				}
			} else if restart != nil {
				return fmt.Errorf("update --restart: %s is no container of minirun's (a bare runtime container has no restart policy)", ref)
			} else {
				ctr, err := runtime.Load(c.String("root"), ref)
				if err != nil {
					return err
				}
				if err := ctr.Update(res, tr); err != nil {
					return err
				}
			}
			fmt.Println(ref)
		}
		return nil
	},
}

func readFileOrStdin(f string) ([]byte, error) {
	if f == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(f)
}

// pauseCommand and friends drive the freezer. `resume` is runc's name,
// `unpause` Docker's.
var pauseCommand = &cli.Command{
	Name: "pause", Usage: "freeze every process of containers", ArgsUsage: "CONTAINER [CONTAINER…]",
	Action: func(c *cli.Context) error {
		return eachContainer(c, func(ctr *runtime.Container) error { return ctr.Pause(nil) })
	},
}

var resumeCommand = &cli.Command{
	Name: "resume", Aliases: []string{"unpause"}, Usage: "thaw paused containers", ArgsUsage: "CONTAINER [CONTAINER…]",
	Action: func(c *cli.Context) error {
		return eachContainer(c, func(ctr *runtime.Container) error { return ctr.Resume(nil) })
	},
}

func eachContainer(c *cli.Context, fn func(*runtime.Container) error) error {
	if c.NArg() == 0 {
		return fmt.Errorf("%s: give at least one container", c.Command.Name)
	}
	if err := requireRoot(); err != nil {
		return err
	}
	for _, ref := range c.Args().Slice() {
		ctr, err := resolve(c, ref)
		if err != nil {
			return err
		}
		if err := fn(ctr); err != nil {
			return err
		}
	}
	return nil
}

var statsCommand = &cli.Command{
	Name: "stats", Usage: "show containers' CPU, memory and pids, like docker stats", ArgsUsage: "[CONTAINER…]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "no-stream", Usage: "print one sample and exit"},
		&cli.StringFlag{Name: "format", Usage: "json: one JSON object per container"},
	},
	Action: func(c *cli.Context) error {
		m, err := openManager(c)
		if err != nil {
			return err
		}
		for {
			rows, err := m.SampleStats(c.Args().Slice(), time.Second)
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				enc := json.NewEncoder(os.Stdout)
				for _, r := range rows {
					enc.Encode(r)
				}
			} else {
				if !c.Bool("no-stream") {
					fmt.Print("\033[2J\033[H")
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
				fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS")
				for _, r := range rows {
					limit := "unlimited"
					memPct := "--"
					if r.MemLimit > 0 {
						limit = humanSize(r.MemLimit)
						memPct = fmt.Sprintf("%.2f%%", 100*float64(r.MemUsage)/float64(r.MemLimit))
					}
					fmt.Fprintf(w, "%s\t%s\t%.2f%%\t%s / %s\t%s\t%d\n", r.ID[:12], r.Name, r.CPUPercent, humanSize(int64(r.MemUsage)), limit, memPct, r.Pids)
				}
				w.Flush()
			}
			if c.Bool("no-stream") {
				return nil
			}
		}
	},
}
