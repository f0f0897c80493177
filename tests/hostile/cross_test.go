//go:build hostile

package hostile

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVolumeCopyUpSymlinkRace (item 1): two containers share a named
// volume. The first ("swapper") watches it; the second's creation copies
// the image's /data into the still-empty volume. Each directory the copy
// makes, the swapper replaces with a symlink to a directory of the HOST.
// A copy that follows those symlinks writes the image's files there, as
// root. The host directory must stay empty.
func TestVolumeCopyUpSymlinkRace(t *testing.T) {
	target := filepath.Join(top, "item1-host-dir-must-stay-empty")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	base := snap()
	rmAtEnd(t, "race-swapper", "race-copier")
	t.Cleanup(func() { mr(t, "volume", "rm", "hostile-race") })
	// A race: up to three rounds, each with a new empty volume; one
	// round that writes on the host is enough to fail.
	for round := 0; round < 3; round++ {
		ok(t, "run", "-d", "--name", "race-swapper", "-v", "hostile-race:/vol", hostileImage, "/attack", "volswap", "/vol", target, "30")
		if !eventually(10*time.Second, func() bool { return strings.Contains(mr(t, "logs", "race-swapper").stdout, `"ready"`) }) {
			t.Fatalf("the swapper did not start: %+v", mr(t, "logs", "race-swapper"))
		}
		r := mr(t, "run", "--rm", "--name", "race-copier", "-v", "hostile-race:/data", hostileImage, "true")
		swaps := strings.Count(mr(t, "logs", "race-swapper").stdout, `"swapped"`)
		t.Logf("round %d: the swapper swapped %d directories; the copier: exit %d %s", round, swaps, r.code, strings.TrimSpace(r.stderr))
		mr(t, "rm", "-f", "race-swapper")
		mr(t, "volume", "rm", "hostile-race")

		var landed []string
		filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != target {
				landed = append(landed, strings.TrimPrefix(p, target+"/"))
			}
			return nil
		})
		if len(landed) > 0 {
			show := landed
			if len(show) > 5 {
				show = show[:5]
			}
			t.Errorf("%s: %d files of the image were written into the host directory %s through the swapped symlinks (e.g. %v)", itemVolumeRace, len(landed), target, show)
			break
		}
	}
	leakCheck(t, base, itemVolumeRace, "the race")
}

// TestSetuidCopyNotReachableFromHost (item 2, CVE-2021-41091): a default
// container makes a setuid-root copy of a shell in its root filesystem.
// An unprivileged user of the host (uid 65534) must not reach it through
// the container's overlay directories — neither the mounted rootfs
// (merged) nor its upperdir — found in the host's mountinfo. The test
// runs no attack code: it asks the host's stat(1) and execve(2), as
// uid 65534, and wants EACCES.
func TestSetuidCopyNotReachableFromHost(t *testing.T) {
	rmAtEnd(t, "suid")
	ok(t, "run", "-d", "--name", "suid", hostileImage, "sh", "-c", "cp /bin/busybox /suid-sh && chmod 4755 /suid-sh && touch /ready && sleep 60")
	id, _, found := inspectState(t, stateRoot, dataRoot, "suid")
	if !found {
		t.Fatal("inspect suid failed")
	}
	merged, upper := overlayDirs(t, id)
	if !eventually(10*time.Second, func() bool { _, err := os.Stat(filepath.Join(merged, "ready")); return err == nil }) {
		t.Fatalf("the container did not make its setuid copy under %s", merged)
	}
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	for _, p := range []string{filepath.Join(merged, "suid-sh"), filepath.Join(upper, "suid-sh")} {
		stat := exec.Command("stat", "-c", "%a %u %n", p)
		stat.SysProcAttr = nobody
		out, err := stat.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("%s: uid 65534 on the host can stat the container's setuid copy: %s (%v)", itemSetuidReach, strings.TrimSpace(string(out)), err)
		}
		run := exec.Command(p)
		run.Args = []string{"id", "-u"} // busybox's id applet: harmless if it ever runs
		run.SysProcAttr = nobody
		out, err = run.Output()
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("%s: uid 65534 executing %s: %v (output %q), want EACCES", itemSetuidReach, p, err, strings.TrimSpace(string(out)))
		}
	}
}

// overlayDirs finds the container's overlay mount in the host's
// mountinfo: the mount point (merged) and the upperdir option.
func overlayDirs(t *testing.T, id string) (merged, upper string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || !strings.Contains(fields[4], id) {
			continue
		}
		// After the optional fields, "-" fstype source superoptions.
		for i, fl := range fields {
			if fl == "-" && i+3 < len(fields) && fields[i+1] == "overlay" {
				for _, o := range strings.Split(fields[i+3], ",") {
					if v, ok := strings.CutPrefix(o, "upperdir="); ok {
						return fields[4], v
					}
				}
			}
		}
	}
	t.Fatalf("no overlay mount of container %s in /proc/self/mountinfo", id)
	return "", ""
}

// TestUserMaxUID (item 3): uid 4294967295 is (uid_t)-1, which setuid(2)
// and setresuid(2) read as "leave unchanged": a runtime that passes it on
// leaves the process root. Refusing the value is fine; running as root is
// not — neither for run nor for exec.
func TestUserMaxUID(t *testing.T) {
	rmAtEnd(t, "maxuid")
	for _, u := range []string{"4294967295", "4294967295:4294967295"} {
		r := mr(t, "run", "--rm", "--network", "none", "-u", u, hostileImage, "id", "-u")
		if r.code == 0 && strings.TrimSpace(r.stdout) == "0" {
			t.Errorf("%s: run -u %s ran the process as root (id -u printed 0)", itemUserMax, u)
		} else {
			t.Logf("run -u %s: exit %d, %q %q", u, r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
		}
	}
	ok(t, "run", "-d", "--name", "maxuid", "--network", "none", hostileImage, "sleep", "60")
	r := mr(t, "exec", "-u", "4294967295", "maxuid", "id", "-u")
	if r.code == 0 && strings.TrimSpace(r.stdout) == "0" {
		t.Errorf("%s: exec -u 4294967295 ran the process as root (id -u printed 0)", itemUserMax)
	} else {
		t.Logf("exec -u 4294967295: exit %d, %q %q", r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
	}
}

// TestProcExeNotWritable (CVE-2019-5736): the container loops over
// /proc/PID/exe of every process that is not its own (200 rounds), trying
// to open it for writing now and through an O_PATH handle later, while
// the test runs `minirun exec` into it. No attempt may write, and the
// host's minirun binary keeps its hash.
func TestProcExeNotWritable(t *testing.T) {
	rmAtEnd(t, "procexe")
	ok(t, "run", "-d", "--name", "procexe", hostileImage, "/attack", "procexe", "200")
	if !eventually(10*time.Second, func() bool { return strings.Contains(mr(t, "logs", "procexe").stdout, `"ready"`) }) {
		t.Fatalf("the attack did not start: %+v", mr(t, "logs", "procexe"))
	}
	execs := 0
	for i := 0; i < 12; i++ {
		if r := mr(t, "exec", "procexe", "sleep", "0.05"); r.code == 0 {
			execs++
		} else if !strings.Contains(r.stderr, "not running") {
			t.Logf("exec %d: exit %d %s", i, r.code, r.stderr)
		}
	}
	if !eventually(30*time.Second, func() bool {
		_, st, found := inspectState(t, stateRoot, dataRoot, "procexe")
		return found && st["Status"] == "exited"
	}) {
		t.Fatal("the attack did not finish its 200 rounds in 30s")
	}
	var sum struct {
		Tries, Foreign, Opened, Wrote int
		Seen                          []string
	}
	logs := mr(t, "logs", "procexe").stdout
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.HasPrefix(l, `{"foreign"`) || strings.Contains(l, `"tries"`) {
			json.Unmarshal([]byte(l), &sum)
		}
	}
	t.Logf("%d execs; attack: %d tries on %d foreign processes %v", execs, sum.Tries, sum.Foreign, sum.Seen)
	if execs == 0 {
		t.Errorf("%s: no exec into the container worked, so nothing was attacked", itemProcExe)
	}
	if sum.Opened > 0 || sum.Wrote > 0 {
		t.Errorf("%s: the container opened minirun's executable for writing %d times and wrote %d times:\n%s", itemProcExe, sum.Opened, sum.Wrote, logs)
	}
	if h, err := sha256File(binary); err != nil || h != binaryHash {
		t.Errorf("%s: the host's minirun binary changed (sha256 %s, was %s, %v)", itemProcExe, h, binaryHash, err)
	}
}
