//go:build integration

package integration

// The daemon's exec, restart, pause, rename, top and wait, through
// Debian's docker client.

import (
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
