package cgroups

import (
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// DescribeAs makes a dry run describe the other layout than the machine's
// (explain --shell writes both), and nothing else: a real run, or a dry
// run after restore, gets the machine's.
func TestDescribeAs(t *testing.T) {
	for _, m := range []Mode{Legacy, Unified} {
		rec := &explain.Recorder{}
		restore := DescribeAs(m)
		mgr, err := New("", "$ID", explain.NewDryRun(rec))
		if err == nil {
			err = mgr.Create()
		}
		real, rerr := New("", "x", nil)
		restore()
		if err != nil || rerr != nil {
			t.Fatalf("%v: %v %v", m, err, rerr)
		}
		var sh []string
		for _, ev := range rec.Events {
			sh = append(sh, ev.Step.Shell)
		}
		all := strings.Join(sh, "\n")
		if m == Unified {
			if _, ok := mgr.(*v2Manager); !ok || !strings.Contains(all, "mkdir -p /sys/fs/cgroup/minirun/$ID") || !strings.Contains(all, "/sys/fs/cgroup/minirun/cgroup.subtree_control") {
				t.Errorf("described as v2: %T\n%s", mgr, all)
			}
		} else if _, ok := mgr.(*v1Manager); !ok || !strings.Contains(all, "/sys/fs/cgroup/{cpu,cpuacct,cpuset,memory,devices,freezer,blkio,pids}/minirun/$ID") {
			t.Errorf("described as v1: %T\n%s", mgr, all)
		}
		if _, isV2 := real.(*v2Manager); isV2 != (DetectMode() == Unified) {
			t.Errorf("a real run while describing %v got a %T on a %v machine", m, real, DetectMode())
		}
	}
}
