package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// rootHost is what every root test starts with: a Manager on a temporary
// data root whose DNS servers are this test binary. The test runs in the
// namespace TestMain made for the whole binary (nsEnv), which stands for
// the host. Cleanup removes every network and checks nothing is left.
func rootHost(t *testing.T) *Manager {
	t.Helper()
	testutil.RequireRoot(t)
	if os.Getenv(nsEnv) != "1" {
		t.Fatal("root tests must run in the test host namespace (TestMain)")
	}
	m, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := exec.Command("nft", "list", "ruleset").CombinedOutput(); err == nil {
				t.Logf("nft list ruleset:\n%s", out)
			}
		}
		nets, _ := m.List()
		for _, n := range nets {
			for _, ep := range n.Containers {
				m.Detach(ep)
			}
		}
		if err := m.Reset(); err != nil {
			t.Errorf("reset networks: %v", err)
		}
		assertNothingLeft(t, nets)
	})
	return m
}

// assertNothingLeft checks, with netlink and nftables queries, that no
// link named mr* (minirun's, not the tests' own mrt*), no table ip
// minirun, no MINIRUN-* chain and no DNS server of nets is left.
func assertNothingLeft(t *testing.T, nets []*Network) {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, "mr") && !strings.HasPrefix(name, "mrt") {
			t.Errorf("link %s left behind", name)
		}
	}
	if ok, err := tableExists(); err != nil || ok {
		t.Errorf("table ip minirun left behind (%v)", err)
	}
	for _, ch := range []string{compatForward, compatInput} {
		if ok, _ := chainExists(ch); ok {
			t.Errorf("chain ip filter %s left behind", ch)
		}
	}
	for _, n := range nets {
		if n.DNS != nil && alive(n.DNS) {
			t.Errorf("dns server %d of %s still running", n.DNS.Pid, n.Name)
		}
	}
}

// ctr is a "container" for these tests: a sleeping process in a network
// namespace of its own, with lo up (the runtime does that for real ones).
type ctr struct {
	id, name string
	pid      int
}

// The process is this test binary in the "hold" role, which exits when its
// stdin closes: if the test dies, its holders die with it. (Pdeathsig
// would not do: it fires when the *thread* that forked the child exits,
// and the threads inNetNS locks do exit — go.dev/issue/27505.)
func newCtr(t *testing.T, name string) *ctr {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=hold")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	c := &ctr{id: newID(), name: name, pid: cmd.Process.Pid}
	if err := inNS(c.pid, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// run attaches c to network net (Reserve + Attach), failing the test on
// error.
func (c *ctr) join(t *testing.T, m *Manager, net string, o EndpointOpts) *Endpoint {
	t.Helper()
	ep, err := m.Reserve(net, c.id, c.name, o)
	if err != nil {
		t.Fatalf("reserve %s on %s: %v", c.name, net, err)
	}
	if err := m.Attach(ep, c.pid, ""); err != nil {
		t.Fatalf("attach %s to %s: %v", c.name, net, err)
	}
	return ep
}

// inNetNS runs fn on an OS thread that has joined pid's network
// namespace. Sockets fn creates belong to that namespace for good. The
// thread is never unlocked, so Go ends it instead of reusing it elsewhere.
func inNetNS(t *testing.T, pid int, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.GetFromPid(pid)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// ping sends one ICMP echo from pid's namespace (0: the test host) to dst
// over a raw socket and waits for the reply.
func ping(t *testing.T, pid int, dst netip.Addr) error {
	t.Helper()
	do := func() error {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		// Like ping(8), send an echo every 250 ms for up to 3 s: a bridge
		// port whose veth just came up stays disabled until the kernel's
		// linkwatch reports the carrier, which it rate-limits to once a
		// second (net/core/link_watch.c), so a first echo can be lost.
		id := os.Getpid() & 0xffff
		buf := make([]byte, 1500)
		for seq := 1; seq <= 12; seq++ {
			msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("minirun")}}
			b, _ := msg.Marshal(nil)
			if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			for {
				var n int
				var from net.Addr
				n, from, err = c.ReadFrom(buf)
				if err != nil {
					break
				}
				rm, perr := icmp.ParseMessage(1, buf[:n])
				if perr == nil && rm.Type == ipv4.ICMPTypeEchoReply && from.String() == dst.String() {
					return nil
				}
			}
		}
		return fmt.Errorf("ping %s: %w", dst, err)
	}
	if pid == 0 {
		return do()
	}
	return inNetNS(t, pid, do)
}

// listen opens a TCP or UDP listener in pid's namespace that answers
// every connection (or datagram) with the address of the peer it sees.
func listen(t *testing.T, pid int, proto, addr string) {
	t.Helper()
	err := inNetNS(t, pid, func() error {
		if proto == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			t.Cleanup(func() { pc.Close() })
			go func() {
				buf := make([]byte, 1500)
				for {
					_, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo([]byte(from.(*net.UDPAddr).IP.String()), from)
				}
			}()
			return nil
		}
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
				c.Close()
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatalf("listen on %s/%s in %d: %v", addr, proto, pid, err)
	}
}

// dial connects from pid's namespace (0: the test host) and returns what
// the listener said: the client address it saw.
func dial(t *testing.T, pid int, proto, addr string) (string, error) {
	t.Helper()
	var out string
	do := func() error {
		c, err := net.DialTimeout(proto+"4", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if proto == "udp" {
			if _, err := c.Write([]byte("hi")); err != nil {
				return err
			}
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		out = string(buf[:n])
		return nil
	}
	var err error
	if pid == 0 {
		err = do()
	} else {
		err = inNetNS(t, pid, do)
	}
	return out, err
}

// uplink makes the test host's "outside world": a veth pair mrtu<n>h (on
// the host, hostIP) ↔ eth0 in a new namespace (outsideIP), TEST-NET-1
// addresses on a link only this test has. The machine's own eth0 is in
// another namespace and never sees any of it.
func uplink(t *testing.T, hostIP, outsideIP netip.Prefix) *ctr {
	t.Helper()
	out := newCtr(t, "outside")
	name := fmt.Sprintf("mrtu%dh", out.pid%100000)
	la := netlink.NewLinkAttrs()
	la.Name = name
	ns, err := netns.GetFromPid(out.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteLink(name) })
	if err := addAddr(name, hostIP); err != nil {
		t.Fatal(err)
	}
	if err := setLinkUp(name); err != nil {
		t.Fatal(err)
	}
	if err := inNS(out.pid, func(h *netlink.Handle) error {
		l, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := h.AddrAdd(l, nlAddr(outsideIP)); err != nil {
			return err
		}
		return h.LinkSetUp(l)
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// nftList is nft's own listing of a chain, to compare with what minirun
// meant to install.
func nftList(t *testing.T, table, chain string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "chain", "ip", table, chain).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list chain ip %s %s: %v\n%s", table, chain, err, out)
	}
	return string(out)
}

func unixGetsid(pid int) (int, error) { return unix.Getsid(pid) }
