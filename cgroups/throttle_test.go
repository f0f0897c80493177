package cgroups

import (
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A per-disk read cap is its own step, cgroups-io-throttle, on both
// versions: it writes the device's line to the version's file and its
// evidence is the file read back. The slide map's blkio entry points at
// this step.
func TestIOThrottleIsItsOwnStep(t *testing.T) {
	dev := specs.LinuxThrottleDevice{Rate: 1 << 20}
	dev.Major, dev.Minor = 254, 0
	res := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{dev}}}
	for _, c := range []struct {
		name, file, value string
	}{
		{"v1", "blkio/minirun/c1/blkio.throttle.read_bps_device", "254:0 1048576"},
		{"v2", "minirun/c1/io.max", "254:0 rbps=1048576"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, rec := recorder()
			var root string
			var err error
			if c.name == "v1" {
				var m *v1Manager
				m, root = newFakeV1(t, "/minirun/c1", true, tr)
				if err = m.Create(); err == nil {
					err = m.Set(res)
				}
			} else {
				var m *v2Manager
				m, root = newFakeV2(t, "/minirun/c1", tr)
				if err = m.Create(); err == nil {
					err = m.Set(res)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(root, c.file)
			if got := readT(t, path); got != c.value {
				t.Fatalf("%s = %q, want %q", c.file, got, c.value)
			}
			var found bool
			for _, ev := range rec.Events {
				if strings.HasSuffix(ev.Step.Shell, filepath.Base(c.file)) {
					if ev.Step.ID != StepIOThrottle {
						t.Errorf("the write to %s is step %q, want %q", c.file, ev.Step.ID, StepIOThrottle)
					}
					if want := "echo '" + c.value + "' > " + path; ev.Step.Shell != want {
						t.Errorf("shell %q, want %q", ev.Step.Shell, want)
					}
					if !strings.Contains(ev.Evidence, c.value) {
						t.Errorf("evidence %q does not read back %q", ev.Evidence, c.value)
					}
					found = true
				}
			}
			if !found {
				t.Fatalf("no step wrote %s: %v", c.file, rec.IDs())
			}
		})
	}
}
