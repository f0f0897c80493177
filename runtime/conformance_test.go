package runtime

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A FIFO in linux.devices is a node the init creates, not a device the
// cgroup checks: it must not become a rule of type "p", which neither the
// v1 controller nor minirun's rule parser accepts.
func TestDeviceNodesGiveOnlyBlockAndCharRules(t *testing.T) {
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	out := withDeviceNodes(r, []specs.LinuxDevice{
		{Path: "/dev/fifo", Type: "p"},
		{Path: "/dev/u", Type: "u", Major: 4, Minor: 64},
	})
	for _, d := range out.Devices {
		if d.Type != "" && d.Type != "a" && d.Type != "b" && d.Type != "c" {
			t.Errorf("rule of type %q", d.Type)
		}
	}
	last := out.Devices[len(out.Devices)-1]
	if last.Type != "c" || *last.Major != 4 || *last.Minor != 64 {
		t.Errorf("unbuffered device: rule %+v, want c 4:64", last)
	}
	// The whole list must be one the cgroup plan accepts.
	if _, err := cgroups.Plan(out, cgroups.Legacy); err != nil {
		t.Fatalf("plan: %v", err)
	}
}

// A failing poststart or poststop hook is a warning; the hooks after it run.
func TestWarnHooksRunsEveryHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	var w bytes.Buffer
	warnHooks(&w, []specs.Hook{
		{Path: "/bin/false", Args: []string{"false"}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + out}},
	}, []byte(`{"id":"x"}`), "poststop")
	if b, err := os.ReadFile(out); err != nil || string(b) != `{"id":"x"}` {
		t.Fatalf("second hook: %q %v", b, err)
	}
	if !strings.Contains(w.String(), "warning: poststop hook /bin/false") {
		t.Fatalf("warning: %q", w.String())
	}
}

// The rlimits step's shell equivalent runs as written: prlimit(1) takes
// each resource as an option, and --pid $$ sets the running shell's.
func TestPrlimitShellRuns(t *testing.T) {
	sh := prlimitShell([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}, {Type: "RLIMIT_NPROC", Soft: 4096, Hard: 4096}})
	if sh != "prlimit --pid $$ --nofile=512:1024 --nproc=4096:4096" {
		t.Fatalf("shell %q", sh)
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	out, err := exec.Command("bash", "-c", sh+" && ulimit -Sn && ulimit -Hn").CombinedOutput()
	if err != nil || string(out) != "512\n1024\n" {
		t.Fatalf("%s: %v\n%s", sh, err, out)
	}
}
