//go:build integration

package integration

import (
	"os"
	"strings"
	"testing"
	"time"
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
		{"no such container", []string{"update", "--memory", "64m", "nao-existe"}},
	} {
		r := d.docker(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("docker %v: exit %d stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// docker update --restart: the running shim judges the next exit by the
// new policy (the control protocol's update), and inspect shows it. The
// container exits 3 once /tmp/go exists. Started with the default policy
// ("no") it would stay exited; updated to on-failure:2, its shim starts it
// twice more (the file is still in its rootfs: each start exits at once)
// and then leaves it exited, RestartCount 2. Before the update message
// existed the daemon refused the request.
func TestDaemonUpdateRestart(t *testing.T) {
	d := startDaemon(t)
	d.dockerOK(t, "run", "-d", "--name", "drst", "busybox", "sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.05; done; exit 3")
	t.Cleanup(func() { d.docker(t, "rm", "-f", "drst") })
	d.dockerOK(t, "update", "--restart", "on-failure:2", "drst")
	policy := "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
	if out := strings.TrimSpace(d.dockerOK(t, "inspect", "-f", policy, "drst")); out != "on-failure:2" {
		t.Fatalf("inspect after update --restart on-failure:2: %q", out)
	}
	d.dockerOK(t, "exec", "drst", "touch", "/tmp/go")
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last = strings.TrimSpace(d.dockerOK(t, "inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "drst"))
		if last == "exited 2 3" {
			break
		}
	}
	if last != "exited 2 3" {
		t.Fatalf("after the exit under on-failure:2: status, restarts, code %q, want exited 2 3", last)
	}
	// A stopped container's record changes too: its next start's shim
	// reads it.
	d.dockerOK(t, "update", "--restart", "no", "drst")
	if out := strings.TrimSpace(d.dockerOK(t, "inspect", "-f", policy, "drst")); out != "no:0" {
		t.Fatalf("inspect after update --restart no while exited: %q", out)
	}
	d.dockerOK(t, "run", "-d", "--rm", "--name", "drstrm", "busybox", "sleep", "600")
	t.Cleanup(func() { d.docker(t, "rm", "-f", "drstrm") })
	if r := d.docker(t, "update", "--restart", "always", "drstrm"); r.code == 0 || !strings.Contains(r.stderr, "AutoRemove") {
		t.Errorf("update --restart always of a --rm container: exit %d %q, want a refusal", r.code, r.stderr)
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
	// --device-cgroup-rule: the default rules let a container make any
	// node (b *:* m, as Docker's) but read no block device, so the loop
	// device's node made inside cannot be read; "b MAJ:MIN r" lets it be
	// read, and still not written.
	maj, min, _ := strings.Cut(want, " ")
	try := "mknod /tmp/d b " + maj + " " + min + " && head -c 512 /tmp/d | wc -c; echo x > /tmp/d && echo wrote || echo refused"
	if out := strings.Fields(d.dockerOK(t, "run", "--rm", "busybox", "sh", "-c", try)); len(out) != 2 || out[0] != "0" || out[1] != "refused" {
		t.Fatalf("reading %s's node made inside, without a rule: %q, want 0 refused", dev, out)
	}
	if out := strings.Fields(d.dockerOK(t, "run", "--rm", "--device-cgroup-rule", "b "+maj+":"+min+" r", "busybox", "sh", "-c", try)); len(out) != 2 || out[0] != "512" || out[1] != "refused" {
		t.Fatalf("reading %s's node made inside, with --device-cgroup-rule 'b %s:%s r': %q, want 512 refused", dev, maj, min, out)
	}
	if r := d.docker(t, "run", "--rm", "--device-cgroup-rule", "c 1:11 rwx", "busybox", "true"); r.code == 0 || !strings.Contains(r.stderr, "device-cgroup-rule") {
		t.Fatalf("--device-cgroup-rule 'c 1:11 rwx': exit %d %q, want a refusal", r.code, r.stderr)
	}
}
