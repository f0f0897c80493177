//go:build integration

package integration

// Regression tests for what a crash, a full disk or a race leaves behind
// (issue #13). The crashes are deterministic: MINIRUN_TEST_CRASH_AT names
// the point where minirun sends itself SIGKILL (internal/crashpoint).

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/crashpoint"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mrCrash runs minirun with MINIRUN_TEST_CRASH_AT=point and wants it to die
// of the SIGKILL it sends itself.
func mrCrash(t *testing.T, point string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--root", stateRoot, "--data-root", dataRoot}, args...)...)
	cmd.Env = append(os.Environ(), crashpoint.Env+"="+point)
	// A file, not a pipe: a create that is not killed leaves an init
	// holding its stdio, and a pipe would never reach EOF.
	out, err := os.CreateTemp("", "minirun-crash-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	ee, isExit := err.(*exec.ExitError)
	if !isExit || ee.ExitCode() != -1 || !strings.Contains(ee.Error(), "killed") {
		t.Fatalf("minirun %s with %s=%s: %v, want killed by SIGKILL\n%s", strings.Join(args, " "), crashpoint.Env, point, err, b)
	}
}

// cgroupDirs returns the directories of the cgroup /minirun/<id> in every
// hierarchy (v1) or the unified one (v2).
func cgroupDirs(id string) []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/minirun/" + id)
	v2, _ := filepath.Glob("/sys/fs/cgroup/minirun/" + id)
	return append(v1, v2...)
}

// pidsOf reads the pids in a cgroup directory.
func pidsOf(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Item 4: `create` killed anywhere between making the state dir and saving
// "created" leaves an id that `delete --force` cleans up (state dir,
// cgroup, init) and that `create` can then use again, as runc allows.
func TestCreateKilledThenDeleteForce(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "30"} })
	for _, point := range []string{"create-after-state-dir", "create-after-creating", "create-after-cgroup"} {
		t.Run(point, func(t *testing.T) {
			id := "crash-" + point
			t.Cleanup(func() { mr(t, "delete", "--force", id) })
			mrCrash(t, point, "create", "--bundle", dir, id)
			var pids []int
			for _, d := range cgroupDirs(id) {
				pids = append(pids, pidsOf(d)...)
			}
			if point == "create-after-cgroup" && len(pids) == 0 {
				t.Fatalf("the init is not in its cgroup %v at %s", cgroupDirs(id), point)
			}
			ok(t, "delete", "--force", id)
			if _, err := os.Stat(filepath.Join(stateRoot, id)); err == nil {
				t.Fatalf("delete --force left the state dir %s", filepath.Join(stateRoot, id))
			}
			if left := cgroupDirs(id); len(left) > 0 {
				t.Fatalf("delete --force left the cgroups %v", left)
			}
			for _, pid := range pids {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z") {
					t.Fatalf("delete --force left the init %d alive: %s", pid, b)
				}
			}
			// The id is free again.
			ok(t, "create", "--bundle", dir, id)
			if s := state(t, id); s.Status != "created" {
				t.Fatalf("create after delete --force: status %q", s.Status)
			}
			ok(t, "delete", "--force", id)
		})
	}
}

// containerDirs lists the entries of the data root's containers/.
func containerDirs(t *testing.T, root string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "containers"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		out[e.Name()] = true
	}
	return out
}

// Item 5: `run -d` killed at any point of its preparation leaves nothing
// that `ps -a` cannot show and `rm -f` cannot remove: every directory in
// containers/ is a listed container, and after `rm -f` of each nothing is
// left (no directory, no mount).
func TestRunKilledLeavesRemovable(t *testing.T) {
	before := containerDirs(t, dataRoot)
	for _, point := range []string{"reserve-after-mkdir", "run-after-reserve", "run-after-rootfs", "run-after-bundle"} {
		t.Run(point, func(t *testing.T) {
			mrCrash(t, point, "run", "-d", "--network", "none", "--name", "crashd", "busybox", "sleep", "60")
			listed := strings.Fields(ok(t, "ps", "-a", "-q"))
			for e := range containerDirs(t, dataRoot) {
				if before[e] || strings.HasPrefix(e, ".") {
					continue
				}
				found := false
				for _, id := range listed {
					found = found || strings.HasPrefix(e, id)
				}
				if !found {
					t.Fatalf("containers/%s is left by the crash at %s, and ps -a does not show it (ps -a -q: %v)", e, point, listed)
				}
				if r := mr(t, "rm", "-f", e[:12]); r.code != 0 {
					t.Fatalf("rm -f %s after the crash at %s: %s", e[:12], point, r.stderr)
				}
			}
			// The next run reuses the name and clears what is hidden.
			runD(t, "crashd", "busybox", "true")
			ok(t, "rm", "-f", "crashd")
			for e := range containerDirs(t, dataRoot) {
				if !before[e] {
					t.Fatalf("containers/%s left after the crash at %s and rm -f", e, point)
				}
			}
			if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), filepath.Join(dataRoot, "containers")+"/") {
				for _, l := range strings.Split(string(b), "\n") {
					if strings.Contains(l, filepath.Join(dataRoot, "containers")+"/") {
						t.Fatalf("a mount is left after the crash at %s and rm -f: %s", point, l)
					}
				}
			}
		})
	}
}

// Item 8: eight `rm -f` of one container at once: each one either removes
// it or says there is no such container; nothing else.
func TestParallelRemove(t *testing.T) {
	for round := 0; round < 3; round++ {
		name := fmt.Sprintf("rmrace%d", round)
		runD(t, name, "busybox", "sleep", "60")
		var wg sync.WaitGroup
		results := make([]result, 8)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = mr(t, "rm", "-f", name)
			}(i)
		}
		wg.Wait()
		removed := 0
		for _, r := range results {
			switch {
			case r.code == 0:
				removed++
			case strings.Contains(r.stderr, "no such container") && strings.Count(strings.TrimSpace(r.stderr), "\n") == 0:
			default:
				t.Fatalf("round %d: a concurrent rm -f failed with %q", round, r.stderr)
			}
		}
		if removed == 0 {
			t.Fatalf("round %d: no rm -f succeeded", round)
		}
		if r := mr(t, "inspect", name); r.code == 0 {
			t.Fatalf("round %d: %s still exists", round, name)
		}
	}
}

// Item 11: an OCI id may be any name the id rules allow, including the
// names of minirun's own directories in the state root (the shims'
// sockets): such an id neither fails nor mixes with them.
func TestOCIIDOfInternalName(t *testing.T) {
	runD(t, "socketowner", "busybox", "sleep", "60") // the shims' directory exists now
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "30"} })
	t.Cleanup(func() { mr(t, "delete", "--force", "shims") })
	ok(t, "create", "--bundle", dir, "shims")
	if s := state(t, "shims"); s.Status != "created" {
		t.Fatalf("state shims: %q", s.Status)
	}
	for _, id := range strings.Fields(ok(t, "list", "-q")) {
		if _, err := os.Stat(filepath.Join(stateRoot, id, "state.json")); err != nil {
			t.Fatalf("list shows %q, which is not a container: %v", id, err)
		}
	}
	ok(t, "delete", "--force", "shims")
	// The detached container's shim is still there to record its end.
	ok(t, "stop", "-t", "0", "socketowner")
	if code := strings.TrimSpace(ok(t, "wait", "socketowner")); code != "137" {
		t.Fatalf("wait after stop: %q", code)
	}
}

// The parallel stop: one `stop -t 1` of several containers sends SIGTERM
// to all of them before it sends SIGKILL to any (Docker stops them in
// parallel; one at a time, 100 of them took 100 s). Each records its own
// exit code. No timing is asserted here: bench/detached-100.sh measures.
func TestStopManyInParallel(t *testing.T) {
	marks := t.TempDir()
	var trappers, all []string
	for i := 0; i < 3; i++ {
		n := fmt.Sprintf("pstop-trap%d", i)
		// Catches TERM, notes when, and keeps running: needs the KILL.
		runD(t, n, "-v", marks+":/m", "busybox", "sh", "-c", fmt.Sprintf("trap 'touch /m/%d' TERM; while :; do sleep 0.1; done", i))
		trappers = append(trappers, n)
	}
	for i := 0; i < 2; i++ {
		n := fmt.Sprintf("pstop-sleep%d", i)
		runD(t, n, "busybox", "sleep", "1000") // PID 1 ignores TERM: killed
		all = append(all, n)
	}
	runD(t, "pstop-exit3", "busybox", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done")
	all = append(append(all, trappers...), "pstop-exit3")
	out := ok(t, append([]string{"stop", "-t", "1"}, all...)...)
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(all, " ") {
		t.Fatalf("stop printed %q, want the names in order %v", out, all)
	}
	var firstKill time.Time
	for _, n := range all {
		st := inspect(t, n)["State"].(map[string]interface{})
		want := 137.0
		if n == "pstop-exit3" {
			want = 3
		}
		if st["Status"] != "exited" || st["ExitCode"].(float64) != want {
			t.Fatalf("%s after stop: %v, want exited with %v", n, st, want)
		}
		if want == 137 {
			fin, err := time.Parse(time.RFC3339Nano, st["FinishedAt"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if firstKill.IsZero() || fin.Before(firstKill) {
				firstKill = fin
			}
		}
	}
	for i := range trappers {
		fi, err := os.Stat(filepath.Join(marks, strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("%s never got SIGTERM: %v", trappers[i], err)
		}
		if !fi.ModTime().Before(firstKill) {
			t.Fatalf("%s got SIGTERM at %v, after a container was already killed at %v: the stop is not parallel",
				trappers[i], fi.ModTime().Format(time.RFC3339Nano), firstKill.Format(time.RFC3339Nano))
		}
	}
}

// kill of several containers signals them all (in parallel, as stop).
func TestKillMany(t *testing.T) {
	names := []string{"pkill0", "pkill1", "pkill2"}
	for _, n := range names {
		runD(t, n, "busybox", "sleep", "1000")
	}
	if out := ok(t, append([]string{"kill"}, names...)...); strings.Join(strings.Fields(out), " ") != strings.Join(names, " ") {
		t.Fatalf("kill printed %q", out)
	}
	for _, n := range names {
		if code := strings.TrimSpace(ok(t, "wait", n)); code != "137" {
			t.Fatalf("%s after kill: exit %s, want 137", n, code)
		}
	}
}

// Item 6: a container fills its data root (a 20 MiB tmpfs here). Its exit
// code is recorded as it was (0, not 137); a later run fails with one line
// that names the full disk and leaves nothing behind; and `rm -f` removes
// the container that filled it.
func TestFullDataRoot(t *testing.T) {
	top := t.TempDir()
	lib, run := filepath.Join(top, "lib"), filepath.Join(top, "run")
	if err := os.Mkdir(lib, 0o711); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=20m,mode=0711", "minirun-test-full", lib).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	full := func(args ...string) result {
		cmd := exec.Command(binary, append([]string{"--root", run, "--data-root", lib}, args...)...)
		o, e := &strings.Builder{}, &strings.Builder{}
		cmd.Stdout, cmd.Stderr = o, e
		err := cmd.Run()
		r := result{stdout: o.String(), stderr: e.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Cleanup(func() {
		for _, id := range strings.Fields(full("ps", "-a", "-q").stdout) {
			full("rm", "-f", id)
		}
		if out, err := exec.Command("umount", lib).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", lib, err, out)
		}
	})
	mustFull := func(args ...string) string {
		t.Helper()
		r := full(args...)
		if r.code != 0 {
			t.Fatalf("minirun %v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	mustFull("image", "import", "--change", `CMD ["sh"]`, busyboxTar, "busybox")
	// The container fills the disk, then waits for the test's word; the
	// test takes whatever pages are still free (a rename of the start's
	// record can free one) from the host, so that the disk is full to
	// the last byte when the container exits and its shim records that.
	gate := t.TempDir()
	mustFull("run", "-d", "--network", "none", "-v", gate+":/gate", "--name", "filler", "busybox", "sh", "-c",
		"for bs in 64k 4k 1; do dd if=/dev/zero of=/fill$bs bs=$bs 2>/dev/null; done; touch /gate/full; while [ ! -e /gate/go ]; do sleep 0.1; done; exit 0")
	eventually(t, "the container to fill the disk", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(gate, "full"))
		return err == nil
	})
	exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(lib, "topup"), "bs=1").Run()
	if free := freeBytes(t, lib); free != 0 {
		t.Fatalf("the data root is not full: %d bytes free", free)
	}
	if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := strings.TrimSpace(mustFull("wait", "filler")); code != "0" {
		t.Fatalf("the container that filled the disk exited 0; recorded %s", code)
	}
	before := containerDirs(t, lib)
	r := full("run", "-d", "--network", "none", "--name", "second", "busybox", "true")
	msg := strings.TrimSpace(r.stderr)
	if r.code == 0 || !strings.Contains(msg, "no space left on device") || strings.Contains(msg, "\n") {
		t.Fatalf("run on a full data root: exit %d, stderr %q; want one line naming ENOSPC", r.code, msg)
	}
	if after := containerDirs(t, lib); len(after) != len(before) {
		t.Fatalf("the failed run left something in containers/: %v (before: %v)", after, before)
	}
	if r := full("rm", "-f", "filler"); r.code != 0 {
		t.Fatalf("rm -f of the container that filled the disk: %s", r.stderr)
	}
	if left := containerDirs(t, lib); len(left) != 0 {
		t.Fatalf("rm -f left %v", left)
	}
}

// freeBytes is what statfs(2) says is free for an unprivileged writer.
func freeBytes(t *testing.T, path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// A `rm -f` killed once the container's directory is its tombstone
// (.rm-<id>-<pid>, out of every listing): the user's next `rm -f NAME`
// finishes the removal (it may answer "no such container", the name is
// gone), and no tombstone, mount, runtime state or cgroup stays until
// some later `run`.
func TestRmKilledThenRmFinishes(t *testing.T) {
	before := containerDirs(t, dataRoot)
	id := runD(t, "rmkilled", "--network", "none", "busybox", "sleep", "60")
	mrCrash(t, "rm-after-tombstone", "rm", "-f", "rmkilled")
	if r := mr(t, "rm", "-f", "rmkilled"); r.code != 0 && !strings.Contains(r.stderr, "no such container") {
		t.Fatalf("rm -f after a killed rm -f: exit %d: %s", r.code, r.stderr)
	}
	for e := range containerDirs(t, dataRoot) {
		if !before[e] {
			t.Errorf("containers/%s left after a killed rm -f and the user's rm -f", e)
		}
	}
	if _, err := os.Lstat(filepath.Join(stateRoot, id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("runtime state %s left: %v", filepath.Join(stateRoot, id), err)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), id) {
		t.Errorf("a mount of the container is left:\n%s", b)
	}
	for _, pattern := range []string{"/sys/fs/cgroup/*/minirun/" + id, "/sys/fs/cgroup/minirun/" + id} {
		if left, _ := filepath.Glob(pattern); len(left) > 0 {
			t.Errorf("cgroups left: %v", left)
		}
	}
}

// The shim of `run -d` killed in the middle of its create (the crash point
// is reached in the shim, which inherits the environment): run -d fails,
// and neither it nor the user's rm -f NAME may leave the runtime's state
// dir or the container's cgroups behind, as run -d's rollback removed the
// container's directory and with it the name to remove them by.
func TestRunDetachedShimKilledInCreate(t *testing.T) {
	entries := func() map[string]bool {
		out := map[string]bool{}
		ents, _ := os.ReadDir(stateRoot)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") { // .shims is shared
				out[e.Name()] = true
			}
		}
		cg, _ := filepath.Glob("/sys/fs/cgroup/*/minirun/*")
		cg2, _ := filepath.Glob("/sys/fs/cgroup/minirun/*")
		for _, d := range append(cg, cg2...) {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				out[d] = true
			}
		}
		return out
	}
	for _, point := range []string{"create-after-creating", "create-after-cgroup"} {
		t.Run(point, func(t *testing.T) {
			before := entries()
			cmd := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "run", "-d", "--network", "none", "--name", "shimcrash", "busybox", "sleep", "60")
			cmd.Env = append(os.Environ(), crashpoint.Env+"="+point)
			out, err := cmd.CombinedOutput()
			if err == nil {
				mr(t, "rm", "-f", "shimcrash")
				t.Fatalf("run -d succeeded though its shim was killed at %s: %s", point, out)
			}
			if r := mr(t, "rm", "-f", "shimcrash"); r.code != 0 && !strings.Contains(r.stderr, "no such container") {
				t.Fatalf("rm -f after the shim was killed: exit %d: %s", r.code, r.stderr)
			}
			for e := range entries() {
				if !before[e] {
					t.Errorf("%s left after the shim was killed at %s and rm -f", e, point)
				}
			}
		})
	}
}

// Issue #14.2: `run --rm` returns only once the container's directory is
// gone: its shim renames it to a tombstone first and deletes it after, and
// a run that returned at the rename left a CI chroot's cleanup racing the
// shim (TestRunInChroot). Right after run, nothing of it is in containers/.
func TestRunRmReturnsAfterRemoval(t *testing.T) {
	tombs := func() map[string]bool {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dataRoot, "containers"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // no container made yet
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".rm-") {
				out[e.Name()] = true
			}
		}
		return out
	}
	before := tombs() // another test's, not this one's to judge
	for i := 0; i < 5; i++ {
		if r := mr(t, "run", "--rm", "--network", "none", "busybox", "true"); r.code != 0 {
			t.Fatalf("run --rm: %+v", r)
		}
		for name := range tombs() {
			if !before[name] {
				t.Fatalf("run %d: run --rm returned while %s was still being removed", i, name)
			}
		}
	}
}

// A shim killed while it plugs the container in, between making the veth
// pair and recording it, left both ends on the host: the rollback (the
// CLI's, here; rm -f's after a kill) deletes only the veth an endpoint
// names, and the names were recorded after the veth was made. They are
// now recorded before it.
func TestShimKilledAfterVeth(t *testing.T) {
	links := func() map[string]bool {
		out := map[string]bool{}
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			out[i.Name] = true
		}
		return out
	}
	before := links()
	cmd := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "run", "-d", "--name", "vethcrash", "busybox", "sleep", "60")
	cmd.Env = append(os.Environ(), crashpoint.Env+"=attach-after-veth")
	out, err := cmd.CombinedOutput()
	if err == nil {
		mr(t, "rm", "-f", "vethcrash")
		t.Fatalf("run -d succeeded though its shim was killed after making the veth: %s", out)
	}
	if r := mr(t, "rm", "-f", "vethcrash"); r.code != 0 && !strings.Contains(r.stderr, "no such container") {
		t.Fatalf("rm -f after the shim was killed: exit %d: %s", r.code, r.stderr)
	}
	for l := range links() {
		// A veth end is mr<10 hex digits of the id><n>h or …c; the run
		// may have made the network's bridge, which stays.
		veth := len(l) == 14 && strings.HasPrefix(l, "mr") && (strings.HasSuffix(l, "h") || strings.HasSuffix(l, "c"))
		if veth && !before[l] {
			t.Errorf("link %s left on the host after the shim was killed after making the veth", l)
		}
	}
}
