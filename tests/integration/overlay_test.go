//go:build integration

package integration

// Docker's classic multi-host overlay (issue 18) on three "hosts": each a
// network namespace with its own minirun state root, data root and daemon
// (--cluster-store, --cluster-advertise), joined by an underlay bridge in
// a fourth namespace that also runs the one etcd. The containers' traffic
// crosses the underlay as VXLAN, as between machines; nothing of it
// reaches the host's own namespace.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/etcdtest"
)

// underlay is the test's network of hosts.
type underlay struct {
	sw    string   // the switch's namespace: bridge mrul0 and etcd
	hosts []string // the hosts' namespaces
	addrs []string // their underlay addresses
}

// underlayNet is the underlay's subnet: private, and only ever inside the
// test's own namespaces. The switch (and etcd) is .254.
const underlayNet = "192.168.77."

// ns runs a command in a named network namespace (nsenter: only the
// network namespace changes; `ip netns exec` would also remount /sys and
// hide the cgroup hierarchies minirun needs).
func nsCmd(ns string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...)
}

func nsRun(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := nsCmd(ns, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %v: %v: %s", ns, args, err, out)
	}
	return string(out)
}

// newUnderlay makes the switch and n hosts; the test's end removes them
// (deleting a namespace removes every link, address and rule in it).
func newUnderlay(t *testing.T, n int) *underlay {
	t.Helper()
	tag := fmt.Sprint(os.Getpid() % 100000)
	u := &underlay{sw: "mrovsw" + tag}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "netns", "add", u.sw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", u.sw).Run() })
	nsRun(t, u.sw, "ip", "link", "set", "lo", "up")
	nsRun(t, u.sw, "ip", "link", "add", "mrul0", "type", "bridge")
	nsRun(t, u.sw, "ip", "addr", "add", underlayNet+"254/24", "dev", "mrul0")
	nsRun(t, u.sw, "ip", "link", "set", "mrul0", "up")
	for i := 1; i <= n; i++ {
		h := fmt.Sprintf("mrovh%d-%s", i, tag)
		run("ip", "netns", "add", h)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", h).Run() })
		port := fmt.Sprintf("mrulh%d", i)
		// Both ends are made in their namespaces at once: no link ever
		// appears in the host's own namespace.
		nsRun(t, u.sw, "ip", "link", "add", port, "type", "veth", "peer", "name", "mreth0", "netns", h)
		nsRun(t, u.sw, "ip", "link", "set", port, "master", "mrul0", "up")
		addr := fmt.Sprintf("%s%d", underlayNet, i)
		nsRun(t, h, "ip", "link", "set", "lo", "up")
		nsRun(t, h, "ip", "addr", "add", addr+"/24", "dev", "mreth0")
		nsRun(t, h, "ip", "link", "set", "mreth0", "up")
		u.hosts, u.addrs = append(u.hosts, h), append(u.addrs, addr)
	}
	return u
}

// overlayHost is one host: its namespace, roots and daemon.
type overlayHost struct {
	ns, addr, root, data, store string
	d                           *daemonUnderTest
}

// start starts the host's daemon (again).
func (h *overlayHost) start(t *testing.T) {
	t.Helper()
	h.d = startDaemonAt(t, []string{"nsenter", "--net=/run/netns/" + h.ns, "--"}, h.root, h.data,
		"--cluster-store", h.store, "--cluster-advertise", h.addr)
}

// stop stops the host's daemon; its containers go on.
func (h *overlayHost) stop() {
	h.d.cmd.Process.Signal(syscall.SIGTERM)
	h.d.cmd.Wait()
}

// startHosts starts a daemon on every host, each over roots of its own
// with busybox imported, all on the switch's etcd.
func startHosts(t *testing.T, u *underlay, store string) []*overlayHost {
	t.Helper()
	var hs []*overlayHost
	for i, ns := range u.hosts {
		dir := t.TempDir()
		root, data := filepath.Join(dir, "run"), filepath.Join(dir, "lib")
		if out, err := exec.Command(binary, "--root", root, "--data-root", data, "image", "import", busyboxTar, "busybox").CombinedOutput(); err != nil {
			t.Fatalf("import busybox on %s: %v: %s", ns, err, out)
		}
		h := &overlayHost{ns: ns, addr: u.addrs[i], root: root, data: data, store: store}
		h.start(t)
		hs = append(hs, h)
	}
	// Registered after the daemons' own cleanups, so it runs first: the
	// containers, then the networks, go while the daemons still serve,
	// and every host drops its records of the networks.
	t.Cleanup(func() {
		for _, h := range hs {
			h.d.docker(t, "rm", "-f", "-v", "a", "b", "c", "d")
		}
		last := hs[len(hs)-1].d
		ovs := strings.Fields(last.docker(t, "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}").stdout)
		if len(ovs) > 0 {
			if r := last.docker(t, append([]string{"network", "rm"}, ovs...)...); r.code != 0 {
				t.Errorf("network rm %v: %s", ovs, r.stderr)
			}
		}
		for _, h := range hs {
			eventually(t, "the overlay networks to leave "+h.ns, 10*time.Second, func() bool {
				out := h.d.docker(t, "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}").stdout
				if strings.TrimSpace(out) != "" {
					t.Logf("%s: %s", h.ns, out)
				}
				return strings.TrimSpace(out) == ""
			})
		}
	})
	return hs
}

func TestOverlayThreeHosts(t *testing.T) {
	u := newUnderlay(t, 3)
	etcd := etcdtest.StartServerIn(t, u.sw, underlayNet+"254")
	hs := startHosts(t, u, "etcd://"+etcd.ClientAddr)
	h1, h2, h3 := hs[0], hs[1], hs[2]

	h1.d.dockerOK(t, "network", "create", "-d", "overlay", "--attachable", "ov1")
	for _, h := range hs[1:] {
		eventually(t, "ov1 on "+h.ns, 10*time.Second, func() bool {
			out := h.d.docker(t, "network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout
			return strings.Contains(out, "ov1 overlay")
		})
	}
	// A second overlay network: a unique subnet and VNI, and no way to
	// the first.
	h2.d.dockerOK(t, "network", "create", "-d", "overlay", "ov2")
	s1 := strings.TrimSpace(h1.d.dockerOK(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "ov1"))
	s2 := strings.TrimSpace(h2.d.dockerOK(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "ov2"))
	if s1 == "" || s1 == s2 {
		t.Fatalf("ov1 and ov2 subnets %q and %q: want two different ones", s1, s2)
	}

	h1.d.dockerOK(t, "run", "-d", "--name", "a", "--network", "ov1", "--network-alias", "web", "busybox", "sleep", "600")
	h2.d.dockerOK(t, "run", "-d", "--name", "b", "--network", "ov1", "--network-alias", "web", "busybox", "sleep", "600")
	h3.d.dockerOK(t, "run", "-d", "--name", "c", "--network", "ov1", "busybox", "sleep", "600")
	h3.d.dockerOK(t, "run", "-d", "--name", "d", "--network", "ov2", "busybox", "sleep", "600")
	ipOf := func(h *overlayHost, name, net string) string {
		return strings.TrimSpace(h.d.dockerOK(t, "inspect", "-f", "{{.NetworkSettings.Networks."+net+".IPAddress}}", name))
	}
	ipA, ipB := ipOf(h1, "a", "ov1"), ipOf(h2, "b", "ov1")

	// By name across hosts: c (host 3) reaches a (host 1) and b (host 2).
	for _, name := range []string{"a", "b"} {
		eventually(t, "c to ping "+name, 10*time.Second, func() bool {
			return h3.d.docker(t, "exec", "c", "ping", "-c", "1", "-W", "1", name).code == 0
		})
	}
	// The alias answers with both hosts' containers.
	out := h3.d.dockerOK(t, "exec", "c", "nslookup", "web")
	if !strings.Contains(out, ipA) || !strings.Contains(out, ipB) {
		t.Fatalf("nslookup web on host 3 answered %q, want %s and %s", out, ipA, ipB)
	}
	// ov2's container reaches no one on ov1.
	if r := h3.d.docker(t, "exec", "d", "ping", "-c", "1", "-W", "1", ipA); r.code == 0 {
		t.Fatalf("a container on ov2 reached %s on ov1: %s", ipA, r.stdout)
	}

	// Host 2 and 3 hold an FDB entry for a's MAC, toward host 1.
	macA := strings.TrimSpace(h1.d.dockerOK(t, "inspect", "-f", "{{.NetworkSettings.Networks.ov1.MacAddress}}", "a"))
	// The entry minirun writes sends a's frames to host 1: "MAC dev mrvx…
	// dst 192.168.77.1 self permanent" (the bridge's own learned entries,
	// "MAC dev mrvx… master mrov…", come and go with traffic).
	fdbHas := func(h *overlayHost) bool {
		for _, l := range strings.Split(nsRun(t, h.ns, "bridge", "fdb", "show"), "\n") {
			if strings.HasPrefix(l, macA+" dev mrvx") && strings.Contains(l, " dst "+h1.addr+" ") {
				return true
			}
		}
		return false
	}
	for _, h := range []*overlayHost{h2, h3} {
		if !fdbHas(h) {
			t.Fatalf("%s has no FDB entry for a (%s): %s", h.ns, macA, nsRun(t, h.ns, "bridge", "fdb", "show"))
		}
	}
	// a leaves: its entries leave hosts 2 and 3.
	h1.d.dockerOK(t, "rm", "-f", "a")
	for _, h := range []*overlayHost{h2, h3} {
		eventually(t, "a's FDB entry to leave "+h.ns, 10*time.Second, func() bool { return !fdbHas(h) })
	}
	// Host 1's daemon stops: b and c keep talking. Started again, it
	// catches up with what changed meanwhile (a new network).
	h1.stop()
	if r := h3.d.docker(t, "exec", "c", "ping", "-c", "1", "-W", "2", "b"); r.code != 0 {
		t.Fatalf("with host 1's daemon stopped, c no longer reaches b: %s%s", r.stdout, r.stderr)
	}
	h3.d.dockerOK(t, "network", "create", "-d", "overlay", "ov3")
	t.Cleanup(func() { h3.d.docker(t, "network", "rm", "ov3") })
	h1.start(t)
	eventually(t, "ov3 on host 1 after its restart", 10*time.Second, func() bool {
		return strings.Contains(h1.d.docker(t, "network", "ls", "--format", "{{.Name}}").stdout, "ov3")
	})

	// etcd goes away: the containers keep talking, and the daemons keep
	// serving; back, they catch up (a network created meanwhile appears).
	etcd.Stop()
	if r := h3.d.docker(t, "exec", "c", "ping", "-c", "1", "-W", "2", "b"); r.code != 0 {
		t.Fatalf("with etcd down, c no longer reaches b: %s%s", r.stdout, r.stderr)
	}
	if r := h2.d.docker(t, "network", "create", "-d", "overlay", "ov4"); r.code == 0 || !strings.Contains(r.stderr, "etcd") {
		t.Fatalf("network create with etcd down: exit %d %q, want an etcd error", r.code, r.stderr)
	}
	etcd.Restart()
	h2.d.dockerOK(t, "network", "create", "-d", "overlay", "ov4")
	t.Cleanup(func() { h2.d.docker(t, "network", "rm", "ov4") })
	eventually(t, "ov4 on host 3 after etcd came back", 10*time.Second, func() bool {
		return strings.Contains(h3.d.docker(t, "network", "ls", "--format", "{{.Name}}").stdout, "ov4")
	})
}

// TestOverlayThroughput measures, for bench/overlay-iperf.sh, TCP
// throughput (iperf3, one stream) container to container across two hosts
// over the overlay, and the same pair of containers on one host's user
// bridge, alternating rounds so both see the same machine. It prints the
// numbers; the script judges them (issue 18: overlay ≥ 0.5 of bridge). It
// runs only when the script asks: a timed number is not a test.
func TestOverlayThroughput(t *testing.T) {
	if os.Getenv("MINIRUN_BENCH_OVERLAY") == "" {
		t.Skip("run by bench/overlay-iperf.sh")
	}
	secs, rounds := os.Getenv("MINIRUN_BENCH_SECS"), 3
	if secs == "" {
		secs = "3"
	}
	u := newUnderlay(t, 2)
	etcd := etcdtest.StartServerIn(t, u.sw, underlayNet+"254")
	hs := startHosts(t, u, "etcd://"+etcd.ClientAddr)
	h1, h2 := hs[0], hs[1]
	h1.d.dockerOK(t, "network", "create", "-d", "overlay", "ov1")
	h1.d.dockerOK(t, "network", "create", "br1")
	t.Cleanup(func() { h1.d.docker(t, "network", "rm", "br1") })
	h1.d.dockerOK(t, "run", "-d", "--name", "a", "--network", "ov1", "busybox", "sleep", "600")
	h2.d.dockerOK(t, "run", "-d", "--name", "b", "--network", "ov1", "busybox", "sleep", "600")
	h1.d.dockerOK(t, "run", "-d", "--name", "c", "--network", "br1", "busybox", "sleep", "600")
	h1.d.dockerOK(t, "run", "-d", "--name", "d", "--network", "br1", "busybox", "sleep", "600")
	pid := func(h *overlayHost, name string) string {
		return strings.TrimSpace(h.d.dockerOK(t, "inspect", "-f", "{{.State.Pid}}", name))
	}
	ip := func(h *overlayHost, name, net string) string {
		return strings.TrimSpace(h.d.dockerOK(t, "inspect", "-f", "{{.NetworkSettings.Networks."+net+".IPAddress}}", name))
	}
	// iperf3 runs from the host's files in the containers' network
	// namespaces: the path measured is the containers' own.
	measure := func(serverPid, clientPid, addr string) float64 {
		srv := exec.Command("nsenter", "--net=/proc/"+serverPid+"/ns/net", "iperf3", "-s")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { srv.Process.Kill(); srv.Wait() }()
		var res struct {
			Error string `json:"error"`
			End   struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		// The server may not listen yet: iperf3 -J then answers "unable
		// to connect" in its JSON, and the client tries again.
		var out []byte
		var err error
		for try := 0; try < 20; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			out, err = exec.CommandContext(ctx, "nsenter", "--net=/proc/"+clientPid+"/ns/net", "iperf3", "-c", addr, "-t", secs, "-J").Output()
			cancel()
			res.Error = ""
			if jerr := json.Unmarshal(out, &res); err == nil && jerr == nil && res.Error == "" {
				break
			} else if err == nil {
				err = fmt.Errorf("%v %s", jerr, res.Error)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("iperf3 to %s: %v: %s", addr, err, out)
		}
		return res.End.SumReceived.BitsPerSecond / 1e9
	}
	pa, pb, pc, pd := pid(h1, "a"), pid(h2, "b"), pid(h1, "c"), pid(h1, "d")
	ipA, ipC := ip(h1, "a", "ov1"), ip(h1, "c", "br1")
	for r := 1; r <= rounds; r++ {
		ov := measure(pa, pb, ipA)
		br := measure(pc, pd, ipC)
		fmt.Printf("round %d: overlay %.2f Gbit/s bridge %.2f Gbit/s ratio %.2f\n", r, ov, br, ov/br)
	}

	// From `run -d` on host 1 until b, on host 2, resolves the new
	// container by name and reaches it (issue 18: median of 20 ≤ 1 s).
	// b already loops on ping when run -d starts; the time ends when
	// that loop's exec returns.
	for i := 1; i <= 20; i++ {
		name := fmt.Sprintf("e%d", i)
		wait := exec.Command(dockerClient(), "exec", "b", "sh", "-c",
			"until ping -c 1 -W 1 "+name+" >/dev/null 2>&1; do sleep 0.02; done")
		wait.Env = h2.d.env
		if err := wait.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the loop is running
		start := time.Now()
		h1.d.dockerOK(t, "run", "-d", "--name", name, "--network", "ov1", "busybox", "sleep", "600")
		done := make(chan error, 1)
		go func() { done <- wait.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the wait for %s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			wait.Process.Kill()
			t.Fatalf("b never reached %s", name)
		}
		fmt.Printf("reach %d: %d ms\n", i, time.Since(start).Milliseconds())
		h1.d.dockerOK(t, "rm", "-f", name)
	}
}
