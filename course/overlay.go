package course

// The overlay chapter: Docker's classic multi-host network on one
// machine. Two "hosts" are network namespaces joined by an underlay (a
// third namespace holding a bridge, the switch, which also runs the one
// etcd); each host's network.Manager runs on a thread inside its host's
// namespace, with a data root of its own and an etcd client that dials
// from there, so every link, FDB entry, nftables rule and DNS server of a
// host lives in that host's namespace, and the containers' traffic
// crosses the underlay as VXLAN, as between two machines:
//
//	switch mrovsw-TAG: bridge mrul0 192.168.90.254/24, etcd :2379
//	   ├── mrulA ═ eth0 of host A (mrovA-TAG) 192.168.90.1
//	   └── mrulB ═ eth0 of host B (mrovB-TAG) 192.168.90.2
//
// What the chapter narrates of the overlay itself is network/'s own code
// path (overlay.go, overlay_peers.go): the same Manager calls the daemon
// makes for `network create -d overlay`, its etcd watch and a container's
// shim. Only the lab around it is the chapter's: the namespaces, etcd,
// the two "containers" (processes in network namespaces of their own)
// and the checks (the tables, the keys, a ping, a DNS question).

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minirun/minirun/etcd"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/memstore"
	"github.com/minirun/minirun/network"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func init() {
	register(&Chapter{
		Name:  explain.ChapterOverlay,
		Shows: []explain.Chapter{explain.ChapterOverlay, explain.ChapterNetwork},
		// Of the network chapter's steps, the overlay's and those that
		// build each host's half of the network; the bridge network's NAT
		// and firewall are its own chapter's.
		Keep: overlayKeep,
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			if os.Geteuid() != 0 {
				return -1, errors.New("explain overlay: needs root (it makes network namespaces, links and VXLAN devices)")
			}
			if _, err := os.Stat(EtcdBinary); err != nil {
				return -1, fmt.Errorf("explain overlay: %s is missing: install etcd-server (scripts/setup.sh does)", EtcdBinary)
			}
			return 0, overlayScenario(tr, nil)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error {
			// The store's steps are rehearsed on a store in memory, so
			// that host B's steps are described from what host A's would
			// have written (see storeRehearsal).
			return overlayScenario(explain.NewDryRun(&storeRehearsal{Sink: tr.Sink()}), &memstore.Store{})
		},
	})
}

// overlayKeep are the network chapter's steps the overlay chapter shows.
var overlayKeep = map[string]bool{
	network.StepOverlayName: true, network.StepOverlayVNI: true, network.StepOverlaySubnet: true,
	network.StepOverlayDefine: true, network.StepOverlayVXLAN: true, network.StepOverlayIPAM: true,
	network.StepOverlayEndpoint: true, network.StepOverlayPeers: true, network.StepOverlayPeer: true,
	network.StepOverlayPeerDelete: true, network.StepOverlayEndpointDelete: true,
	network.StepOverlayIPAMRelease: true, network.StepOverlayUndefine: true, network.StepOverlayVXLANDelete: true,
	"network-state": true, "network-bridge": true, "network-dns": true, "network-veth": true,
	"network-addr": true, "network-join": true, "network-dns-rr": true,
	"network-veth-delete": true, "network-ipam-release": true, "network-dns-stop": true,
	"network-bridge-delete": true, "network-state-delete": true,
}

// EtcdBinary is the etcd the overlay chapter runs (Debian's etcd-server).
const EtcdBinary = "/usr/bin/etcd"

// The lab's underlay: a private /24 that exists only inside the lab's
// namespaces (the machine's own namespace never sees it); the switch,
// and etcd on it, is .254.
const (
	underlayPrefix = "192.168.90."
	underlayBits   = 24
	switchBridge   = "mrul0"
	etcdClientPort = 2379
	etcdPeerPort   = 2380
	overlayNetName = "ov"
)

// labHost is one host of the lab: its namespace, its address on the
// underlay and its network.Manager (a data root of its own).
type labHost struct {
	name string // A or B
	ns   string // ip netns name
	addr netip.Addr
	m    *network.Manager
	live bool
}

// do runs fn on a thread inside the host's namespace: every netlink
// call, nftables rule, sysctl and child process of fn is the host's. In
// a dry run nothing is entered.
func (h *labHost) do(fn func() error) error {
	if !h.live {
		return fn()
	}
	return inNetNS(netnsPath(h.ns), fn)
}

func netnsPath(name string) string { return "/run/netns/" + name }

// inNetNS runs fn on a goroutine locked to a thread that setns(2)'d into
// the namespace at path (CNI's pkg/ns/README.md: a namespace belongs to
// a thread, not to a process). The thread goes back before it is
// unlocked; if it cannot, the goroutine ends still locked and Go ends the
// thread with it, so no other goroutine ever runs in the wrong namespace.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", path, err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// dialIn dials from inside the namespace at path: a socket stays in the
// namespace it was made in, whatever thread uses it later.
func dialIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetNS(path, func() (err error) {
			d := net.Dialer{Timeout: etcd.DialTimeout}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// overlayLab is the chapter's lab: its names, its directory and, once
// made, its hosts and store.
type overlayLab struct {
	tr   *explain.Tracer
	live bool
	tag  string
	dir  string // the lab's directory: data roots, etcd's data and log
	sw   string // the switch's namespace
	a, b *labHost
	url  string // etcd://192.168.90.254:2379
	// keys reads the store (the switch's own client): the keys step.
	keys network.ClusterStore
}

// overlayScenario is the chapter, as two hosts and a student would do it:
//
//	ip netns add … (the switch, hosts A and B, the underlay between them)
//	nsenter --net=/run/netns/SWITCH etcd …                (the store)
//	minirun daemon --cluster-store etcd://… --cluster-advertise ADDR  (A, B)
//	A: minirun network create -d overlay ov
//	B: (its daemon's watch) the network's record
//	A: minirun run -d --network ov --network-alias web --name c1 …
//	B: minirun run -d --network ov --network-alias web --name c2 …
//	A: (its daemon's watch) c2's FDB and neighbour entries
//	bridge fdb show; ip neigh show; etcdctl get --prefix /minirun/
//	A: ping c2; dig web
//	B, A: minirun rm -f c2, c1; A: minirun network rm ov
//
// The teardown is the undo stack, narrated, whether the scenario got to
// the end or failed halfway: nothing of the lab is left.
//
// A dry run (dry, a store in memory, set) narrates the same steps, none
// executed but those of storeRehearsal, on the store in memory.
func overlayScenario(tr *explain.Tracer, dry *memstore.Store) (retErr error) {
	live := dry == nil
	l := &overlayLab{tr: tr, live: live, tag: strconv.Itoa(os.Getpid() % 100000)}
	l.sw = "mrovsw-" + l.tag
	l.url = fmt.Sprintf("etcd://%s254:%d", underlayPrefix, etcdClientPort)
	var undo cleanup.Stack
	defer func() { retErr = errors.Join(retErr, undo.Run()) }()

	l.dir = "/tmp/minirun-overlay." + l.tag
	if live {
		var err error
		if l.dir, err = os.MkdirTemp("", "minirun-overlay."); err != nil {
			return err
		}
		undo.Add("remove "+l.dir, func() error { return os.RemoveAll(l.dir) })
	}
	if err := tr.Do(l.switchStep(), &undo); err != nil {
		return err
	}
	for i, name := range []string{"A", "B"} {
		h := &labHost{name: name, ns: "mrov" + name + "-" + l.tag, live: live,
			addr: netip.MustParseAddr(underlayPrefix + strconv.Itoa(i+1))}
		if err := tr.Do(l.hostStep(h, "mrul"+name), &undo); err != nil {
			return err
		}
		m, err := network.Open(filepath.Join(l.dir, name), tr)
		if err != nil {
			return err
		}
		h.m = m
		if i == 0 {
			l.a = h
		} else {
			l.b = h
		}
		// A safety net for a scenario that stops halfway: whatever
		// network is still on the host goes (nothing, after the
		// teardown below).
		undo.Add("reset the networks of host "+name, func() error { return l.reset(h) })
	}
	if err := tr.Do(l.etcdStep(), &undo); err != nil {
		return err
	}
	for _, h := range []*labHost{l.a, l.b} {
		if err := tr.Do(l.joinStep(h), &undo); err != nil {
			return err
		}
		if !live {
			h.m.SetCluster(network.Cluster{Store: dry, URL: l.url, Advertise: h.addr})
		}
	}
	ctx := context.Background()
	var n *network.Network
	if err := l.a.do(func() (err error) {
		n, err = l.a.m.Create(network.CreateOpts{Name: overlayNetName, Driver: network.DriverOverlay})
		return err
	}); err != nil {
		return err
	}
	undo.Add("network rm "+overlayNetName, func() error {
		return errors.Join(
			l.a.do(func() error { return l.a.m.Remove(overlayNetName) }),
			l.b.do(func() error { return l.b.m.SyncOverlayNetworks(ctx) }))
	})
	if err := tr.Do(watchStep(l.b, network.ClusterPrefix+"networks/", explain.Text{PT: "uma rede nova", EN: "a new network"}), nil); err != nil {
		return err
	}
	if err := l.b.do(func() error { return l.b.m.SyncOverlayNetworks(ctx) }); err != nil {
		return err
	}
	var eps []*network.Endpoint
	var pids []int
	for i, h := range []*labHost{l.a, l.b} {
		name := "c" + strconv.Itoa(i+1)
		pid := 0
		if err := tr.Do(l.containerStep(h, name, &pid), &undo); err != nil {
			return err
		}
		var ep *network.Endpoint
		if err := h.do(func() (err error) {
			ep, err = h.m.Reserve(overlayNetName, newContainerID(), name, network.EndpointOpts{Aliases: []string{"web"}})
			if err != nil {
				return err
			}
			return h.m.Attach(ep, pid, "")
		}); err != nil {
			return err
		}
		other := l.b
		if h == l.b {
			other = l.a
		}
		// rm -f: the endpoint leaves the host and the cluster, and the
		// other host's watch takes its entries away.
		undo.Add("rm -f "+name, func() error {
			return errors.Join(
				h.do(func() error { return h.m.Detach(ep) }),
				other.do(func() error { return other.m.SyncOverlayPeers(ctx, overlayNetName) }))
		})
		eps, pids = append(eps, ep), append(pids, pid)
	}
	// What A's daemon does when its watch sees c2's key.
	if err := tr.Do(watchStep(l.a, network.ClusterPrefix+"endpoints/"+n.ID+"/", explain.Text{PT: "um endpoint novo", EN: "a new endpoint"}), nil); err != nil {
		return err
	}
	if err := l.a.do(func() error { return l.a.m.SyncOverlayPeers(ctx, overlayNetName) }); err != nil {
		return err
	}
	for _, h := range []*labHost{l.a, l.b} {
		if err := h.do(func() error { return tr.Do(tablesStep(h, n), nil) }); err != nil {
			return err
		}
	}
	if err := tr.Do(l.keysStep(), nil); err != nil {
		return err
	}
	if err := tr.Do(l.pingStep(eps[0], pids[0], eps[1]), nil); err != nil {
		return err
	}
	// The network's DNS server on A answers for containers on both hosts.
	return l.a.do(func() error { return tr.Do(network.DNSRoundRobinStep(n, "web", 2), nil) })
}

// reset removes what is left of minirun's networks on h (detaching any
// endpoint first), as a test's cleanup does: a no-op after the teardown.
func (l *overlayLab) reset(h *labHost) error {
	if !l.live {
		return nil
	}
	return h.do(func() error {
		nets, err := h.m.List()
		if err != nil {
			return err
		}
		for _, n := range nets {
			for _, ep := range n.Containers {
				err = errors.Join(err, h.m.Detach(ep))
			}
		}
		return errors.Join(err, h.m.Reset())
	})
}

// ip runs ip(8) with args; its error carries ip's own message.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ipOut runs ip(8) and returns its output, or the error as text: evidence.
func ipOut(args ...string) string {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("ip %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// delNetns deletes a named namespace and with it every link, address and
// rule in it (a veth whose other end is elsewhere goes too); one already
// gone is no error.
func delNetns(name string) error {
	if _, err := os.Stat(netnsPath(name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return ip("netns", "del", name)
}

func (l *overlayLab) switchStep() explain.Step {
	sw, br, addr := l.sw, switchBridge, underlayPrefix+"254/24"
	return explain.Step{
		ID: "overlay-underlay", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: "Cria o switch do underlay: o namespace " + sw + " com a bridge " + br,
			EN: "Create the underlay's switch: namespace " + sw + " with bridge " + br},
		Why: explain.Text{PT: "Os dois hosts do laboratório são namespaces de rede desta máquina, ligados por esta bridge como duas máquinas por um switch: o underlay, a rede que os pacotes VXLAN atravessam. O etcd roda aqui também, em " + underlayPrefix + "254. Nada disso aparece no namespace da máquina.",
			EN: "The lab's two hosts are network namespaces of this machine, joined by this bridge as two machines by a switch: the underlay, the network the VXLAN packets cross. etcd runs here too, on " + underlayPrefix + "254. None of it shows in the machine's own namespace."},
		Shell: fmt.Sprintf("ip netns add %s && ip -n %s link set lo up && ip -n %s link add %s type bridge && ip -n %s addr add %s dev %s && ip -n %s link set %s up",
			sw, sw, sw, br, sw, addr, br, sw, br),
		Do: func() error {
			if err := ip("netns", "add", sw); err != nil {
				return err
			}
			for _, args := range [][]string{{"link", "set", "lo", "up"}, {"link", "add", br, "type", "bridge"},
				{"addr", "add", addr, "dev", br}, {"link", "set", br, "up"}} {
				if err := ip(append([]string{"-n", sw}, args...)...); err != nil {
					return errors.Join(err, delNetns(sw))
				}
			}
			return nil
		},
		Undo:      func() error { return delNetns(sw) },
		UndoShell: "ip netns del " + sw,
		Evidence:  func() string { return ipOut("-n", sw, "-br", "addr", "show", br) },
	}
}

// hostStep makes host h: its namespace, and a veth whose one end (port)
// is a port of the switch and whose other end is the host's eth0.
func (l *overlayLab) hostStep(h *labHost, port string) explain.Step {
	sw, ns, addr := l.sw, h.ns, fmt.Sprintf("%s/%d", h.addr, underlayBits)
	return explain.Step{
		ID: "overlay-host", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: fmt.Sprintf("Cria o host %s: o namespace %s, com eth0 %s no switch", h.name, ns, addr),
			EN: fmt.Sprintf("Create host %s: namespace %s, with eth0 %s on the switch", h.name, ns, addr)},
		Why: explain.Text{PT: "Um host com a sua placa de rede: tudo o que o minirun fizer para este host (bridge, VXLAN, regras, DNS) roda numa thread dentro deste namespace. O endereço do eth0 é o --cluster-advertise do host: o destino dos pacotes VXLAN que os outros hosts mandam para cá.",
			EN: "A host with its network card: all minirun does for this host (bridge, VXLAN, rules, DNS) runs on a thread inside this namespace. eth0's address is the host's --cluster-advertise: where the other hosts send their VXLAN packets for it."},
		Shell: fmt.Sprintf("ip netns add %s && ip -n %s link add %s type veth peer name eth0 netns %s && ip -n %s link set %s master %s up && ip -n %s addr add %s dev eth0 && ip -n %s link set eth0 up && ip -n %s link set lo up",
			ns, sw, port, ns, sw, port, switchBridge, ns, addr, ns, ns),
		Do: func() error {
			if err := ip("netns", "add", ns); err != nil {
				return err
			}
			// Both ends are made where they belong at once: no link of
			// the lab ever shows in the machine's own namespace.
			for _, args := range [][]string{
				{"-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
				{"-n", sw, "link", "set", port, "master", switchBridge, "up"},
				{"-n", ns, "addr", "add", addr, "dev", "eth0"},
				{"-n", ns, "link", "set", "eth0", "up"},
				{"-n", ns, "link", "set", "lo", "up"},
			} {
				if err := ip(args...); err != nil {
					return errors.Join(err, delNetns(ns))
				}
			}
			return nil
		},
		Undo:      func() error { return delNetns(ns) },
		UndoShell: "ip netns del " + ns,
		Evidence:  func() string { return ipOut("-n", ns, "-br", "addr", "show", "eth0") },
	}
}

// etcdArgs is the command line of the lab's one etcd member, on the
// switch's address only (its namespace is the lab's: nothing outside
// reaches it), electing itself at once (a single member need not wait
// the default second).
func etcdArgs(dataDir, host string) []string {
	client := fmt.Sprintf("http://%s:%d", host, etcdClientPort)
	peer := fmt.Sprintf("http://%s:%d", host, etcdPeerPort)
	return []string{"--name", "minirun", "--data-dir", dataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "minirun=" + peer, "--initial-cluster-state", "new",
		"--heartbeat-interval", "10", "--election-timeout", "100"}
}

func (l *overlayLab) etcdStep() explain.Step {
	host := underlayPrefix + "254"
	data := filepath.Join(l.dir, "etcd")
	args := etcdArgs(data, host)
	var cmd *exec.Cmd
	exited := make(chan error, 1)
	return explain.Step{
		ID: "overlay-etcd", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: "Inicia o etcd do cluster no switch, em " + host + ":2379",
			EN: "Start the cluster's etcd on the switch, at " + host + ":2379"},
		Why: explain.Text{PT: "O --cluster-store do Docker clássico: os hosts combinam nele o VNI, a sub-rede e os endereços de cada rede overlay, e cada um fica sabendo dos contêineres dos outros observando as chaves. Um membro só basta para a aula; nsenter entra só no namespace de rede.",
			EN: "Classic Docker's --cluster-store: the hosts agree in it on each overlay network's VNI, subnet and addresses, and each learns of the others' containers by watching the keys. One member is enough for a class; nsenter enters only the network namespace."},
		Shell: "nsenter --net=" + netnsPath(l.sw) + " " + EtcdBinary + " " + strings.Join(args, " ") + " 2>" + filepath.Join(l.dir, "etcd.log") + " &",
		Do: func() error {
			logf, err := os.OpenFile(filepath.Join(l.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			defer logf.Close()
			cmd = exec.Command("nsenter", append([]string{"--net=" + netnsPath(l.sw), "--", EtcdBinary}, args...)...)
			cmd.Stdout, cmd.Stderr = logf, logf
			// NOTE: Pdeathsig kills etcd should minirun die without its
			// undo (a SIGKILL); it is tied to the thread that forked
			// (go.dev/issue/27505), which lives as long as the process:
			// inNetNS never ends a thread it could bring back.
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("start etcd: %w", err)
			}
			go func() { exited <- cmd.Wait() }()
			c, err := etcd.NewDial(l.url, dialIn(netnsPath(l.sw)))
			if err != nil {
				return errors.Join(err, stopEtcd(cmd, exited, data))
			}
			l.keys = c
			// Ready once it answers a read; a member that cannot start
			// (a port taken, a bad flag) exits, and its log says why.
			deadline := time.Now().Add(20 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, _, err := c.Get(ctx, network.ClusterPrefix)
				cancel()
				if err == nil {
					return nil
				}
				select {
				case werr := <-exited:
					exited <- werr
					log, _ := os.ReadFile(filepath.Join(l.dir, "etcd.log"))
					return errors.Join(fmt.Errorf("etcd exited (%v): %s", werr, lastLines(string(log), 5)), stopEtcd(cmd, exited, data))
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					return errors.Join(fmt.Errorf("etcd at %s: no answer in 20 s: %w", host, err), stopEtcd(cmd, exited, data))
				}
			}
		},
		Undo:      func() error { return stopEtcd(cmd, exited, data) },
		UndoShell: "kill %1; rm -rf " + data,
		Evidence: func() string {
			return psLine(cmd.Process.Pid)
		},
	}
}

// stopEtcd kills the lab's etcd, waits for it and removes its data.
func stopEtcd(cmd *exec.Cmd, exited chan error, data string) error {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
		err := <-exited
		exited <- err
	}
	return os.RemoveAll(data)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// joinStep gives host h's Manager the cluster: what `minirun daemon
// --cluster-store URL --cluster-advertise ADDR` does with its client.
func (l *overlayLab) joinStep(h *labHost) explain.Step {
	var c *etcd.Client
	return explain.Step{
		ID: "overlay-join", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: fmt.Sprintf("O host %s entra no cluster: store %s, anunciando %s", h.name, l.url, h.addr),
			EN: fmt.Sprintf("Host %s joins the cluster: store %s, advertising %s", h.name, l.url, h.addr)},
		Why: explain.Text{PT: "É o que o daemon faz com --cluster-store e --cluster-advertise: um cliente do etcd, que aqui conecta de dentro do namespace do host, pelo underlay, e o endereço que os outros hosts usam como destino dos pacotes VXLAN para cá.",
			EN: "It is what the daemon does with --cluster-store and --cluster-advertise: an etcd client, which here connects from inside the host's namespace, over the underlay, and the address the other hosts send their VXLAN packets for this host to."},
		Shell: fmt.Sprintf("nsenter --net=%s minirun daemon --cluster-store %s --cluster-advertise %s &", netnsPath(h.ns), l.url, h.addr),
		Do: func() error {
			var err error
			c, err = etcd.NewDial(l.url, dialIn(netnsPath(h.ns)))
			if err != nil {
				return err
			}
			h.m.SetCluster(network.Cluster{Store: c, URL: l.url, Advertise: h.addr})
			return nil
		},
		Undo: func() error { c.Close(); return nil },
	}
}

// watchStep is what host h's daemon sees in its etcd watch of prefix
// (daemon/cluster.go): the change (what) that the reconcile after it
// answers.
func watchStep(h *labHost, prefix string, what explain.Text) explain.Step {
	return explain.Step{
		ID: "overlay-watch", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: "O daemon do host " + h.name + " vê no etcd " + what.PT,
			EN: "Host " + h.name + "'s daemon sees " + what.EN + " in etcd"},
		Why: explain.Text{PT: "O daemon de cada host observa as chaves de redes e de endpoints no etcd (um watch, daemon/cluster.go) e, a cada evento, põe o host de acordo com elas: os passos a seguir são os do host " + h.name + ".",
			EN: "Each host's daemon watches etcd's networks/ and endpoints/NETWORK/ prefixes (daemon/cluster.go) and, on every event, reconciles the host with the keys: the next steps are host " + h.name + "'s."},
		Shell: "etcdctl watch --prefix " + prefix,
	}
}

// newContainerID is a container id as minirun makes them: 64 hex digits.
func newContainerID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// containerStep starts a "container" on host h: a process in a network
// namespace of its own, all the overlay needs of a container (the veth's
// other end goes into it); *pid is its pid once started.
func (l *overlayLab) containerStep(h *labHost, name string, pid *int) explain.Step {
	var cmd *exec.Cmd
	return explain.Step{
		ID: "overlay-container", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: fmt.Sprintf("Inicia o contêiner %s do host %s: um processo num namespace de rede novo", name, h.name),
			EN: fmt.Sprintf("Start container %s of host %s: a process in a new network namespace", name, h.name)},
		Why: explain.Text{PT: "Para a rede, um contêiner é o seu namespace de rede: vazio, só com lo, até que a rede ponha nele a ponta de um veth. Os outros namespaces de um contêiner de verdade estão no capítulo namespaces.",
			EN: "To the network, a container is its network namespace: empty, with only lo, until the network puts a veth's end into it. A real container's other namespaces are the namespaces chapter's."},
		Shell: "unshare --net sleep infinity &   # PID=$!",
		Do: func() error {
			cmd = exec.Command("sleep", "infinity")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("start %s: %w", name, err)
			}
			*pid = cmd.Process.Pid
			return nil
		},
		Undo: func() error {
			cmd.Process.Kill()
			cmd.Wait()
			return nil
		},
		UndoShell: "kill $PID",
		Evidence: func() string {
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
			return fmt.Sprintf("pid %d net:%s", cmd.Process.Pid, strings.TrimPrefix(ns, "net:"))
		},
	}
}

// tablesStep shows what host h's VXLAN knows: its FDB and neighbour
// entries, read from the kernel (call it on a thread in h's namespace).
func tablesStep(h *labHost, n *network.Network) explain.Step {
	vx := n.Overlay.VXLAN
	return explain.Step{
		ID: "overlay-tables", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: "O que o VXLAN " + vx + " do host " + h.name + " sabe",
			EN: "What host " + h.name + "'s VXLAN " + vx + " knows"},
		Why: explain.Text{PT: "No FDB, o MAC de cada contêiner remoto aponta para o endereço do host dele (dst): é para lá que vai o pacote UDP 4789. Na tabela de vizinhos, o IP dele aponta para o MAC: com `proxy`, o VXLAN responde o ARP dos contêineres daqui sem mandar nada pelo underlay.",
			EN: "In the FDB, each remote container's MAC points at its host's address (dst): where the UDP 4789 packet goes. In the neighbour table, its IP points at the MAC: with `proxy`, the VXLAN answers the local containers' ARP without sending anything over the underlay."},
		Shell: fmt.Sprintf("ip netns exec %s sh -c 'bridge fdb show dev %s; ip neigh show dev %s'", h.ns, vx, vx),
		Evidence: func() string {
			l, err := netlink.LinkByName(vx)
			if err != nil {
				return err.Error()
			}
			var lines []string
			fdb, _ := netlink.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
			for _, e := range fdb {
				if e.IP != nil && e.State&netlink.NUD_PERMANENT != 0 {
					lines = append(lines, fmt.Sprintf("fdb %s dst %s self permanent", e.HardwareAddr, e.IP))
				}
			}
			neigh, _ := netlink.NeighList(l.Attrs().Index, unix.AF_INET)
			for _, e := range neigh {
				if e.State&netlink.NUD_PERMANENT != 0 {
					lines = append(lines, fmt.Sprintf("neigh %s lladdr %s PERMANENT", e.IP, e.HardwareAddr))
				}
			}
			if len(lines) == 0 {
				return "fdb: -, neigh: -"
			}
			return strings.Join(lines, "\n")
		},
	}
}

// keysStep lists the store's keys under /minirun/, as the switch reads
// them.
func (l *overlayLab) keysStep() explain.Step {
	var kvs map[string][]byte
	return explain.Step{
		ID: "overlay-keys", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: "As chaves do cluster no etcd", EN: "The cluster's keys in etcd"},
		Why: explain.Text{PT: "Tudo o que os hosts combinaram: o nome, o VNI e a sub-rede da rede, a sua definição, um endereço reservado e um endpoint anunciado por contêiner. Nenhum host guarda o estado do outro: cada um o lê daqui.",
			EN: "All the hosts agreed on: the network's name, VNI and subnet, its definition, one claimed address and one announced endpoint per container. No host keeps the other's state: each reads it from here."},
		Shell: "etcdctl --endpoints " + strings.TrimPrefix(l.url, "etcd://") + " get --prefix --keys-only " + network.ClusterPrefix,
		Do: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			kvs, _, err = l.keys.List(ctx, network.ClusterPrefix)
			return err
		},
		// Ids are cut to 12 digits, as docker prints them, and JSON
		// values to their start: a key a line, on a projector.
		Evidence: func() string {
			var keys []string
			for k, v := range kvs {
				val := longID.ReplaceAllStringFunc(string(v), func(id string) string { return id[:12] + "…" })
				if r := []rune(val); len(r) > 30 {
					val = string(r[:29]) + "…"
				}
				keys = append(keys, longID.ReplaceAllStringFunc(k, func(id string) string { return id[:12] + "…" })+" = "+val)
			}
			sort.Strings(keys)
			return strings.Join(keys, "\n")
		},
	}
}

// longID is a 64-digit id (a network's, an endpoint's).
var longID = regexp.MustCompile(`[0-9a-f]{64}`)

// pingStep sends ICMP echoes from the first container (host A) to the
// second (host B).
func (l *overlayLab) pingStep(from *network.Endpoint, pid int, to *network.Endpoint) explain.Step {
	var rtt time.Duration
	dst := to.IP()
	return explain.Step{
		ID: "overlay-ping", Chapter: explain.ChapterOverlay,
		Title: explain.Text{PT: fmt.Sprintf("%s (host A) pinga %s (%s, host B)", from.Name, to.Name, dst),
			EN: fmt.Sprintf("%s (host A) pings %s (%s, host B)", from.Name, to.Name, dst)},
		Why: explain.Text{PT: "O eco sai do eth0 do contêiner para a bridge do host A; o MAC do destino está atrás do VXLAN, que põe o quadro num pacote UDP 4789 para " + l.b.addr.String() + " com o VNI da rede; o VXLAN do host B o tira do pacote e o entrega à bridge, e ela ao contêiner. A resposta faz o caminho de volta.",
			EN: "The echo leaves the container's eth0 for host A's bridge; the destination's MAC sits behind the VXLAN, which puts the frame in a UDP 4789 packet to " + l.b.addr.String() + " with the network's VNI; host B's VXLAN takes it out of the packet and hands it to the bridge, and the bridge to the container. The reply goes the way back."},
		Shell: fmt.Sprintf("nsenter -t $PID -n ping -c 1 %s", dst),
		Do: func() (err error) {
			rtt, err = ping(fmt.Sprintf("/proc/%d/ns/net", pid), dst)
			return err
		},
		Evidence: func() string {
			return fmt.Sprintf("%s: icmp echo reply, %.3f ms", dst, float64(rtt.Microseconds())/1000)
		},
	}
}

// ping sends one ICMP echo at a time (RFC 792) from the namespace at
// nsPath to dst, every 250 ms for up to 3 s (a bridge port that just came
// up stays disabled until linkwatch reports its carrier, at most once a
// second), and returns the round trip of the first reply.
func ping(nsPath string, dst netip.Addr) (time.Duration, error) {
	var c net.PacketConn
	if err := inNetNS(nsPath, func() (err error) {
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return 0, fmt.Errorf("icmp socket: %w", err)
	}
	defer c.Close()
	id := uint16(os.Getpid())
	buf := make([]byte, 1500)
	for seq := uint16(1); seq <= 12; seq++ {
		msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'm', 'i', 'n', 'i', 'r', 'u', 'n'}
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		start := time.Now()
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return 0, fmt.Errorf("ping %s: %w", dst, err)
		}
		c.SetReadDeadline(start.Add(250 * time.Millisecond))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			// An echo reply (type 0) to this process's id, from dst.
			if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == id && from.String() == dst.String() {
				return time.Since(start), nil
			}
		}
	}
	return 0, fmt.Errorf("ping %s: no reply in 3 s", dst)
}

// icmpChecksum is the Internet checksum (RFC 1071) of b.
func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// storeRehearsal is the sink of the chapter's dry run. The steps that
// only write the cluster store (claims, definition, announcement and
// their deletes) are rehearsed on a store in memory (a memstore the dry
// run's Managers share), so that what host B then reads from the store —
// the network's definition, host A's endpoint — is what host A's steps
// would have written, and B's steps are described as a live run makes
// them. Nothing else runs: the host is not touched.
type storeRehearsal struct{ explain.Sink }

// storeOnly are the steps whose Do touches nothing but the cluster store.
var storeOnly = map[string]bool{
	network.StepOverlayName: true, network.StepOverlayVNI: true, network.StepOverlaySubnet: true,
	network.StepOverlayDefine: true, network.StepOverlayIPAM: true, network.StepOverlayEndpoint: true,
	network.StepOverlayEndpointDelete: true, network.StepOverlayIPAMRelease: true, network.StepOverlayUndefine: true,
}

// Begin passes the step on, then rehearses it if it only writes the
// store.
func (r *storeRehearsal) Begin(ev *explain.Event) error {
	if err := r.Sink.Begin(ev); err != nil {
		return err
	}
	if ev.DryRun && !ev.Undo && storeOnly[ev.Step.ID] && ev.Step.Do != nil {
		return ev.Step.Do()
	}
	return nil
}
