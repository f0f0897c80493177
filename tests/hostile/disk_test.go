//go:build hostile

package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
)

// TestFullDisk puts a data root on a 32 MiB tmpfs and lets a container
// fill it. With the disk full: removing another container works, the
// filler's recorded exit code is the one it really exited with, a new
// `run` fails with one clear line and leaves nothing half made. Once the
// filler is removed, `run` works again.
func TestFullDisk(t *testing.T) {
	data, state := filepath.Join(top, "fulldisk-lib"), filepath.Join(top, "fulldisk-run")
	if err := os.MkdirAll(data, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", data, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=32m,mode=0711"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	run := func(args ...string) result { t.Helper(); return mrRoots(t, state, data, args...) }
	t.Cleanup(func() {
		run("rm", "-f", "filler", "victim")
		if err := syscall.Unmount(data, 0); err != nil {
			t.Errorf("%s: unmount the full tmpfs: %v (something of minirun still uses it)", itemFullDisk, err)
			syscall.Unmount(data, syscall.MNT_DETACH)
		}
		os.RemoveAll(data)
		os.RemoveAll(state)
	})
	if r := run("image", "import", "--change", `CMD ["sh"]`, busyboxTar, "busybox"); r.code != 0 {
		t.Fatalf("import busybox into the tmpfs: %s", r.stderr)
	}
	// A first container makes the stores' lock files and directories.
	if r := run("run", "--rm", "--network", "none", "busybox", "true"); r.code != 0 {
		t.Fatalf("first run on the tmpfs: %s", r.stderr)
	}
	base := testutil.SnapshotHost(state, data)

	if r := run("run", "-d", "--name", "victim", "--network", "none", "busybox", "sleep", "1000"); r.code != 0 {
		t.Fatalf("run victim: %s", r.stderr)
	}
	if r := run("run", "-d", "--name", "filler", "--network", "none", "busybox", "sh", "-c", "dd if=/dev/zero of=/fill bs=64k 2>/dev/null; exit 7"); r.code != 0 {
		t.Fatalf("run filler: %s", r.stderr)
	}
	var st map[string]interface{}
	if !eventually(30*time.Second, func() bool {
		_, st, _ = inspectState(t, state, data, "filler")
		return st["Status"] == "exited"
	}) {
		t.Fatalf("%s: the filler is not recorded as exited after 30s: %v", itemFullDisk, st)
	}
	var fs syscall.Statfs_t
	syscall.Statfs(data, &fs)
	if free := fs.Bavail * uint64(fs.Bsize); free > 256<<10 {
		t.Fatalf("the tmpfs is not full (%d bytes free): the scenario did not happen", free)
	}
	if code := st["ExitCode"]; code != float64(7) {
		t.Errorf("%s: the filler exited 7 on a full disk, minirun recorded %v", itemFullDisk, code)
	}

	if r := run("rm", "-f", "victim"); r.code != 0 {
		t.Errorf("%s: rm -f of a running container on a full disk: exit %d: %s", itemFullDisk, r.code, strings.TrimSpace(r.stderr))
	}
	if out := run("ps", "-a", "--format", "{{.Names}}").stdout; strings.Contains(out, "victim") {
		t.Errorf("%s: rm -f victim on a full disk left it listed: %q", itemFullDisk, out)
	}

	full := testutil.SnapshotHost(state, data)
	var leaks []string
	r := run("run", "--rm", "--network", "none", "busybox", "true")
	msg := strings.TrimSpace(r.stderr)
	switch {
	case r.code == 0:
		t.Errorf("%s: run on a full disk succeeded", itemFullDisk)
	case !strings.Contains(strings.ToLower(msg), "no space left on device"):
		t.Errorf("%s: run on a full disk: %q, want an error that says no space left on device", itemFullDisk, msg)
	case strings.Contains(msg, "\n"):
		t.Errorf("%s: run on a full disk: the error is not one line: %q", itemFullDisk, msg)
	}
	eventually(3*time.Second, func() bool { leaks = testutil.SnapshotHost(state, data).LeaksSince(full); return len(leaks) == 0 })
	if len(leaks) > 0 {
		t.Errorf("%s: the failed run left things half made:\n  %s", itemFullDisk, strings.Join(leaks, "\n  "))
	}

	if r := run("rm", "-f", "filler"); r.code != 0 {
		t.Errorf("%s: rm -f filler: exit %d: %s", itemFullDisk, r.code, strings.TrimSpace(r.stderr))
	}
	if r := run("run", "--rm", "--network", "none", "busybox", "echo", "again"); r.code != 0 || strings.TrimSpace(r.stdout) != "again" {
		t.Errorf("%s: run after freeing the disk: exit %d %q %q", itemFullDisk, r.code, r.stdout, r.stderr)
	}
	eventually(3*time.Second, func() bool { leaks = testutil.SnapshotHost(state, data).LeaksSince(base); return len(leaks) == 0 })
	if len(leaks) > 0 {
		t.Errorf("%s: left after the scenario:\n  %s", itemFullDisk, strings.Join(leaks, "\n  "))
	}
}

// TestParallelRemovers starts 8 `rm -f` of one running container at
// once, five times (a race: one round may pass by luck): each must succeed or say "no such container", one
// must succeed, and nothing may be left.
func TestParallelRemovers(t *testing.T) {
	const removers = 8
	for round := 0; round < 5; round++ {
		base := snap()
		ok(t, "run", "-d", "--name", "par-rm", hostileImage, "sleep", "100")
		results := make([]result, removers)
		var ready, wg sync.WaitGroup
		start := make(chan struct{})
		ready.Add(removers)
		wg.Add(removers)
		for i := 0; i < removers; i++ {
			go func(i int) {
				defer wg.Done()
				cmd, o, e := mrCommand(t, stateRoot, dataRoot, "rm", "-f", "par-rm")
				defer os.Remove(o.Name())
				defer os.Remove(e.Name())
				ready.Done()
				<-start
				results[i] = finish(t, cmd, o, e, cmd.Run())
			}(i)
		}
		ready.Wait()
		close(start)
		wg.Wait()
		removed := 0
		for i, r := range results {
			switch {
			case r.code == 0:
				removed++
			case strings.Contains(strings.ToLower(r.stderr), "no such container"):
			default:
				t.Errorf("%s: round %d, remover %d: exit %d: %q (want success or \"no such container\")", itemParallelRm, round, i, r.code, strings.TrimSpace(r.stderr))
			}
		}
		if removed == 0 {
			t.Errorf("%s: round %d: no remover succeeded", itemParallelRm, round)
		}
		if out := ok(t, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "par-rm") {
			t.Errorf("%s: round %d: par-rm still listed after 8 removers: %q", itemParallelRm, round, out)
			mr(t, "rm", "-f", "par-rm")
		}
		leakCheck(t, base, itemParallelRm, "8 parallel rm -f")
	}
}
