package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

// eachCommand calls fn for every command and subcommand of the app, with
// the words that name it (["network", "create"]).
func eachCommand(cmds []*cli.Command, path []string, fn func([]string, *cli.Command)) {
	for _, c := range cmds {
		p := append(append([]string{}, path...), c.Name)
		fn(p, c)
		eachCommand(c.Subcommands, p, fn)
	}
}

// Every list flag of every command keeps a value with commas whole: -e
// X=a,b, --mount type=tmpfs,target=/t, --tmpfs /t:size=1m,mode=1777,
// -v /dir,with,comma:/c, --build-arg, --opt, --label, --filter… (urfave/cli
// splits them on commas unless told not to).
func TestListFlagsKeepCommas(t *testing.T) {
	const value = "k=a,b,c"
	checked := 0
	eachCommand(newApp().Commands, nil, func(path []string, cmd *cli.Command) {
		for _, f := range cmd.Flags {
			sf, ok := f.(*cli.StringSliceFlag)
			if !ok {
				continue
			}
			name := sf.Name
			t.Run(strings.Join(path, "_")+"_"+name, func(t *testing.T) {
				app := newApp()
				var target *cli.Command
				eachCommand(app.Commands, nil, func(p []string, c *cli.Command) {
					if reflect.DeepEqual(p, path) {
						target = c
					}
				})
				var got []string
				ran := false
				saved := target.Action
				t.Cleanup(func() { target.Action = saved })
				target.Action = func(c *cli.Context) error {
					got, ran = c.StringSlice(name), true
					return nil
				}
				args := append(append([]string{"minirun"}, path...), "--"+name, value, "--"+name, "second")
				for _, f := range target.Flags {
					if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
						args = append(args, "--"+f.Names()[0]+"=x")
					}
				}
				app.Writer, app.ErrWriter = io.Discard, io.Discard
				if err := app.Run(args); err != nil {
					t.Fatalf("%v: %v", args, err)
				}
				if !ran {
					t.Fatalf("%v: the command's action did not run", args)
				}
				if want := []string{value, "second"}; !reflect.DeepEqual(got, want) {
					t.Errorf("%v: --%s = %q, want %q", args, name, got, want)
				}
			})
			checked++
		}
	})
	if checked < 20 {
		t.Fatalf("only %d list flags found: the walk is broken", checked)
	}
}

// runAction runs the app on args with the action of the command named by
// path replaced by fn: the flags are parsed as the real CLI parses them.
func runAction(t *testing.T, path []string, args []string, fn cli.ActionFunc) error {
	t.Helper()
	app := newApp()
	var target *cli.Command
	eachCommand(app.Commands, nil, func(p []string, c *cli.Command) {
		if reflect.DeepEqual(p, path) {
			target = c
		}
	})
	if target == nil {
		t.Fatalf("no command %v", path)
	}
	saved := target.Action
	defer func() { target.Action = saved }()
	target.Action = fn
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	return app.Run(append(append([]string{"minirun"}, path...), args...))
}

// Every numeric resource flag is range-checked in the type it was typed
// in (issue #13, item 13): --blkio-weight 65636 became 100 and 70000 became
// 4464 through a uint16. Out of range is a one-line error, never a wrapped
// value.
func TestResourceFlagRanges(t *testing.T) {
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--blkio-weight", "65636"}, "--blkio-weight 65636: must be between 10 and 1000"},
		{[]string{"--blkio-weight", "70000"}, "--blkio-weight 70000: must be between 10 and 1000"},
		{[]string{"--blkio-weight", "4294967396"}, "must be between 10 and 1000"},
		{[]string{"--blkio-weight", "-5"}, "must be between 10 and 1000"},
		{[]string{"--blkio-weight", "9"}, "must be between 10 and 1000"},
		{[]string{"--blkio-weight", "1001"}, "must be between 10 and 1000"},
		{[]string{"--cpu-shares", "1"}, "--cpu-shares 1: must be between 2 and 262144"},
		{[]string{"--cpu-shares", "-3"}, "must be between 2 and 262144"},
		{[]string{"--cpu-shares", "262145"}, "must be between 2 and 262144"},
		{[]string{"--cpu-shares", "4294967298"}, "must be between 2 and 262144"},
		{[]string{"--cpu-period", "999"}, "--cpu-period 999: must be between 1000 and 1000000"},
		{[]string{"--cpu-period", "1000001"}, "must be between 1000 and 1000000"},
		{[]string{"--cpu-quota", "999"}, "--cpu-quota 999: must be -1 (no limit) or at least 1000"},
		{[]string{"--cpu-quota", "-2"}, "must be -1 (no limit) or at least 1000"},
		{[]string{"--cpus", "0.001"}, "--cpus 0.001: the range is 0.01 to"},
		{[]string{"--cpus", "100000"}, "the range is 0.01 to"},
		{[]string{"--cpus", "-1"}, "want a positive number"},
		{[]string{"--cpus", "Inf"}, "want a positive number"},
		{[]string{"--cpus", "NaN"}, "want a positive number"},
		{[]string{"--memory", "5m"}, "--memory 5m: the minimum is 6m"},
		{[]string{"--memory", "8000000t"}, "--memory 8000000t: the maximum is"},
		{[]string{"--memory", "99999999999t"}, "invalid size"},
		{[]string{"--memory", "-1"}, "invalid size"},
		{[]string{"--memory", "64m", "--memory-swap", "32m"}, "must be at least --memory"},
		{[]string{"--memory", "64m", "--memory-swap", "-2"}, "invalid size"},
		{[]string{"--memory-reservation", "1m"}, "--memory-reservation 1m: the minimum is 6m"},
		{[]string{"--memory", "64m", "--memory-reservation", "128m"}, "must be at most --memory 64m"},
		{[]string{"--blkio-weight-device", "/dev/null:200"}, "--blkio-weight-device /dev/null:200: /dev/null is not a block device"},
		{[]string{"--blkio-weight-device", "/dev/null"}, "want DEVICE:WEIGHT"},
	}
	for _, c := range bad {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var got error
			err := runAction(t, []string{"update"}, append(c.args, "ctr"), func(ctx *cli.Context) error {
				_, _, got = resourcesFromFlags(ctx)
				return nil
			})
			if err != nil {
				got = err // refused by the flag's own parser
			}
			if got == nil || !strings.Contains(got.Error(), c.want) || strings.Contains(got.Error(), "\n") {
				t.Fatalf("%v: err %v, want one line with %q", c.args, got, c.want)
			}
		})
	}
	// The edges themselves are accepted, with the value typed.
	good := []struct {
		args  []string
		check func(*specs.LinuxResources) bool
	}{
		{[]string{"--blkio-weight", "10"}, func(r *specs.LinuxResources) bool { return *r.BlockIO.Weight == 10 }},
		{[]string{"--blkio-weight", "1000"}, func(r *specs.LinuxResources) bool { return *r.BlockIO.Weight == 1000 }},
		{[]string{"--cpu-shares", "2"}, func(r *specs.LinuxResources) bool { return *r.CPU.Shares == 2 }},
		{[]string{"--cpu-shares", "262144"}, func(r *specs.LinuxResources) bool { return *r.CPU.Shares == 262144 }},
		{[]string{"--cpu-quota", "-1"}, func(r *specs.LinuxResources) bool { return *r.CPU.Quota == -1 }},
		{[]string{"--cpu-quota", "1000", "--cpu-period", "1000000"}, func(r *specs.LinuxResources) bool {
			return *r.CPU.Quota == 1000 && *r.CPU.Period == 1000000
		}},
		{[]string{"--cpus", "0.01"}, func(r *specs.LinuxResources) bool { return *r.CPU.Quota == 1000 }},
		{[]string{"--memory", "6m", "--memory-reservation", "6m"}, func(r *specs.LinuxResources) bool {
			return *r.Memory.Limit == 6<<20 && *r.Memory.Reservation == 6<<20
		}},
		{[]string{"--pids-limit", "-1"}, func(r *specs.LinuxResources) bool { return *r.Pids.Limit == -1 }},
	}
	for _, c := range good {
		var res *specs.LinuxResources
		var got error
		err := runAction(t, []string{"update"}, append(c.args, "ctr"), func(ctx *cli.Context) error {
			res, _, got = resourcesFromFlags(ctx)
			return nil
		})
		if err != nil || got != nil || res == nil || !c.check(res) {
			t.Errorf("%v: %v %v %+v", c.args, err, got, res)
		}
	}
}

// Flags may come in any order, before or after the arguments, as Docker
// allows (issue #13, item 14): `ps -a --filter status=exited -q` failed,
// as a hand-kept list did not know that --filter takes a value.
func TestFlagOrder(t *testing.T) {
	cases := []struct {
		path []string
		args []string
		want map[string]any // flag → value; "args" → the arguments
	}{
		{[]string{"ps"}, []string{"-a", "--filter", "status=exited", "-q"},
			map[string]any{"all": true, "quiet": true, "filter": []string{"status=exited"}}},
		{[]string{"ps"}, []string{"--filter", "status=exited", "-aq"},
			map[string]any{"all": true, "quiet": true, "filter": []string{"status=exited"}}},
		{[]string{"ps"}, []string{"-q", "-f", "name=x", "--format", "{{.Names}}", "-a"},
			map[string]any{"all": true, "quiet": true, "filter": []string{"name=x"}, "format": "{{.Names}}"}},
		{[]string{"rm"}, []string{"a", "-f", "b", "-v"},
			map[string]any{"force": true, "volumes": true, "args": []string{"a", "b"}}},
		{[]string{"logs"}, []string{"c1", "--tail", "5", "-t"},
			map[string]any{"tail": "5", "timestamps": true, "args": []string{"c1"}}},
		{[]string{"inspect"}, []string{"a", "b"}, map[string]any{"args": []string{"a", "b"}}},
		{[]string{"update"}, []string{"c1", "--blkio-weight", "500", "c2", "-c", "512"},
			map[string]any{"blkio-weight": int64(500), "cpu-shares": int64(512), "args": []string{"c1", "c2"}}},
	}
	for _, c := range cases {
		raw := append(append([]string{"minirun", "--root", "/r"}, c.path...), c.args...)
		t.Run(strings.Join(raw[3:], " "), func(t *testing.T) {
			app := newApp()
			args, err := prepareArgs(app, raw)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			err = runAction(t, c.path, args[1+2+len(c.path):], func(ctx *cli.Context) error {
				for k, v := range c.want {
					switch v.(type) {
					case bool:
						got[k] = ctx.Bool(k)
					case string:
						got[k] = ctx.String(k)
					case int64:
						got[k] = ctx.Int64(k)
					case []string:
						if k == "args" {
							got[k] = ctx.Args().Slice()
						} else {
							got[k] = ctx.StringSlice(k)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%q (as %q): %v", raw, args, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%q (as %q): got %v, want %v", raw, args, got, c.want)
			}
		})
	}
}

// A stop timeout in seconds is checked before it becomes a Duration:
// 10000000000 s wrapped to a negative one.
func TestTimeoutRange(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration
		err  bool
	}{{"0", 0, false}, {"10", 10 * time.Second, false}, {"-1", 0, true}, {"10000000000", 0, true}, {"9223372036", 9223372036 * time.Second, false}} {
		var got time.Duration
		var gotErr error
		err := runAction(t, []string{"compose", "stop"}, []string{"-t", c.v}, func(ctx *cli.Context) error {
			got, gotErr = timeoutFlag(ctx, "timeout")
			return nil
		})
		if err != nil || (gotErr != nil) != c.err || got != c.want {
			t.Errorf("-t %s: %v %v %v", c.v, got, gotErr, err)
		}
	}
}

// run's --device-cgroup-rule becomes an allow rule of the spec's device
// cgroup; a rule in another shape is a one-line error naming the flag.
func TestDeviceCgroupRuleFlag(t *testing.T) {
	var res *specs.LinuxResources
	var got error
	err := runAction(t, []string{"run"}, []string{"--device-cgroup-rule", "c 10:* rw", "busybox"}, func(ctx *cli.Context) error {
		res, _, got = resourcesFromFlags(ctx)
		return nil
	})
	if err != nil || got != nil || res == nil || len(res.Devices) != 1 {
		t.Fatalf("--device-cgroup-rule 'c 10:* rw': %+v, %v, %v", res, err, got)
	}
	if r := res.Devices[0]; !r.Allow || r.Type != "c" || *r.Major != 10 || r.Minor != nil || r.Access != "rw" {
		t.Fatalf("'c 10:* rw' became %+v", r)
	}
	err = runAction(t, []string{"run"}, []string{"--device-cgroup-rule", "c 10 rw", "busybox"}, func(ctx *cli.Context) error {
		_, _, got = resourcesFromFlags(ctx)
		return nil
	})
	if err != nil || got == nil || !strings.Contains(got.Error(), "--device-cgroup-rule") {
		t.Fatalf("--device-cgroup-rule 'c 10 rw': %v, %v, want a refusal", err, got)
	}
}
