//go:build integration

package integration

// Live restore: the containers are their shims', not the daemon's, so a
// daemon killed with SIGKILL leaves them running and a new daemon serves
// them (logs, exec, stop, rm) from their records and shims.

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restorableDaemon is a daemon on a socket of the test's own that a
// live-restore test kills with SIGKILL and starts again on the same
// socket; its docker and dockerOK (daemonUnderTest's) reach whichever one
// is up.
type restorableDaemon struct {
	daemonUnderTest
	cmd *exec.Cmd
}

// startRestorable starts the first daemon.
func startRestorable(t *testing.T) *restorableDaemon {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	d := &restorableDaemon{daemonUnderTest: daemonUnderTest{sock: sock, env: dockerEnv(t, "DOCKER_HOST=unix://"+sock)}}
	d.restart(t)
	return d
}

// kill kills the daemon with SIGKILL, without a chance to clean up, and
// waits until it is gone and answers no more.
func (d *restorableDaemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.cmd.Wait()
	if d.up() {
		t.Fatal("the killed daemon still answers")
	}
}

// restart starts a new daemon on the same socket (the stale one is
// cleared) and waits until it answers.
func (d *restorableDaemon) restart(t *testing.T) {
	t.Helper()
	d.cmd, d.log = startDaemonArgs(t, d.up, "-H", "unix://"+d.sock)
}

func TestDaemonLiveRestore(t *testing.T) {
	names := []string{"dlr1", "dlr2", "dlr3"}
	rmAtEnd(t, names...)
	d := startRestorable(t)
	for _, n := range names {
		// --network none: the test is about the shims, not the bridge.
		d.dockerOK(t, "run", "-d", "--network", "none", "--name", n, "busybox", "sh", "-c", "echo hello "+n+"; exec sleep 300")
	}
	d.kill(t)
	// The containers still run, by the CLI's account (no daemon at all).
	for _, n := range names {
		if st := strings.TrimSpace(ok(t, "ps", "-q", "--filter", "name="+n)); st == "" {
			t.Fatalf("%s is not running after the daemon was killed: %s", n, ok(t, "ps", "-a"))
		}
	}
	d.restart(t)
	ps := d.dockerOK(t, "ps", "--format", "{{.Names}} {{.State}}")
	for _, n := range names {
		if !strings.Contains(ps, n+" running") {
			t.Fatalf("docker ps through the new daemon: %q, want %s running", ps, n)
		}
		var logs string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if logs = d.dockerOK(t, "logs", n); logs == "hello "+n+"\n" {
				break
			}
		}
		if logs != "hello "+n+"\n" {
			t.Fatalf("docker logs %s through the new daemon: %q", n, logs)
		}
	}
	for _, n := range names {
		if out := strings.TrimSpace(d.dockerOK(t, "stop", "-t", "1", n)); out != n {
			t.Fatalf("docker stop %s: %q", n, out)
		}
		if st := strings.TrimSpace(d.dockerOK(t, "inspect", "--format", "{{.State.Status}}", n)); st != "exited" {
			t.Fatalf("after docker stop %s: %q", n, st)
		}
		d.dockerOK(t, "rm", n)
	}
	if out := strings.TrimSpace(ok(t, "ps", "-a", "-q", "--filter", "name=dlr")); out != "" {
		t.Fatalf("after docker rm: %q left", out)
	}
}
