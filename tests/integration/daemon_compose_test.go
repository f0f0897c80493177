//go:build integration

package integration

// Debian's docker-compose (1.29, Python, docker-py) driving `minirun
// daemon` through examples/contador: up -d, down, up -d, and the counter
// goes on from where it was (Redis's volume survives down).

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDaemonCompose(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is missing: scripts/setup.sh installs Debian's")
	}
	needCourseImages(t)
	needPort5000(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	startDaemonArgs(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "-H", "unix://"+sock)
	env := dockerEnv(t, "DOCKER_HOST=unix://"+sock)
	file := repoPath("examples/contador/docker-compose.yaml")
	dc := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker-compose", append([]string{"-f", file, "-p", "contador"}, args...)...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	t.Cleanup(func() { mr(t, "compose", "-f", file, "down", "-v", "-t", "2") })
	dc("up", "-d")
	wantVisits(t, 1, 2)
	dc("down", "-t", "5")
	dc("up", "-d")
	wantVisits(t, 3, 4)
	dc("down", "-v", "-t", "5")
}
