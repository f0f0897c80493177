//go:build integration

package integration

// The multi-host overlay (issue 18) across two real kernels: two qemu VMs
// booted by tests/vm/run2.sh, each with Debian 12's kernel and one e1000
// NIC, joined by qemu's socket network (an Ethernet cable made of a TCP
// connection between the two qemu processes on the host's loopback). The
// containers' frames cross that cable as VXLAN, so the FDB entries,
// neighbour entries and the vxlan device minirun makes are tested on a
// kernel of their own on each side, not on three namespaces of one kernel
// as TestOverlayThreeHosts does.
//
// One test binary, two roles (MINIRUN_VM_NODE, set by run2.sh):
//
//	1  VM 1 (192.168.78.1): runs etcd and a daemon on a unix socket, and
//	   drives both daemons through the Engine API (the VMs have no docker
//	   client): TestOverlayTwoVMs.
//	2  VM 2 (192.168.78.2): runs a daemon on tcp://192.168.78.2:2375
//	   (--tls=false: the port exists only on the VMs' private cable) and
//	   waits until VM 1 connects to its stop port: TestOverlayVMPeer.
//
// Outside run2.sh's VMs both tests skip: they need the cable.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"
	ntypes "github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/etcdtest"
)

const (
	// vmNodeEnv is the VM's number, 1 or 2, which run2.sh sets.
	vmNodeEnv = "MINIRUN_VM_NODE"
	// vm1Addr and vm2Addr are the VMs' addresses on their cable, a
	// private subnet that exists only inside the two VMs.
	vm1Addr = "192.168.78.1"
	vm2Addr = "192.168.78.2"
	// vmPeerAPI is VM 2's daemon; vmPeerStop the port VM 1 connects to
	// when the test is over, so VM 2 stops its daemon and powers off.
	vmPeerAPI  = vm2Addr + ":2375"
	vmPeerStop = vm2Addr + ":2376"
	// vmWait bounds each wait for the other VM or for a change to spread
	// (TCG runs the guests about 10-30 times slower than the host).
	vmWait = 60 * time.Second
)

// vmRole skips the test unless this VM plays role; in a VM that was given
// a role, missing parts fail the test instead.
func vmRole(t *testing.T, role string) {
	t.Helper()
	if os.Getenv("MINIRUN_VM") != "1" || os.Getenv(vmNodeEnv) != role {
		t.Skipf("runs only in tests/vm/run2.sh's VM %s (%s=%s)", role, vmNodeEnv, role)
	}
}

// vmCable gives the VM's one NIC (the e1000 run2.sh adds; eth0 for the
// kernel, as no udev renames it) addr/24 and brings it up.
func vmCable(t *testing.T, addr string) {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var nic netlink.Link
	for _, l := range links {
		if l.Type() == "device" && l.Attrs().Flags&net.FlagLoopback == 0 {
			nic = l
			break
		}
	}
	if nic == nil {
		t.Fatalf("the VM has no NIC: run2.sh adds an e1000 (-device e1000) and ships its module (--module e1000)")
	}
	a, err := netlink.ParseAddr(addr + "/24")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(nic, a); err != nil {
		t.Fatalf("ip addr add %s/24 dev %s: %v", addr, nic.Attrs().Name, err)
	}
	if err := netlink.LinkSetUp(nic); err != nil {
		t.Fatalf("ip link set %s up: %v", nic.Attrs().Name, err)
	}
	t.Logf("%s is %s/24", nic.Attrs().Name, addr)
}

// vmDaemon is one VM's daemon and an Engine API client for it.
type vmDaemon struct {
	name string
	args []string  // minirun's arguments, for a restart
	out  io.Writer // the daemon's stdout and stderr
	cmd  *exec.Cmd // nil while stopped
	hc   *http.Client
	base string // http://HOST (the host part is ignored for a unix socket)
}

// startVMDaemon imports busybox into fresh roots and starts the daemon on
// listen (unix:///… or tcp://…) with the cluster store; its output goes
// to out. The test's end stops it (SIGTERM) and checks it exited cleanly.
func startVMDaemon(t *testing.T, name, listen, advertise string, out io.Writer) *vmDaemon {
	t.Helper()
	dir := t.TempDir()
	root, data := filepath.Join(dir, "run"), filepath.Join(dir, "lib")
	if b, err := exec.Command(binary, "--root", root, "--data-root", data, "image", "import", busyboxTar, "busybox").CombinedOutput(); err != nil {
		t.Fatalf("%s: import busybox: %v: %s", name, err, b)
	}
	d := &vmDaemon{name: name, out: out, hc: &http.Client{Timeout: 90 * time.Second},
		args: []string{"--root", root, "--data-root", data, "daemon", "-H", listen,
			"--cluster-store", "etcd://" + vm1Addr + ":2379", "--cluster-advertise", advertise}}
	if sock, ok := strings.CutPrefix(listen, "unix://"); ok {
		d.base = "http://unix"
		d.hc.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		}}
	} else {
		d.args = append(d.args, "--tls=false")
		d.base = "http://" + strings.TrimPrefix(listen, "tcp://")
	}
	// Registered once, here: a restarted daemon is stopped at the same
	// place in the cleanup order as the first.
	t.Cleanup(func() { d.stop(t) })
	d.start(t)
	return d
}

// start starts the daemon (again) and waits until it answers.
func (d *vmDaemon) start(t *testing.T) {
	t.Helper()
	d.cmd = exec.Command(binary, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.waitPing(t, 30*time.Second)
}

// stop stops the daemon with SIGTERM, as systemd would; its containers
// go on running.
func (d *vmDaemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("%s: the daemon exited with %v on SIGTERM", d.name, err)
	}
	d.cmd = nil
}

// waitPing waits until the daemon answers /_ping.
func (d *vmDaemon) waitPing(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, _, err := d.call("GET", "/_ping", nil, nil)
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's daemon (%s) did not answer /_ping within %v: %v", d.name, d.base, within, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// call sends one request with body as JSON and decodes a 2xx answer into
// out; it returns the status and, for an error status, Docker's message.
func (d *vmDaemon) call(method, path string, body, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = string(b)
		}
		return resp.StatusCode, e.Message, nil
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, "", nil
}

// must is call that fails the test on any error or error status.
func (d *vmDaemon) must(t *testing.T, method, path string, body, out any) {
	t.Helper()
	code, msg, err := d.call(method, path, body, out)
	if err != nil || code >= 300 {
		t.Fatalf("%s: %s %s: %d %s %v", d.name, method, path, code, msg, err)
	}
}

// overlays lists the overlay networks' names (network ls --filter
// driver=overlay).
func (d *vmDaemon) overlays(t *testing.T) []string {
	t.Helper()
	var nets []ntypes.Summary
	d.must(t, "GET", "/networks?filters="+url.QueryEscape(`{"driver":["overlay"]}`), nil, &nets)
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
	}
	return names
}

// hasOverlay reports whether the daemon lists the overlay network name.
func (d *vmDaemon) hasOverlay(t *testing.T, name string) bool {
	t.Helper()
	for _, n := range d.overlays(t) {
		if n == name {
			return true
		}
	}
	return false
}

// subnet returns the network's first subnet (network inspect -f
// '{{range .IPAM.Config}}{{.Subnet}}{{end}}').
func (d *vmDaemon) subnet(t *testing.T, name string) string {
	t.Helper()
	var n struct {
		IPAM struct{ Config []struct{ Subnet string } }
	}
	d.must(t, "GET", "/networks/"+name, nil, &n)
	if len(n.IPAM.Config) == 0 {
		return ""
	}
	return n.IPAM.Config[0].Subnet
}

// runOn creates and starts a busybox sleeping on net with alias
// (docker run -d --name NAME --network NET --network-alias ALIAS).
func (d *vmDaemon) runOn(t *testing.T, name, net, alias string) {
	t.Helper()
	req := ctypes.CreateRequest{
		Config:     &ctypes.Config{Image: "busybox", Cmd: []string{"sleep", "600"}},
		HostConfig: &ctypes.HostConfig{NetworkMode: ctypes.NetworkMode(net)},
		NetworkingConfig: &ntypes.NetworkingConfig{EndpointsConfig: map[string]*ntypes.EndpointSettings{
			net: {Aliases: []string{alias}},
		}},
	}
	d.must(t, "POST", "/containers/create?name="+name, req, nil)
	d.must(t, "POST", "/containers/"+name+"/start", nil, nil)
}

// endpoint returns the container's address and MAC on net.
func (d *vmDaemon) endpoint(t *testing.T, name, net string) (ip, mac string) {
	t.Helper()
	var c ctypes.InspectResponse
	d.must(t, "GET", "/containers/"+name+"/json", nil, &c)
	var ep *ntypes.EndpointSettings
	if c.NetworkSettings != nil {
		ep = c.NetworkSettings.Networks[net]
	}
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("%s: container %s has no address on %s", d.name, name, net)
	}
	return ep.IPAddress.String(), ep.MacAddress.String()
}

// exec runs cmd in the container (docker exec) and returns its exit code
// and output.
func (d *vmDaemon) exec(t *testing.T, name string, cmd ...string) (int, string) {
	t.Helper()
	var created struct{ ID string }
	d.must(t, "POST", "/containers/"+name+"/exec",
		ctypes.ExecCreateRequest{Cmd: cmd, AttachStdout: true, AttachStderr: true}, &created)
	// The answer to a start that does not detach is the hijacked
	// connection: Docker's multiplexed stream until the process ends,
	// then the daemon closes it.
	b, _ := json.Marshal(ctypes.ExecStartRequest{})
	resp, err := d.hc.Post(d.base+"/exec/"+created.ID+"/start", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: exec %v: %v", d.name, cmd, err)
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: exec %v: reading its output: %v", d.name, cmd, err)
	}
	// The exit code is recorded as the process is reaped, which may come
	// a moment after its output ended.
	var x ctypes.ExecInspectResponse
	for deadline := time.Now().Add(10 * time.Second); ; {
		d.must(t, "GET", "/exec/"+created.ID+"/json", nil, &x)
		if !x.Running && x.ExitCode != nil {
			return *x.ExitCode, out.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: exec %v has no exit code 10s after its output ended", d.name, cmd)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fdbToward reports whether this VM's kernel holds the entry minirun
// writes for a remote endpoint: MAC on a vxlan mrvx… with dst the other
// VM (`bridge fdb show`: "MAC dev mrvx… dst ADDR self permanent").
func fdbToward(t *testing.T, mac, dst string) bool {
	t.Helper()
	neighs, err := netlink.NeighList(0, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		if n.HardwareAddr.String() != mac || n.IP.String() != dst {
			continue
		}
		if l, err := netlink.LinkByIndex(n.LinkIndex); err == nil && strings.HasPrefix(l.Attrs().Name, "mrvx") {
			return true
		}
	}
	return false
}

// eventuallyVM is eventually with the test's name of the VM in the message.
func eventuallyVM(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	eventually(t, what, vmWait, cond)
	t.Logf("%s after %.1fs", what, time.Since(start).Seconds())
}

// TestOverlayTwoVMs is TestOverlayThreeHosts' scenario on two VMs: an
// overlay network made on VM 1 appears on VM 2; a container on each
// reaches the other by name and by alias across the VXLAN; a second
// network's container reaches neither; traffic goes on while VM 1's
// daemon is stopped and while etcd is down, and both catch up when back;
// the FDB entry for a container removed on VM 2 leaves VM 1's kernel.
func TestOverlayTwoVMs(t *testing.T) {
	vmRole(t, "1")
	start := time.Now()
	if _, err := os.Stat(etcdtest.Binary); err != nil {
		t.Fatalf("%s is not in the VM: run2.sh adds it with its libraries", etcdtest.Binary)
	}
	vmCable(t, vm1Addr)
	// The cluster store, on the cable's address; "" is the VM's own
	// network namespace.
	etcd := etcdtest.StartServerIn(t, "", vm1Addr)
	t.Logf("etcd up after %.1fs", time.Since(start).Seconds())
	// Registered before the daemons and after etcd, so it runs after
	// everything on both VMs is gone (or the test failed) and while
	// etcd still serves VM 2's daemon: VM 2 stops now rather than at
	// run2.sh's grace timeout.
	t.Cleanup(func() {
		c, err := net.DialTimeout("tcp", vmPeerStop, 5*time.Second)
		if err != nil {
			t.Logf("VM 2's stop port: %v (run2.sh stops VM 2 itself)", err)
			return
		}
		c.Close()
	})
	logPath := filepath.Join(t.TempDir(), "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("VM 1's daemon log:\n%s", b)
		}
	})
	h1 := startVMDaemon(t, "VM 1", "unix://"+filepath.Join(t.TempDir(), "docker.sock"), vm1Addr, logf)
	h2 := &vmDaemon{name: "VM 2", base: "http://" + vmPeerAPI, hc: &http.Client{Timeout: 90 * time.Second}}
	h2.waitPing(t, 2*time.Minute)
	t.Logf("both daemons up after %.1fs", time.Since(start).Seconds())
	// Registered after the daemons, so it runs before they stop: the
	// containers, then the network go, and VM 2 drops its copy.
	t.Cleanup(func() {
		for _, c := range []struct {
			d    *vmDaemon
			name string
		}{{h1, "a"}, {h2, "b"}, {h2, "d"}} {
			c.d.call("DELETE", "/containers/"+c.name+"?force=1&v=1", nil, nil)
		}
		// Any host removes any overlay network: the store is shared.
		for _, n := range []string{"ov1", "ov2", "ov3", "ov4"} {
			if code, msg, err := h2.call("DELETE", "/networks/"+n, nil, nil); err != nil || (code >= 300 && code != http.StatusNotFound) {
				t.Errorf("network rm %s: %d %s %v", n, code, msg, err)
			}
		}
		for _, d := range []*vmDaemon{h1, h2} {
			eventually(t, "the overlay networks to leave "+d.name, vmWait, func() bool { return len(d.overlays(t)) == 0 })
		}
	})

	var created struct{ ID string }
	h1.must(t, "POST", "/networks/create", ntypes.CreateRequest{Name: "ov1", Driver: "overlay", Attachable: true}, &created)
	eventuallyVM(t, "ov1 on VM 2", func() bool { return h2.hasOverlay(t, "ov1") })
	// A second overlay network, made on VM 2: a subnet of its own, and
	// no way to the first.
	h2.must(t, "POST", "/networks/create", ntypes.CreateRequest{Name: "ov2", Driver: "overlay"}, nil)
	if s1, s2 := h1.subnet(t, "ov1"), h2.subnet(t, "ov2"); s1 == "" || s1 == s2 {
		t.Fatalf("ov1 and ov2 subnets %q and %q: want two different ones", s1, s2)
	}
	h1.runOn(t, "a", "ov1", "alpha")
	h2.runOn(t, "b", "ov1", "beta")
	ipA, _ := h1.endpoint(t, "a", "ov1")
	ipB, macB := h2.endpoint(t, "b", "ov1")
	t.Logf("a %s on VM 1, b %s (%s) on VM 2", ipA, ipB, macB)

	// Across the cable, each way, by name and by alias. The first ping
	// waits until the other VM's daemon has seen the endpoint in etcd.
	for _, p := range []struct {
		d        *vmDaemon
		from, to string
	}{{h1, "a", "b"}, {h1, "a", "beta"}, {h2, "b", "a"}, {h2, "b", "alpha"}} {
		eventuallyVM(t, p.from+" to ping "+p.to, func() bool {
			code, _ := p.d.exec(t, p.from, "ping", "-c", "1", "-W", "2", p.to)
			return code == 0
		})
	}
	// The name resolves to the other VM's container.
	if code, out := h1.exec(t, "a", "nslookup", "b"); code != 0 || !strings.Contains(out, ipB) {
		t.Fatalf("nslookup b on VM 1: exit %d %q, want %s", code, out, ipB)
	}

	// ov2's container, on VM 2, reaches no one on ov1.
	h2.runOn(t, "d", "ov2", "delta")
	if code, out := h2.exec(t, "d", "ping", "-c", "1", "-W", "1", ipA); code == 0 {
		t.Fatalf("a container on ov2 reached %s on ov1: %s", ipA, out)
	}

	// VM 1's daemon stops: a and b keep talking. Started again, it
	// catches up with what changed meanwhile (a network made on VM 2).
	h1.stop(t)
	if code, out := h2.exec(t, "b", "ping", "-c", "1", "-W", "2", "a"); code != 0 {
		t.Fatalf("with VM 1's daemon stopped, b no longer reaches a: %s", out)
	}
	h2.must(t, "POST", "/networks/create", ntypes.CreateRequest{Name: "ov3", Driver: "overlay"}, nil)
	h1.start(t)
	eventuallyVM(t, "ov3 on VM 1 after its daemon's restart", func() bool { return h1.hasOverlay(t, "ov3") })

	// etcd goes away: the containers keep talking and the daemons keep
	// serving; back, they catch up (a network made meanwhile appears).
	etcd.Stop()
	if code, out := h2.exec(t, "b", "ping", "-c", "1", "-W", "2", "a"); code != 0 {
		t.Fatalf("with etcd down, b no longer reaches a: %s", out)
	}
	req4 := ntypes.CreateRequest{Name: "ov4", Driver: "overlay"}
	if code, msg, err := h2.call("POST", "/networks/create", req4, nil); err != nil || code < 300 || !strings.Contains(msg, "etcd") {
		t.Fatalf("network create with etcd down: %d %q %v, want an etcd error", code, msg, err)
	}
	etcd.Restart()
	h2.must(t, "POST", "/networks/create", req4, nil)
	eventuallyVM(t, "ov4 on VM 1 after etcd came back", func() bool { return h1.hasOverlay(t, "ov4") })

	// VM 1's kernel sends b's frames to VM 2; b leaves, and so does the
	// entry.
	if !fdbToward(t, macB, vm2Addr) {
		// The VM has no iproute2: the entries as netlink gives them.
		neighs, _ := netlink.NeighList(0, unix.AF_BRIDGE)
		var all []string
		for _, n := range neighs {
			all = append(all, fmt.Sprintf("%s ifindex %d dst %v", n.HardwareAddr, n.LinkIndex, n.IP))
		}
		t.Fatalf("VM 1 has no FDB entry for b (%s) toward %s on an mrvx device; it has: %s", macB, vm2Addr, strings.Join(all, "; "))
	}
	h2.must(t, "DELETE", "/containers/b?force=1&v=1", nil, nil)
	eventuallyVM(t, "b's FDB entry to leave VM 1", func() bool { return !fdbToward(t, macB, vm2Addr) })
	if code, _ := h1.exec(t, "a", "ping", "-c", "1", "-W", "2", ipB); code == 0 {
		t.Fatalf("a still reaches %s after b was removed", ipB)
	}
	t.Logf("scenario done after %.1fs", time.Since(start).Seconds())
}

// TestOverlayVMPeer is VM 2's part of TestOverlayTwoVMs: its daemon on
// the cable, until VM 1 connects to the stop port. The daemon's output
// goes to the console, which run2.sh shows when the test failed.
func TestOverlayVMPeer(t *testing.T) {
	vmRole(t, "2")
	vmCable(t, vm2Addr)
	// VM 1 boots at the same time; its etcd is the daemon's store.
	hc := &http.Client{Timeout: 2 * time.Second}
	eventually(t, "VM 1's etcd", 2*time.Minute, func() bool {
		resp, err := hc.Get("http://" + vm1Addr + ":2379/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	stop, err := net.Listen("tcp", vmPeerStop)
	if err != nil {
		t.Fatal(err)
	}
	defer stop.Close()
	startVMDaemon(t, "VM 2", "tcp://"+vmPeerAPI, vm2Addr, os.Stdout)
	t.Log("serving on " + vmPeerAPI + "; stopping when VM 1 connects to " + vmPeerStop)
	stop.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Minute))
	c, err := stop.Accept()
	if err != nil {
		t.Fatalf("VM 1 never said it was done: %v", err)
	}
	c.Close()
	// The network went on VM 1; this daemon removed its bridge and vxlan
	// on etcd's word before VM 1 said stop (it waited for that), which
	// the suite's leak check confirms.
}
