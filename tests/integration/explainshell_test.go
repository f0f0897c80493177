//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shellRun is a running `minirun explain CHAPTER --shell` script: the
// values it printed when ready, and how to make it tear down.
type shellRun struct {
	id, state string
	pid       int
	cmd       *exec.Cmd
	stdin     interface{ Close() error }
	stderr    *bytes.Buffer
	done      chan error
}

var readyLine = regexp.MustCompile(`^minirun-shell: ready ID=(\S+) PID=(\d+) STATE=(\S+)$`)

// startShell prints the chapter's script with minirun and runs it with
// bash until it says it is ready; the container's process then lives until
// teardown closes the script's input.
func startShell(t *testing.T, chapter string) *shellRun {
	t.Helper()
	script := ok(t, "explain", chapter, "--shell", "--lang", "en")
	path := filepath.Join(t.TempDir(), chapter+".sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &shellRun{cmd: cmd, stdin: in, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		r.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		r.teardown(t)
		r.sweep()
	})
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, open := <-lines:
			if !open {
				t.Fatalf("the %s script ended before it was ready: %s\nscript:\n%s", chapter, r.stderr, script)
			}
			if m := readyLine.FindStringSubmatch(l); m != nil {
				r.id, r.state = m[1], m[3]
				r.pid, _ = strconv.Atoi(m[2])
				go func() {
					for range lines {
					}
				}()
				return r
			}
		case <-timeout:
			t.Fatalf("the %s script is not ready after 60 s: %s", chapter, r.stderr)
		}
	}
}

// teardown ends the script's input: its EXIT trap runs the undo stack. It
// fails the test unless the script then exits 0.
func (r *shellRun) teardown(t *testing.T) {
	t.Helper()
	if r.stdin == nil {
		return
	}
	r.stdin.Close()
	r.stdin = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("script teardown: %v: %s", err, r.stderr)
		}
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		t.Errorf("script teardown did not end in 30 s: %s", r.stderr)
	}
}

// sweep removes what a broken script's teardown left, once the script
// has ended, so that one failure does not fail the suite's leak check too:
// its cgroups (rmdir: only if empty), minirun's shared parent if it is left
// empty, its mounts and its directory.
func (r *shellRun) sweep() {
	if r.id == "" {
		return
	}
	for _, pat := range []string{"/sys/fs/cgroup/*/minirun/" + r.id, "/sys/fs/cgroup/minirun/" + r.id, "/sys/fs/cgroup/*/minirun", "/sys/fs/cgroup/minirun"} {
		m, _ := filepath.Glob(pat)
		for _, d := range m {
			os.Remove(d)
		}
	}
	if strings.HasPrefix(r.state, "/tmp/minirun-shell.") {
		exec.Command("umount", "-l", filepath.Join(r.state, "lib/containers", r.id, "merged")).Run()
		os.RemoveAll(r.state)
	}
}

// checkGone checks that the script left nothing: no process, no mount
// under its directory, no cgroup named after its id, no directory.
func (r *shellRun) checkGone(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", r.pid)); err == nil {
		t.Errorf("process %d is still there", r.pid)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mi, []byte(r.state)) {
		t.Errorf("mounts under %s are left", r.state)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/minirun/" + r.id); len(m) > 0 {
		t.Errorf("cgroups left: %v", m)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/minirun/" + r.id); len(m) > 0 {
		t.Errorf("cgroups left: %v", m)
	}
	if _, err := os.Stat(r.state); err == nil {
		t.Errorf("%s is left", r.state)
	}
}

// runMinirun starts minirun's own container with args and returns its
// init's pid: what the script's state is compared with.
func runMinirun(t *testing.T, name string, args ...string) int {
	t.Helper()
	ok(t, append([]string{"run", "-d", "--name", name}, append(args, "busybox", "sleep", "120")...)...)
	rmAtEnd(t, name)
	return int(inspect(t, name)["State"].(map[string]interface{})["Pid"].(float64))
}

// newNamespaces lists the namespace types in which pid differs from this
// process.
func newNamespaces(t *testing.T, pid int) []string {
	t.Helper()
	var out []string
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			continue
		}
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			t.Fatal(err)
		}
		if theirs != host {
			out = append(out, ns)
		}
	}
	return out
}

// rootMount is the options of the mount at / of pid, and its type.
func rootMount(t *testing.T, pid int) (fstype, opts string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 10 || f[4] != "/" {
			continue
		}
		i := slices.Index(f, "-")
		fstype, opts = f[i+1], f[i+3]
	}
	return fstype, opts
}

// cgroupLimits reads the memory, cpu and pids limits of pid's cgroups,
// found from /proc/PID/cgroup, on either layout.
func cgroupLimits(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			dirs[c] = f[2]
		}
	}
	read := func(p string) string {
		v, err := os.ReadFile(p)
		if err != nil {
			return "missing"
		}
		return strings.TrimSpace(string(v))
	}
	out := map[string]string{}
	if _, v1 := dirs["memory"]; !v1 {
		p := dirs[""]
		d := "/sys/fs/cgroup" + p
		out["memory"], out["cpu"], out["pids"] = read(d+"/memory.max"), read(d+"/cpu.max"), read(d+"/pids.max")
		out["cgroup"] = p
		return out
	}
	out["memory"] = read("/sys/fs/cgroup/memory" + dirs["memory"] + "/memory.limit_in_bytes")
	out["cpu"] = read("/sys/fs/cgroup/cpu"+dirs["cpu"]+"/cpu.cfs_quota_us") + " " + read("/sys/fs/cgroup/cpu"+dirs["cpu"]+"/cpu.cfs_period_us")
	out["pids"] = read("/sys/fs/cgroup/pids" + dirs["pids"] + "/pids.max")
	out["cgroup"] = dirs["memory"]
	return out
}

// `minirun explain CHAPTER --shell` is a script that builds, by hand, the
// same kind of state minirun's own run builds, and whose teardown leaves
// nothing behind.
func TestExplainShell(t *testing.T) {
	t.Run("namespaces", func(t *testing.T) {
		r := startShell(t, "namespaces")
		want := newNamespaces(t, runMinirun(t, "shellns"))
		if got := newNamespaces(t, r.pid); !slices.Equal(got, want) {
			t.Errorf("the script's init has new namespaces %v; minirun's has %v", got, want)
		}
		if h, err := exec.Command("nsenter", "-t", strconv.Itoa(r.pid), "-u", "hostname").Output(); err != nil || strings.TrimSpace(string(h)) != r.id {
			t.Errorf("hostname in the script's uts namespace: %q %v, want %s", h, err, r.id)
		}
		r.teardown(t)
		r.checkGone(t)
	})
	t.Run("rootfs", func(t *testing.T) {
		r := startShell(t, "rootfs")
		mfs, mopts := rootMount(t, runMinirun(t, "shellrootfs"))
		fs, opts := rootMount(t, r.pid)
		for _, o := range []string{"lowerdir=", "upperdir=", "workdir="} {
			if !strings.Contains(mopts, o) {
				t.Fatalf("minirun's root (%s %s) has no %s: the comparison means nothing", mfs, mopts, o)
			}
			if !strings.Contains(opts, o+r.state+"/") {
				t.Errorf("the script's root (%s %s) has no %s under %s", fs, opts, o, r.state)
			}
		}
		if fs != mfs {
			t.Errorf("the script's root is %s, minirun's %s", fs, mfs)
		}
		ls, err := os.ReadDir(fmt.Sprintf("/proc/%d/root", r.pid))
		if err != nil || len(ls) != 1 || ls[0].Name() != "bin" {
			t.Errorf("the script's root holds %v (%v), want the busybox layer's bin only: the old root is not detached", ls, err)
		}
		r.teardown(t)
		r.checkGone(t)
	})
	t.Run("cgroups", func(t *testing.T) {
		r := startShell(t, "cgroups")
		// The chapter's limits (course/container.go): --memory 64m --cpus
		// 0.5 --pids-limit 64.
		want := cgroupLimits(t, runMinirun(t, "shellcg", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "64"))
		got := cgroupLimits(t, r.pid)
		if !strings.HasSuffix(got["cgroup"], "/minirun/"+r.id) {
			t.Errorf("the script's init is in cgroup %q, want …/minirun/%s", got["cgroup"], r.id)
		}
		for _, k := range []string{"memory", "cpu", "pids"} {
			if got[k] != want[k] || got[k] == "missing" {
				t.Errorf("%s limit: the script wrote %q, minirun %q", k, got[k], want[k])
			}
		}
		r.teardown(t)
		r.checkGone(t)
	})
}
