//go:build integration

package integration

// The daemon's exec, restart, pause, rename, top and wait, through
// Debian's docker client.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDaemonExec(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dex")
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "dex", "busybox", "sleep", "300")
	if out := d.dockerOK(t, "exec", "dex", "echo", "hi"); out != "hi\n" {
		t.Fatalf("docker exec dex echo hi: %q", out)
	}
	// stdout and stderr stay apart.
	if r := d.docker(t, "exec", "dex", "sh", "-c", "echo out; echo err >&2"); r.code != 0 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("docker exec with stderr: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// stdin reaches the process and its end ends it.
	if r := d.dockerIn(t, "one\ntwo\n", "exec", "-i", "dex", "cat"); r.code != 0 || r.stdout != "one\ntwo\n" {
		t.Fatalf("docker exec -i dex cat: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := d.docker(t, "exec", "dex", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("docker exec dex sh -c 'exit 3': exit %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	// -d: the process runs on after the client is gone.
	d.dockerOK(t, "exec", "-d", "dex", "sh", "-c", "echo bg > /tmp/bg")
	var out string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out = d.docker(t, "exec", "dex", "cat", "/tmp/bg").stdout; out == "bg\n" {
			break
		}
	}
	if out != "bg\n" {
		t.Fatalf("docker exec -d wrote %q, want bg", out)
	}
	// With a terminal (no tty on the client's side: -t alone).
	if r := d.docker(t, "exec", "-t", "dex", "tty"); r.code != 0 || !strings.HasPrefix(r.stdout, "/dev/pts/") {
		t.Fatalf("docker exec -t dex tty: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := d.docker(t, "exec", "nosuch", "true"); r.code == 0 || !strings.Contains(r.stderr, "No such container") {
		t.Fatalf("docker exec nosuch: exit %d, stderr %q", r.code, r.stderr)
	}
	d.dockerOK(t, "rm", "-f", "dex")
}

func TestDaemonLifecycle(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dlc", "dlc2", "dlw")
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "dlc", "busybox", "sleep", "300")
	pidOf := func() string {
		return strings.TrimSpace(d.dockerOK(t, "inspect", "-f", "{{.State.Pid}}", "dlc"))
	}
	first := pidOf()
	// top: the container's one process, sleep.
	top := d.dockerOK(t, "top", "dlc")
	if !strings.Contains(top, "PID") || !strings.Contains(top, "sleep 300") || !strings.Contains(top, first) {
		t.Fatalf("docker top dlc (pid %s): %q", first, top)
	}
	// pause: frozen, then thawed.
	d.dockerOK(t, "pause", "dlc")
	if st := strings.TrimSpace(d.dockerOK(t, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "dlc")); st != "paused true" {
		t.Fatalf("after docker pause: %q, want paused true", st)
	}
	if r := d.docker(t, "pause", "dlc"); r.code == 0 {
		t.Fatal("docker pause of a paused container succeeded")
	}
	d.dockerOK(t, "unpause", "dlc")
	if st := strings.TrimSpace(d.dockerOK(t, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "dlc")); st != "running false" {
		t.Fatalf("after docker unpause: %q, want running false", st)
	}
	// restart: a new init process.
	d.dockerOK(t, "restart", "-t", "1", "dlc")
	if second := pidOf(); second == first || second == "0" {
		t.Fatalf("docker restart: pid %s then %s", first, second)
	}
	// rename: the new name answers, the old one no longer.
	d.dockerOK(t, "rename", "dlc", "dlc2")
	if r := d.docker(t, "inspect", "dlc"); r.code == 0 {
		t.Fatal("the old name still answers after docker rename")
	}
	if r := d.docker(t, "rename", "dlc2", "bad/name"); r.code == 0 {
		t.Fatal("docker rename to an invalid name succeeded")
	}
	d.dockerOK(t, "rm", "-f", "dlc2")
	// wait: the exit code of a container that exits meanwhile.
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "dlw", "busybox", "sh", "-c", "sleep 1; exit 7")
	start := time.Now()
	if out := strings.TrimSpace(d.dockerOK(t, "wait", "dlw")); out != "7" {
		t.Fatalf("docker wait dlw: %q, want 7", out)
	}
	t.Logf("docker wait returned after %v (the container exits after 1 s)", time.Since(start))
	d.dockerOK(t, "rm", "dlw")
}

// TestDaemonWaitNoPolling: while a container runs, `docker wait` is
// answered from the shim's exit event, not by reading the records every
// 20 ms: the daemon's read(2) calls over a 2 s wait stay few.
func TestDaemonWaitNoPolling(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	daemon, _ := startDaemonArgs(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "-H", "unix://"+sock)
	env := dockerEnv(t, "DOCKER_HOST=unix://"+sock)
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(dockerClient(), args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return strings.TrimSpace(string(b))
	}
	rmAtEnd(t, "dwp")
	docker("run", "-d", "--network", "none", "--name", "dwp", "busybox", "sh", "-c", "sleep 2; exit 5")
	// syscr in proc(5)'s /proc/PID/io: the read-like syscalls so far.
	syscr := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", daemon.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "syscr: "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("no syscr in /proc/%d/io: %s", daemon.Process.Pid, b)
		return 0
	}
	before := syscr()
	start := time.Now()
	if out := docker("wait", "dwp"); out != "5" {
		t.Fatalf("docker wait dwp: %q, want 5", out)
	}
	took, reads := time.Since(start), syscr()-before
	t.Logf("docker wait: %v, %d read syscalls in the daemon", took, reads)
	// Polling reads the container's records 50 times a second (a few
	// reads each); the shim's event needs the requests' reads only.
	if reads > 200 {
		t.Fatalf("the daemon made %d read syscalls during a %v wait: it polls", reads, took)
	}
	docker("rm", "dwp")
}

// TestDaemonNetworkConnect: docker network connect and disconnect of a
// running container (a new interface comes and goes), and of a created
// one (aliases kept for its start; another network refused).
func TestDaemonNetworkConnect(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dnc", "dnc2")
	t.Cleanup(func() { d.docker(t, "network", "rm", "dncnet", "dncnet2") })
	d.dockerOK(t, "network", "create", "dncnet")
	d.dockerOK(t, "network", "create", "dncnet2")
	d.dockerOK(t, "run", "-d", "--network", "dncnet", "--name", "dnc", "busybox", "sleep", "300")
	links := func() string { return d.dockerOK(t, "exec", "dnc", "ls", "/sys/class/net") }
	if l := links(); strings.Contains(l, "eth1") {
		t.Fatalf("before connect: %q", l)
	}
	d.dockerOK(t, "network", "connect", "--alias", "extra", "dncnet2", "dnc")
	if l := links(); !strings.Contains(l, "eth1") {
		t.Fatalf("after docker network connect: %q, want eth1", l)
	}
	if r := d.docker(t, "network", "connect", "nosuchnet", "dnc"); r.code == 0 {
		t.Fatal("docker network connect to a missing network succeeded")
	}
	d.dockerOK(t, "network", "disconnect", "dncnet2", "dnc")
	if l := links(); strings.Contains(l, "eth1") {
		t.Fatalf("after docker network disconnect: %q", l)
	}
	// A created container: its own network takes the alias for its start,
	// another network is refused in one line.
	d.dockerOK(t, "create", "--network", "dncnet", "--name", "dnc2", "busybox", "sleep", "300")
	d.dockerOK(t, "network", "connect", "--alias", "second", "dncnet", "dnc2")
	if r := d.docker(t, "network", "connect", "dncnet2", "dnc2"); r.code == 0 || !strings.Contains(r.stderr, "not running") {
		t.Fatalf("docker network connect of a created container to another network: exit %d, %q", r.code, r.stderr)
	}
	d.dockerOK(t, "start", "dnc2")
	if out := d.dockerOK(t, "exec", "dnc", "nslookup", "second"); !strings.Contains(out, "Address") {
		t.Fatalf("the alias given before start does not resolve: %q", out)
	}
	d.dockerOK(t, "rm", "-f", "dnc", "dnc2")
}
