//go:build integration

package integration

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tmux drives a real terminal, as a student would: `run -it` shows a
// prompt, runs a typed command, detaches with Ctrl-P Ctrl-Q (the container
// keeps running), and `attach` reconnects.
func TestRunInteractiveTTY(t *testing.T) {
	cli := binary + " --root " + stateRoot + " --data-root " + dataRoot
	interactiveTTY(t, cli, "tty1", "detached")
}

// The same, with the deck's `docker run -it` through `minirun daemon`:
// the docker client puts its terminal in raw mode and sends the window
// size (POST /containers/ID/resize); Ctrl-P Ctrl-Q is caught by the
// client's own escape proxy (docker/cli hijack.go), which ends the attach
// and exits quietly: the marker the pane prints after it shows it left.
func TestDaemonInteractiveTTY(t *testing.T) {
	d := startDaemon(t)
	var env []string
	for _, kv := range d.env {
		if strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, "'"+kv+"'")
		}
	}
	cli := "env " + strings.Join(env, " ") + " " + dockerClient()
	interactiveTTY(t, cli, "dtty1", "client-left")
}

// interactiveTTY runs `CLI run -it --name NAME busybox sh` in a tmux pane
// of 100x30, types a command, checks the pane's size reached the
// container's pty, detaches (waiting for detached on the screen: the
// client's message, or the pane's client-left once the client exited),
// attaches again and exits.
func interactiveTTY(t *testing.T, cli, name, detached string) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	session := "minirun-test-" + name
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v %s", args, err, out)
		}
		return string(out)
	}
	screen := func() string { return tmux("capture-pane", "-p", "-t", session) }
	waitScreen := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(screen(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("never saw %q on the screen:\n%s", what, screen())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", cli+" run -it --name "+name+" busybox sh; echo client-left; sleep 30")
	t.Cleanup(func() {
		exec.Command("tmux", "kill-session", "-t", session).Run()
		mr(t, "rm", "-f", name)
	})
	waitScreen("/ #")
	tmux("send-keys", "-t", session, "echo soma=$((20+22)); stty size", "Enter")
	waitScreen("soma=42")
	waitScreen("30 100") // the window size reached the container's pty
	tmux("send-keys", "-t", session, "C-p", "C-q")
	waitScreen(detached)
	if st := inspect(t, name)["State"].(map[string]interface{}); st["Running"] != true {
		t.Fatalf("after Ctrl-P Ctrl-Q the container is not running: %v", st)
	}
	tmux("respawn-pane", "-k", "-t", session, cli+" attach "+name+"; sleep 30")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "-t", session, "echo de-volta", "Enter")
	waitScreen("de-volta")
	tmux("send-keys", "-t", session, "exit", "Enter")
	eventually(t, "the container to exit", 5*time.Second, func() bool {
		return inspect(t, name)["State"].(map[string]interface{})["Status"] == "exited"
	})
}
