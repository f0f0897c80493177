//go:build integration

package integration

// The daemon under load: clients at once, each `docker run --rm busybox
// true` after another, through one `minirun daemon`; no run may fail and
// none may leave anything behind. A smaller bench/daemon-load.sh (20
// clients, 200 runs).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDaemonLoadNoErrorNoLeak(t *testing.T) {
	const clients, runs = 8, 40
	d := startDaemon(t)
	// One run first: the suite's bridge and its rules exist from here on
	// and are not the runs' to remove.
	d.dockerOK(t, "run", "--rm", "busybox", "true")
	daemonPid := pidServing(t, d.sock)
	before := snapshot()
	rulesBefore := nftRules(t)

	cidDir := t.TempDir()
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < runs; i += clients {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				cmd := exec.CommandContext(ctx, dockerClient(), "run", "--rm", "--cidfile", filepath.Join(cidDir, strconv.Itoa(i)), "busybox", "true")
				cmd.Env = d.env
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("run %d: %v: %s", i, err, strings.TrimSpace(out.String())))
					mu.Unlock()
				}
				cancel()
			}
		}(c)
	}
	wg.Wait()
	t.Logf("%d clients, %d runs in %v", clients, runs, time.Since(start).Round(time.Millisecond))
	for _, e := range errs {
		t.Error(e)
	}

	var ids []string
	ents, _ := os.ReadDir(cidDir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(cidDir, e.Name()))
		if err == nil && len(strings.TrimSpace(string(b))) == 64 {
			ids = append(ids, strings.TrimSpace(string(b)))
		}
	}
	if len(ids) < runs-len(errs) { // a failed run may have made one too
		t.Errorf("%d container ids recorded for %d runs that succeeded", len(ids), runs-len(errs))
	}

	// A --rm run's client returns once its container is removed; the
	// shim ends a moment after. The stragglers get 5 s.
	var kids []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		kids = childrenOf(daemonPid)
		if (len(kids) == 0 && len(snapshot().procs) <= len(before.procs)) || time.Now().After(deadline) {
			break
		}
	}
	// Each shim is the daemon's child until it exits; one the daemon
	// does not wait for stays a zombie for as long as the daemon lives.
	if len(kids) > 0 {
		t.Errorf("the daemon has %d children left (shims not reaped): %v", len(kids), kids)
	}
	for _, l := range snapshot().leaksSince(before) {
		t.Errorf("leak: %s", l)
	}
	if now := nftRules(t); now != rulesBefore {
		t.Errorf("table ip minirun had %d rules of the suite's bridge before the runs, %d after", rulesBefore, now)
	}
	rules, _ := exec.Command("nft", "list", "table", "ip", "minirun").Output()
	links, _ := os.ReadDir("/sys/class/net")
	for _, id := range ids {
		if r := mr(t, "inspect", id); r.code == 0 {
			t.Errorf("container %s is still there", id[:12])
		}
		for _, p := range []string{filepath.Join(stateRoot, id), filepath.Join(stateRoot, ".shims", id[:12]+".sock"), filepath.Join(dataRoot, "containers", id)} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("run %s left %s", id[:12], p)
			}
		}
		if m, _ := filepath.Glob("/sys/fs/cgroup/*/minirun/" + id); len(m) > 0 {
			t.Errorf("run %s left cgroups %v", id[:12], m)
		}
		if _, err := os.Stat("/sys/fs/cgroup/minirun/" + id); err == nil {
			t.Errorf("run %s left its cgroup", id[:12])
		}
		for _, l := range links {
			if strings.HasPrefix(l.Name(), "mr"+id[:10]) {
				t.Errorf("run %s left link %s", id[:12], l.Name())
			}
		}
		if bytes.Contains(rules, []byte("minirun:"+id[:12])) {
			t.Errorf("run %s left nft rules", id[:12])
		}
	}
	// The daemon still serves.
	d.dockerOK(t, "version")
}

// pidServing is the pid of the `minirun daemon` listening on sock.
func pidServing(t *testing.T, sock string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), "\x00daemon\x00") && strings.Contains(string(b), "unix://"+sock+"\x00") {
			pid, _ := strconv.Atoi(e.Name())
			return pid
		}
	}
	t.Fatalf("no daemon process serves %s", sock)
	return 0
}

// childrenOf lists pid's children, live or zombie, with their state and
// command ("12345 Z minirun-shim").
func childrenOf(pid int) []string {
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			st, _ := os.ReadFile("/proc/" + c + "/stat")
			s := string(st)
			if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 {
				j := strings.IndexByte(s, '(')
				out = append(out, c+" "+s[i+2:i+3]+" "+s[j+1:i])
				continue
			}
			out = append(out, c)
		}
	}
	return out
}

// nftRules counts the rules of minirun's table that name the suite's
// bridge (mrtest0): other networks' rules are not the suite's to count.
func nftRules(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", "minirun").Output()
	if err != nil {
		return 0
	}
	return strings.Count(string(out), `"mrtest0"`)
}
