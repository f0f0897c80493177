//go:build integration

package integration

import (
	"strings"
	"testing"
)

// docker update: a running container's new memory limit lands in its
// cgroup and in inspect; a stopped one's is recorded and its next start
// applies it (the bundle's config.json carries it); bad input is refused.
func TestDaemonUpdate(t *testing.T) {
	d := startDaemon(t)
	d.dockerOK(t, "run", "-d", "--name", "dupd", "busybox", "sleep", "600")
	t.Cleanup(func() { d.docker(t, "rm", "-f", "dupd") })
	d.dockerOK(t, "update", "--memory", "64m", "--memory-swap", "128m", "dupd")
	if v := readInt(t, cgroupFile(t, "dupd", "memory/memory.limit_in_bytes", "memory.max")); v != 64<<20 {
		t.Fatalf("memory limit %d after docker update", v)
	}
	if out := strings.TrimSpace(d.dockerOK(t, "inspect", "-f", "{{.HostConfig.Memory}}", "dupd")); out != "67108864" {
		t.Fatalf("inspect HostConfig.Memory %q after update", out)
	}
	d.dockerOK(t, "stop", "-t", "0", "dupd")
	d.dockerOK(t, "update", "--memory", "48m", "--memory-swap", "96m", "dupd")
	d.dockerOK(t, "start", "dupd")
	if v := readInt(t, cgroupFile(t, "dupd", "memory/memory.limit_in_bytes", "memory.max")); v != 48<<20 {
		t.Fatalf("memory limit %d after update while stopped and a start", v)
	}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"minimum is 6m", []string{"update", "--memory", "1m", "dupd"}},
		{"one or more flags", []string{"update", "dupd"}},
		{"--restart", []string{"update", "--restart", "always", "dupd"}},
		{"no such container", []string{"update", "--memory", "64m", "nao-existe"}},
	} {
		r := d.docker(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("docker %v: exit %d stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
