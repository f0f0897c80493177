//go:build integration

package integration

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runD(t *testing.T, name string, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(ok(t, append([]string{"run", "-d", "--name", name}, args...)...))
	rmAtEnd(t, name)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want the container id", id)
	}
	return id
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// The output of a detached container is in `logs` after the CLI exited,
// as Docker's json-file; `logs -f` follows new lines.
func TestDetachedLogs(t *testing.T) {
	runD(t, "logd", "busybox", "sh", "-c", "echo primeira; echo erro >&2; sleep 1; echo segunda; sleep 30")
	eventually(t, "the first line", 5*time.Second, func() bool { return strings.Contains(ok(t, "logs", "logd"), "primeira") })
	r := mr(t, "logs", "logd")
	if !strings.Contains(r.stderr, "erro") || strings.Contains(r.stdout, "erro") {
		t.Fatalf("stderr lines must come back on stderr: %q / %q", r.stdout, r.stderr)
	}
	meta := inspect(t, "logd")
	b, err := os.ReadFile(meta["LogPath"].(string))
	if err != nil || !strings.Contains(string(b), `"log":"primeira\n","stream":"stdout","time":"`) {
		t.Fatalf("not Docker's json-file format: %q %v", b, err)
	}
	// logs -f sees the line written later, then returns when the container ends.
	done := make(chan result, 1)
	go func() { done <- mr(t, "logs", "-f", "--tail", "1", "logd") }()
	time.Sleep(1500 * time.Millisecond)
	ok(t, "kill", "logd")
	select {
	case r := <-done:
		if !strings.Contains(r.stdout, "segunda") {
			t.Fatalf("logs -f did not follow: %q", r.stdout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not return after the container ended")
	}
	if out := ok(t, "logs", "-t", "--tail", "1", "logd"); !strings.Contains(out, "T") || !strings.Contains(out, "segunda") {
		t.Fatalf("logs -t --tail 1: %q", out)
	}
}

// stop -t 2 on a process that ignores TERM ends it with KILL after about
// 2 s, and records 137.
func TestStopTimeout(t *testing.T) {
	runD(t, "teimoso", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 1; done")
	start := time.Now()
	ok(t, "stop", "-t", "2", "teimoso")
	took := time.Since(start)
	if took < 2*time.Second || took > 5*time.Second {
		t.Fatalf("stop -t 2 took %v", took)
	}
	st := inspect(t, "teimoso")["State"].(map[string]interface{})
	if st["Status"] != "exited" || st["ExitCode"].(float64) != 137 || st["Running"] != false {
		t.Fatalf("State after stop: %v", st)
	}
	if !strings.Contains(ok(t, "ps", "-a", "--filter", "status=exited"), "teimoso") {
		t.Fatal("ps --filter status=exited does not list it")
	}
}

// exec sees the same namespaces and cgroup as the container's init; its
// exit code comes back.
func TestExecSameNamespaces(t *testing.T) {
	runD(t, "alvo", "busybox", "sleep", "60")
	init := ok(t, "exec", "alvo", "sh", "-c", "for n in pid net mnt uts ipc cgroup; do readlink /proc/1/ns/$n; done; cat /proc/1/cgroup")
	mine := ok(t, "exec", "alvo", "sh", "-c", "for n in pid net mnt uts ipc cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup")
	if init != mine {
		t.Fatalf("exec's namespaces/cgroup differ from the init's:\n%s\nvs\n%s", mine, init)
	}
	if r := mr(t, "exec", "alvo", "sh", "-c", "exit 42"); r.code != 42 {
		t.Fatalf("exec exit %d, want 42", r.code)
	}
	out := ok(t, "exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "alvo", "sh", "-c", "id -u; pwd; echo $X; grep -E 'NoNewPrivs|Seccomp:' /proc/self/status")
	f := strings.Fields(out)
	if len(f) < 7 || f[0] != "65534" || f[1] != "/tmp" || f[2] != "1" || f[4] != "1" || f[6] != "2" {
		t.Fatalf("exec -u -w -e: %q", out)
	}
	if out := ok(t, "top", "alvo"); !strings.Contains(out, "sleep 60") {
		t.Fatalf("top: %s", out)
	}
}

// Killing the shim with SIGKILL takes the container with it (parent-death
// signal): no zombie, ps -a shows it exited, rm removes everything.
func TestShimKilled(t *testing.T) {
	id := runD(t, "orfao", "busybox", "sleep", "60")
	pid := int(inspect(t, "orfao")["State"].(map[string]interface{})["Pid"].(float64))
	shimPid := ppid(t, pid)
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(shimPid) + "/cmdline"); !strings.HasPrefix(string(b), "minirun-shim") {
		t.Fatalf("the container's parent is %q, not its shim", b)
	}
	syscall.Kill(shimPid, syscall.SIGKILL)
	eventually(t, "the container to die with its shim", 5*time.Second, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(b), ") Z")
	})
	eventually(t, "ps -a to say exited", 5*time.Second, func() bool {
		return strings.Contains(ok(t, "ps", "-a"), "Exited")
	})
	ok(t, "rm", "orfao")
	if out, _ := exec.Command("sh", "-c", "ps -eo stat,args | grep -c '^Z.*sleep 60'").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("zombies left: %s", out)
	}
	if _, err := os.Stat(stateRoot + "/" + id); err == nil {
		t.Fatal("runtime state left after rm")
	}
}

func ppid(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	p, _ := strconv.Atoi(f[1])
	return p
}

// --restart on-failure:3 restarts a failing container three times, then stops.
func TestRestartOnFailure(t *testing.T) {
	runD(t, "falha", "--restart", "on-failure:3", "busybox", "sh", "-c", "echo tentativa; exit 1")
	eventually(t, "three restarts", 20*time.Second, func() bool {
		m := inspect(t, "falha")
		return m["State"].(map[string]interface{})["Status"] == "exited" && m["RestartCount"].(float64) == 3
	})
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(ok(t, "logs", "falha"), "tentativa"); n != 4 {
		t.Fatalf("%d runs, want 4 (the first and three restarts)", n)
	}
	if r := mr(t, "wait", "falha"); strings.TrimSpace(r.stdout) != "1" {
		t.Fatalf("wait: %q", r.stdout)
	}
}

// A container can be started again on the same rootfs, keeping its files.
func TestStartAgainKeepsFiles(t *testing.T) {
	runD(t, "denovo", "busybox", "sh", "-c", "echo x >> /contagem; wc -l < /contagem")
	eventually(t, "the first run to end", 5*time.Second, func() bool {
		return inspect(t, "denovo")["State"].(map[string]interface{})["Status"] == "exited"
	})
	r := mr(t, "start", "-a", "denovo")
	if strings.TrimSpace(r.stdout) != "2" {
		t.Fatalf("second run saw %q lines, want 2", r.stdout)
	}
	ok(t, "rename", "denovo", "renomeado")
	rmAtEnd(t, "renomeado")
	if !strings.Contains(ok(t, "ps", "-a", "--format", "{{.Names}} {{.Status}}"), "renomeado Exited (0)") {
		t.Fatal("ps --format after rename")
	}
	ok(t, "container", "prune")
	if strings.Contains(ok(t, "ps", "-a"), "renomeado") {
		t.Fatal("container prune kept an exited container")
	}
}
