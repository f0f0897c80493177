//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	r := &shellRun{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	in, out := startPiped(t, cmd, r.stderr)
	r.stdin = in
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
// its links and nftables table, its cgroups (rmdir: only if empty),
// minirun's shared parent if it is left empty, its mounts and its
// directory.
func (r *shellRun) sweep() {
	// The network script's links and table (network.ShellVars): only
	// scripts make them, and one script runs at a time (the root tests'
	// lock), so all of them go, even when the script failed before it said
	// its $ID.
	links, _ := filepath.Glob("/sys/class/net/mrsh*")
	for _, l := range links {
		exec.Command("ip", "link", "del", filepath.Base(l)).Run()
	}
	exec.Command("nft", "delete", "table", "ip", "minirun_shell").Run()
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
	t.Run("network", func(t *testing.T) {
		r := startShell(t, "network")
		x := strings.TrimPrefix(r.id, "shell-")
		br, veth := "mrsh-"+x, "mrsh"+x+"h"
		// minirun's own run of the script's scenario (course/network.go,
		// networkShell): a network, a container on it publishing a port.
		ok(t, "network", "create", "--subnet", "10.78.61.0/24", "shellnet")
		t.Cleanup(func() { mr(t, "network", "rm", "shellnet") })
		mpid := runMinirun(t, "shellnet1", "--network", "shellnet", "-p", "18082:80")
		var nets []struct {
			ID     string `json:"Id"`
			Bridge string
		}
		if err := json.Unmarshal([]byte(ok(t, "network", "inspect", "shellnet")), &nets); err != nil || len(nets) != 1 {
			t.Fatalf("network inspect shellnet: %v", err)
		}
		mid := inspect(t, "shellnet1")["Id"].(string)
		mine := netState{bridge: nets[0].Bridge, veth: "mr" + mid[:10] + "0h", subnet: "10.78.61", pid: mpid, port: "18082",
			table: "minirun", tags: []string{"minirun:" + nets[0].ID[:12], "minirun:" + mid[:12]}}
		theirs := netState{bridge: br, veth: veth, subnet: "10.98.0", pid: r.pid, port: "18080", table: "minirun_shell"}
		want, got := mine.read(t), theirs.read(t)
		if len(want) < 10 {
			t.Fatalf("minirun's own network state is too small to compare with: %q", want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("the script built\n\t%s\nminirun builds\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
		// ICMP over the bridge, both ways, inside the namespaces the
		// script made; then a published port through the host's
		// localhost (output DNAT, route_localnet, masquerade).
		if out, err := exec.Command("busybox", "ping", "-c1", "-W2", "10.98.0.2").CombinedOutput(); err != nil {
			t.Errorf("ping the script's container from the host: %v: %s", err, out)
		}
		if out, err := exec.Command("nsenter", "-t", strconv.Itoa(r.pid), "-n", "busybox", "ping", "-c1", "-W2", "10.98.0.1").CombinedOutput(); err != nil {
			t.Errorf("ping the gateway from the script's container: %v: %s", err, out)
		}
		www := t.TempDir()
		os.WriteFile(filepath.Join(www, "hello"), []byte("oi\n"), 0o644)
		httpd := exec.Command("nsenter", "-t", strconv.Itoa(r.pid), "-n", "busybox", "httpd", "-f", "-p", "80", "-h", www)
		if err := httpd.Start(); err != nil {
			t.Fatal(err)
		}
		var body string
		for i := 0; i < 50 && body != "oi\n"; i++ {
			time.Sleep(100 * time.Millisecond)
			if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://127.0.0.1:18080/hello"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
		}
		httpd.Process.Kill()
		httpd.Wait()
		if body != "oi\n" {
			t.Errorf("127.0.0.1:18080 (the script's -p 18080:80) answered %q", body)
		}
		r.teardown(t)
		r.checkGone(t)
		links, _ := exec.Command("ip", "-o", "link", "show").Output()
		if strings.Contains(string(links), "mrsh"+x) || strings.Contains(string(links), br) {
			t.Errorf("the script's links are left:\n%s", links)
		}
		if out, err := exec.Command("nft", "-j", "list", "table", "ip", "minirun_shell").CombinedOutput(); err == nil {
			t.Errorf("table ip minirun_shell is left: %s", out)
		}
		if out, err := exec.Command("nft", "list", "ruleset").Output(); err == nil && strings.Contains(string(out), "minirun_shell") {
			t.Errorf("objects of the script are left in the ruleset:\n%s", out)
		}
	})
}

// netState is one container's network, as the host sees it: its bridge
// and host veth, its eth0, and the nftables rules of its network and its
// published port in table.
type netState struct {
	bridge, veth, subnet, port, table string
	pid                               int
	// tags are the rule comments that are this network's and this
	// container's (none: every rule of the table).
	tags []string
}

// read describes the state with the names and numbers that differ between
// two runs replaced (BR, VETH, SUB, PORT, TAG), one fact a line.
func (s netState) read(t *testing.T) []string {
	t.Helper()
	norm := strings.NewReplacer(s.bridge, "BR", s.veth, "VETH", s.subnet+".", "SUB.", s.port, "PORT")
	var out []string
	type link struct {
		Name     string `json:"ifname"`
		Master   string `json:"master"`
		Flags    []string
		LinkInfo struct {
			Kind string `json:"info_kind"`
		} `json:"linkinfo"`
		Addr []struct {
			Family string
			Local  string
			Len    int `json:"prefixlen"`
		} `json:"addr_info"`
	}
	links := func(args ...string) []link {
		b, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var ls []link
		if err := json.Unmarshal(b, &ls); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return ls
	}
	describe := func(where string, ls []link) {
		for _, l := range ls {
			f := fmt.Sprintf("%s: link %s kind %s master %q up %v", where, l.Name, l.LinkInfo.Kind, l.Master, slices.Contains(l.Flags, "UP"))
			for _, a := range l.Addr {
				if a.Family == "inet" {
					f += fmt.Sprintf(" inet %s/%d", a.Local, a.Len)
				}
			}
			out = append(out, norm.Replace(f))
		}
	}
	for _, l := range []string{s.bridge, s.veth} {
		b := links("ip", "-j", "-d", "link", "show", "dev", l)
		a := links("ip", "-j", "addr", "show", "dev", l)
		if len(b) == 1 && len(a) == 1 {
			b[0].Addr = a[0].Addr
		}
		describe("host", b)
	}
	p := strconv.Itoa(s.pid)
	b := links("nsenter", "-t", p, "-n", "ip", "-j", "-d", "link", "show", "dev", "eth0")
	if a := links("nsenter", "-t", p, "-n", "ip", "-j", "addr", "show", "dev", "eth0"); len(b) == 1 && len(a) == 1 {
		b[0].Addr = a[0].Addr
	}
	describe("container", b)
	if r, err := exec.Command("nsenter", "-t", p, "-n", "ip", "route", "show", "default").Output(); err == nil {
		out = append(out, norm.Replace("container: "+strings.TrimSpace(string(r))))
	}
	rs, err := exec.Command("nft", "list", "table", "ip", s.table).Output()
	if err != nil {
		t.Fatalf("nft list table ip %s: %v", s.table, err)
	}
	counters := regexp.MustCompile(`counter packets \d+ bytes \d+`)
	tag := regexp.MustCompile(`comment "minirun:[0-9a-f]{12}"`)
	chain := ""
	for _, l := range strings.Split(string(rs), "\n") {
		l = strings.TrimSpace(l)
		if c, ok := strings.CutPrefix(l, "chain "); ok {
			chain = strings.TrimSuffix(c, " {")
			continue
		}
		m := tag.FindString(l)
		if m == "" {
			continue
		}
		if len(s.tags) > 0 && !slices.Contains(s.tags, strings.TrimSuffix(strings.TrimPrefix(m, `comment "`), `"`)) {
			continue
		}
		l = counters.ReplaceAllString(tag.ReplaceAllString(l, `comment "TAG"`), "counter")
		out = append(out, norm.Replace("nft "+chain+": "+l))
	}
	slices.Sort(out)
	return out
}
