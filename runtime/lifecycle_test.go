package runtime

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// busyboxBundle makes an OCI bundle whose rootfs is Debian's static busybox
// with a link per applet.
func busyboxBundle(t *testing.T, args ...string) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	rootfs := testutil.BusyboxRootfs(t, dir)
	s := DefaultSpec()
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = rootfs
	return dir, s
}

func newTestContainer(t *testing.T, root, id string, s *specs.Spec, bundle string, stdout *bytes.Buffer, tr *explain.Tracer) *Container {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		stdout.ReadFrom(r)
		close(done)
	}()
	c, err := Create(CreateOpts{Root: root, ID: id, Bundle: bundle, Spec: s, Stdout: w, Stderr: w, Tracer: tr, Self: self})
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		<-done
		if c2, err := Load(root, id); err == nil {
			c2.Delete(true, nil)
		}
	})
	return c
}

func TestLifecycle(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	bundle, s := busyboxBundle(t, "sh", "-c", "echo pid=$$ host=$(hostname); ls /; exit 3")
	var out bytes.Buffer
	c := newTestContainer(t, root, "life", s, bundle, &out, nil)

	if st := c.Status(); st != Created {
		t.Fatalf("status after create = %s, want created", st)
	}
	if _, err := Create(CreateOpts{Root: root, ID: "life", Bundle: bundle, Spec: s}); !errors.Is(err, ErrExist) {
		t.Fatalf("duplicate create: err = %v, want ErrExist", err)
	}
	if err := c.Delete(false, nil); err == nil || !strings.Contains(err.Error(), "cannot delete: container is created") {
		t.Fatalf("delete of a created container: err = %v", err)
	}
	if err := c.Start(nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := c.Start(nil); err == nil {
		t.Fatal("second start succeeded")
	}
	code, err := c.Wait()
	if err != nil || code != 3 {
		t.Fatalf("wait = %d, %v; want 3", code, err)
	}
	if st := c.Status(); st != Stopped {
		t.Fatalf("status after exit = %s, want stopped", st)
	}
	if err := c.Signal(9, nil); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("kill of a stopped container: err = %v", err)
	}
	got := out.String()
	if !strings.Contains(got, "pid=1 host=minirun") {
		t.Fatalf("output %q: want pid 1 and hostname minirun", got)
	}
	if !strings.Contains(got, "host-file-marker") {
		t.Fatalf("output %q: want the rootfs listing", got)
	}
	if err := c.Delete(false, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := Load(root, "life"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("load after delete: err = %v", err)
	}
}

func TestNarrationCrossesProcesses(t *testing.T) {
	testutil.RequireRoot(t)
	bundle, s := busyboxBundle(t, "true")
	rec := &explain.Recorder{}
	var out bytes.Buffer
	tr := explain.New(rec)
	c := newTestContainer(t, t.TempDir(), "narr", s, bundle, &out, tr)
	if err := c.Start(tr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	ids := strings.Join(rec.IDs(), " ")
	for _, want := range []string{"lifecycle-state-dir", "ns-clone", "rootfs-private", "mounts-proc", "rootfs-pivot-root", "ns-hostname", "lifecycle-save-state", "process-capabilities", "process-exec"} {
		if !strings.Contains(ids, want) {
			t.Errorf("narration lacks %s: %s", want, ids)
		}
	}
	// The parent's and child's steps are numbered as one sequence.
	seen := map[int]string{}
	for _, ev := range rec.Events {
		if prev, dup := seen[ev.Seq]; dup {
			t.Errorf("step %s and %s share number %d", prev, ev.Step.ID, ev.Seq)
		}
		seen[ev.Seq] = ev.Step.ID
		if ev.Err != "" {
			t.Errorf("step %s failed: %s", ev.Step.ID, ev.Err)
		}
	}
	if t.Failed() {
		t.Logf("container output: %s", out.String())
	}
}

// exec joins the container's namespaces and cgroup, and its exit code
// comes back.
func TestExec(t *testing.T) {
	testutil.RequireRoot(t)
	bundle, s := busyboxBundle(t, "sleep", "30")
	var out bytes.Buffer
	root := t.TempDir()
	c := newTestContainer(t, root, "ex", s, bundle, &out, nil)
	if err := c.Start(nil); err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	p, err := c.Exec(ExecOpts{Process: &specs.Process{Args: []string{"sh", "-c", "for n in mnt pid net; do readlink /proc/self/ns/$n; done; exit 7"}}, Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(r)
	code, err := p.Wait()
	if err != nil || code != 7 {
		t.Fatalf("exec exit %d %v; output %q", code, err, got.String())
	}
	lines := strings.Split(strings.TrimSpace(got.String()), "\n")
	pid := strconv.Itoa(c.Pid())
	for i, ns := range []string{"mnt", "pid", "net"} {
		if want := nsInode(pid, ns); lines[i] != want {
			t.Errorf("exec's %s namespace %s, the container's %s", ns, lines[i], want)
		}
	}
	c.Signal(9, nil)
	c.Wait()
}
