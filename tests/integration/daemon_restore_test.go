//go:build integration

package integration

// Live restore: the containers are their shims', not the daemon's, so a
// daemon killed with SIGKILL leaves them running and a new daemon serves
// them (logs, exec, stop, rm) from their records and shims.

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDaemonLiveRestore(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	up := func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	env := dockerEnv(t, "DOCKER_HOST=unix://"+sock)
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(dockerClient(), args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	names := []string{"dlr1", "dlr2", "dlr3"}
	rmAtEnd(t, names...)
	first, _ := startDaemonArgs(t, up, "-H", "unix://"+sock)
	for _, n := range names {
		// --network none: the test is about the shims, not the bridge.
		docker("run", "-d", "--network", "none", "--name", n, "busybox", "sh", "-c", "echo hello "+n+"; exec sleep 300")
	}
	// The daemon dies without a chance to clean up.
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if up() {
		t.Fatal("the killed daemon still answers")
	}
	// The containers still run, by the CLI's account (no daemon at all).
	for _, n := range names {
		if st := strings.TrimSpace(ok(t, "ps", "-q", "--filter", "name="+n)); st == "" {
			t.Fatalf("%s is not running after the daemon was killed: %s", n, ok(t, "ps", "-a"))
		}
	}
	// A new daemon, on the same socket (the stale one is cleared).
	startDaemonArgs(t, up, "-H", "unix://"+sock)
	ps := docker("ps", "--format", "{{.Names}} {{.State}}")
	for _, n := range names {
		if !strings.Contains(ps, n+" running") {
			t.Fatalf("docker ps through the new daemon: %q, want %s running", ps, n)
		}
		var logs string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if logs = docker("logs", n); logs == "hello "+n+"\n" {
				break
			}
		}
		if logs != "hello "+n+"\n" {
			t.Fatalf("docker logs %s through the new daemon: %q", n, logs)
		}
	}
	for _, n := range names {
		if out := strings.TrimSpace(docker("stop", "-t", "1", n)); out != n {
			t.Fatalf("docker stop %s: %q", n, out)
		}
		if st := strings.TrimSpace(docker("inspect", "--format", "{{.State.Status}}", n)); st != "exited" {
			t.Fatalf("after docker stop %s: %q", n, st)
		}
		docker("rm", n)
	}
	if out := strings.TrimSpace(ok(t, "ps", "-a", "-q", "--filter", "name=dlr")); out != "" {
		t.Fatalf("after docker rm: %q left", out)
	}
}
