//go:build integration

package integration

// --authorization-plugin with examples/authz-noprivileged: Docker's AuthZ
// protocol over a unix socket found in a plugin directory of the test's
// own (MINIRUN_PLUGIN_SOCKETS), so nothing is written under /run/docker.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDaemonAuthZ(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "authz-noprivileged")
	buildExample(t, "authz-noprivileged", plugin)
	pdir := filepath.Join(dir, "plugins")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	psock := filepath.Join(pdir, "authz-noprivileged.sock")
	pcmd := exec.Command(plugin, psock)
	pcmd.Stderr = os.Stderr
	if err := pcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pcmd.Process.Signal(syscall.SIGTERM); pcmd.Wait() })
	t.Setenv("MINIRUN_PLUGIN_SOCKETS", pdir)

	sock := filepath.Join(dir, "docker.sock")
	up := func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	// A plugin that is not there: the daemon does not start.
	if out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "daemon", "-H", "unix://"+sock, "--authorization-plugin", "nosuchplugin").CombinedOutput(); err == nil || !strings.Contains(string(out), "nosuchplugin") || up() {
		t.Fatalf("daemon with a missing plugin: %v %s; want it refused", err, out)
	}
	// The plugin may still be starting: the daemon is started once its
	// socket is there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(psock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin did not listen")
		}
	}
	startDaemonArgs(t, up, "-H", "unix://"+sock, "--authorization-plugin", "authz-noprivileged")
	rmAtEnd(t, "dauthz1", "dauthz2")
	docker := func(args ...string) (string, error) {
		cmd := exec.Command(dockerClient(), args...)
		cmd.Env = dockerEnv(t, "DOCKER_HOST=unix://"+sock)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	out, err := docker("run", "--privileged", "--network", "none", "--name", "dauthz1", "busybox", "true")
	if err == nil || !strings.Contains(out, "authorization denied by plugin authz-noprivileged: privileged containers are not allowed") {
		t.Fatalf("docker run --privileged: %v %q; want the plugin's refusal", err, out)
	}
	if r := mr(t, "ps", "-a", "-q", "--filter", "name=dauthz1"); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("the refused create left a container: %q", r.stdout)
	}
	if out, err := docker("run", "--rm", "--network", "none", "--name", "dauthz2", "busybox", "true"); err != nil {
		t.Fatalf("docker run --rm busybox true through the plugin: %v %s", err, out)
	}
	// The status and shape, by hand: 403 and {"message": …}.
	b, err := exec.Command("curl", "-sS", "--unix-socket", sock, "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
		"-d", `{"Image":"busybox","HostConfig":{"Privileged":true}}`, "http://docker/v1.41/containers/create").Output()
	if s := string(b); err != nil || !strings.HasSuffix(s, "\n403") || !strings.HasPrefix(s, `{"message":"authorization denied by plugin authz-noprivileged: `) {
		t.Fatalf("POST /containers/create privileged: %v %q; want 403 with Docker's error shape", err, b)
	}
}
