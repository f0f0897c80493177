//go:build integration

package integration

// The deck's docker commands that the other daemon tests do not type:
// `run -d -p`, `logs -f`, `exec -it` and two containers behind one
// --network-alias, with the real docker client through `minirun daemon`.

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestDaemonDeckCommands(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "ddweb", "ddlog", "ddw1", "ddw2")
	t.Cleanup(func() { d.docker(t, "network", "rm", "ddnet") })

	// docker run -d -p: the published port answers on the host.
	id := strings.TrimSpace(d.dockerOK(t, "run", "-d", "-p", "18091:80", "--name", "ddweb", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"))
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = httpGet("http://127.0.0.1:18091/hostname"); got == id[:12] {
			break
		}
	}
	if got != id[:12] {
		t.Fatalf("127.0.0.1:18091 answered %q, want the container's hostname %s", got, id[:12])
	}
	if out := d.dockerOK(t, "port", "ddweb"); !strings.Contains(out, "80/tcp -> 0.0.0.0:18091") {
		t.Fatalf("docker port ddweb: %q", out)
	}

	// docker logs -f follows until the container ends, then returns.
	d.dockerOK(t, "run", "-d", "--name", "ddlog", "busybox", "sh", "-c", "for i in 1 2 3; do echo linha$i; sleep 0.3; done")
	start := time.Now()
	if out := d.dockerOK(t, "logs", "-f", "ddlog"); out != "linha1\nlinha2\nlinha3\n" {
		t.Fatalf("docker logs -f ddlog: %q", out)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("docker logs -f did not return when the container ended")
	}

	// docker exec -it, in a real terminal: a shell on a pty.
	execIt(t, d, "ddweb")

	// Two containers behind one alias: DNS rotates, both answer.
	d.dockerOK(t, "network", "create", "ddnet")
	for _, n := range []string{"ddw1", "ddw2"} {
		d.dockerOK(t, "run", "-d", "--network", "ddnet", "--network-alias", "web", "-h", n, "--name", n, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	}
	out := d.dockerOK(t, "run", "--rm", "--network", "ddnet", "busybox", "sh", "-c", roundRobinScript)
	checkRoundRobin(t, out, "ddw1", "ddw2")
	d.dockerOK(t, "rm", "-f", "ddweb", "ddlog", "ddw1", "ddw2")
	d.dockerOK(t, "network", "rm", "ddnet")
}

// httpGet is the body of a GET, or the error's text.
func httpGet(url string) string {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// execIt runs `docker exec -it NAME sh` in a tmux pane (the client wants a
// terminal for -t) and checks the shell runs on a pty.
func execIt(t *testing.T, d *daemonUnderTest, name string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	var env []string
	for _, kv := range d.env {
		if strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, "'"+kv+"'")
		}
	}
	session := "minirun-test-execit"
	cmd := "env " + strings.Join(env, " ") + " " + dockerClient() + " exec -it " + name + " sh; sleep 30"
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "90", "-y", "25", cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	screen := func() string {
		out, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).CombinedOutput()
		return string(out)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(screen(), "/ #"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("docker exec -it showed no prompt:\n%s", screen())
		}
	}
	exec.Command("tmux", "send-keys", "-t", session, "tty; echo ok-$((6*7))", "Enter").Run()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(screen(), "ok-42"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("docker exec -it: the typed command did not run:\n%s", screen())
		}
	}
	if s := screen(); !strings.Contains(s, "/dev/pts/") {
		t.Fatalf("docker exec -it: the shell is not on a pty:\n%s", s)
	}
}
