//go:build integration

package integration

import (
	"os"
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

// docker run --device and --device-read-bps through the API: the device
// is there and readable (read-only: writes refused by the device cgroup),
// and the throttle is in the container's blkio cgroup.
func TestDaemonDevices(t *testing.T) {
	d := startDaemon(t)
	dev := loopDevice(t, 8)
	out := d.dockerOK(t, "run", "--rm", "--device", dev+":/dev/disco:r", "busybox", "sh", "-c",
		"head -c 512 /dev/disco | wc -c; echo x > /dev/disco && echo wrote || echo refused")
	if f := strings.Fields(out); len(f) != 2 || f[0] != "512" || f[1] != "refused" {
		t.Fatalf("--device %s:/dev/disco:r: %q, want 512 and a refused write", dev, out)
	}
	d.dockerOK(t, "run", "-d", "--name", "ddev", "--device", dev+":/dev/disco", "--device-read-bps", dev+":2mb", "busybox", "sleep", "600")
	t.Cleanup(func() { d.docker(t, "rm", "-f", "ddev") })
	want := mustStat(t, dev)
	path := cgroupFile(t, "ddev", "blkio/blkio.throttle.read_bps_device", "io.max")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// v1: "MAJ:MIN 2097152"; v2: "MAJ:MIN rbps=2097152 …".
	if majmin := strings.Replace(want, " ", ":", 1); !strings.Contains(string(b), majmin) || !strings.Contains(string(b), "2097152") {
		t.Fatalf("%s says %q, want %s at 2097152", path, b, majmin)
	}
	r := d.docker(t, "run", "--rm", "--device-cgroup-rule", "c 1:3 rwm", "busybox", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "not served") {
		t.Fatalf("--device-cgroup-rule: exit %d %q, want a refusal", r.code, r.stderr)
	}
}
