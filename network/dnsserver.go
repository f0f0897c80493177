package network

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// DNSServerArgs are the arguments that make minirun (or a test binary)
// run as a network's DNS server: `minirun network dns-server --dir DIR ID`,
// a hidden subcommand, so `ps` shows what the process is.
var DNSServerArgs = []string{"network", "dns-server"}

// readyFD is the descriptor on which the DNS server tells the process that
// started it "ok" (its sockets are bound) or why it failed.
const readyFD = 3

// ReadyFile returns the readiness pipe the starting process passed as fd
// 3, or nil when the server was started by hand.
func ReadyFile() *os.File {
	if _, err := unix.FcntlInt(readyFD, unix.F_GETFD, 0); err != nil {
		return nil
	}
	return os.NewFile(readyFD, "ready")
}

// startDNS starts the network's DNS server as a separate process — the
// minirun binary re-executed in the dns-server role — in a session of its
// own (setsid), so it survives the command that started it and no
// terminal's hangup reaches it. It returns once the server has bound its
// sockets, and records the pid and start time in the network's state.
func (m *Manager) startDNS(n *Network) error {
	if m.Exe == "" {
		return errors.New("start dns server: cannot find minirun's own executable")
	}
	logPath := filepath.Join(m.netDir(n.ID), "dns.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := append(append([]string{}, DNSServerArgs...), "--dir", m.dir, n.ID)
	cmd := exec.Command(m.Exe, args...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w} // becomes fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start dns server for %s: %w", n.Name, err)
	}
	w.Close()
	// Reap it if it exits while this process lives; once this process
	// exits, init (or a subreaper) adopts it.
	go cmd.Wait()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, _ := io.ReadAll(r)
	if s := strings.TrimSpace(string(msg)); s != "ok" {
		cmd.Process.Kill()
		if s == "" {
			s = "exited before it was ready; see " + logPath
		}
		return fmt.Errorf("dns server for network %s: %s", n.Name, s)
	}
	st, err := procStat(cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("dns server for network %s died at once: %w", n.Name, err)
	}
	n.DNS = &DNSProcess{Pid: cmd.Process.Pid, StartTime: st.start, Addr: net.JoinHostPort(n.Gateway().String(), "53")}
	return m.save(n)
}

// stopDNS stops the network's DNS server and forgets it.
func (m *Manager) stopDNS(n *Network) error {
	if err := stopDNSProcess(n.DNS); err != nil {
		return err
	}
	n.DNS = nil
	return nil
}

// procInfo is the part of /proc/PID/stat minirun reads (proc(5)): the
// state letter (field 3) and the start time in clock ticks (field 22).
type procInfo struct {
	state byte
	start uint64
}

func procStat(pid int) (procInfo, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may contain ") "
	if i < 0 || i+2 >= len(s) {
		return procInfo{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return procInfo{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procInfo{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return procInfo{state: f[0][0], start: st}, nil
}

// alive reports whether p is still the recorded process: same pid, same
// start time, not a zombie.
func alive(p *DNSProcess) bool {
	if p == nil || p.Pid <= 0 {
		return false
	}
	st, err := procStat(p.Pid)
	return err == nil && st.state != 'Z' && st.start == p.StartTime
}

func dnsAlive(n *Network) bool { return alive(n.DNS) }

// stopDNSProcess sends SIGTERM, waits up to five seconds, then SIGKILL. A
// process that is gone, or whose pid now belongs to another program, is
// success.
func stopDNSProcess(p *DNSProcess) error {
	if !alive(p) {
		return nil
	}
	if err := unix.Kill(p.Pid, unix.SIGTERM); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop dns server %d: %w", p.Pid, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !alive(p) {
			return nil
		}
	}
	if err := unix.Kill(p.Pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill dns server %d: %w", p.Pid, err)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !alive(p) {
			return nil
		}
	}
	return fmt.Errorf("dns server %d does not die", p.Pid)
}

// parseUpstreams reads "IP[:PORT][,IP[:PORT]…]" into host:port strings.
func parseUpstreams(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(f); err == nil {
			out = append(out, ap.String())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("upstream %q is not IP or IP:PORT", f)
		}
		out = append(out, netip.AddrPortFrom(a, 53).String())
	}
	if len(out) == 0 {
		return nil, errors.New("no upstream resolver given")
	}
	return out, nil
}

// readResolvConf reads the nameserver, search and options lines of a
// resolv.conf(5).
func readResolvConf(path string) (servers, search, options []string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 || strings.HasPrefix(fs[0], "#") || strings.HasPrefix(fs[0], ";") {
			continue
		}
		switch fs[0] {
		case "nameserver":
			servers = append(servers, fs[1])
		case "search", "domain":
			search = fs[1:]
		case "options":
			options = append(options, fs[1:]...)
		}
	}
	return servers, search, options
}

// upstreamsFor chooses where the network's server forwards names it does
// not know: the network's minirun.dns.upstream option, else
// $MINIRUN_DNS_UPSTREAM, else the host's /etc/resolv.conf. The server runs
// in the host's network namespace, so even a 127.0.0.53 (systemd-resolved)
// there works. Its own address is never an upstream (a loop).
func upstreamsFor(n *Network, self string) []string {
	var ups []string
	if v := n.Options[OptDNSUpstream]; v != "" {
		ups, _ = parseUpstreams(v)
	} else if v := os.Getenv(EnvDNSUpstream); v != "" {
		ups, _ = parseUpstreams(v)
	} else {
		servers, _, _ := readResolvConf(hostResolvConf)
		ups, _ = parseUpstreams(strings.Join(servers, ","))
	}
	var out []string
	for _, u := range ups {
		if u != self {
			out = append(out, u)
		}
	}
	return out
}

// membership caches a network's members, re-reading the network's file
// only when it changed (a new inode, size or time: save renames a new
// file over the old one).
type membership struct {
	path string
	mu   sync.Mutex
	key  string
	mem  []member
}

func (ms *membership) members() []member {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	st, err := os.Stat(ms.path)
	if err != nil {
		return nil
	}
	sys := st.Sys().(*syscall.Stat_t)
	key := fmt.Sprint(sys.Ino, st.Size(), st.ModTime().UnixNano())
	if key != ms.key {
		n, err := loadNetwork(ms.path)
		if err != nil {
			return ms.mem
		}
		ms.key, ms.mem = key, membersOf(n)
	}
	return ms.mem
}

// forwarder sends a query to the upstream resolvers in turn and returns
// the first answer; a truncated UDP answer is asked again over TCP.
func forwarder(upstreams []string) func(q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if len(upstreams) == 0 {
		return nil
	}
	return func(q *dns.Msg, tcp bool) (*dns.Msg, error) {
		var last error
		for _, u := range upstreams {
			netw := "udp"
			if tcp {
				netw = "tcp"
			}
			c := &dns.Client{Net: netw, Timeout: 3 * time.Second}
			resp, _, err := c.Exchange(q, u)
			if err == nil && resp.Truncated && !tcp {
				c.Net = "tcp"
				resp, _, err = c.Exchange(q, u)
			}
			if err == nil {
				return resp, nil
			}
			last = err
		}
		return nil, last
	}
}

// ServeDNS is the DNS server process of one network: it binds UDP and TCP
// port 53 on the network's gateway address, says "ok" on ready, answers
// until SIGTERM, and exits by itself when the network's file disappears
// (the network was removed while the server could not be told).
func ServeDNS(dir, id string, ready *os.File) (retErr error) {
	fail := func(err error) error {
		if ready != nil {
			fmt.Fprintf(ready, "%v\n", err)
			ready.Close()
		}
		return err
	}
	path := NetworkFile(dir, id)
	n, err := loadNetwork(path)
	if err != nil {
		return fail(fmt.Errorf("load network %s: %w", id, err))
	}
	addr := net.JoinHostPort(n.Gateway().String(), "53")
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return fail(fmt.Errorf("listen on %s/udp: %w", addr, err))
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		pc.Close()
		return fail(fmt.Errorf("listen on %s/tcp: %w", addr, err))
	}
	ups := upstreamsFor(n, addr)
	lg := log.New(os.Stderr, "dns "+n.Name+": ", log.LstdFlags)
	lg.Printf("pid %d listening on %s udp+tcp, upstream %v", os.Getpid(), addr, ups)
	mem := &membership{path: path}
	res := &Resolver{Network: n.Name, Subnet: n.Subnet(), Members: mem.members, Forward: forwarder(ups)}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		client, tcp := netip.Addr{}, false
		switch a := w.RemoteAddr().(type) {
		case *net.UDPAddr:
			client, _ = netip.AddrFromSlice(a.IP)
		case *net.TCPAddr:
			client, _ = netip.AddrFromSlice(a.IP)
			tcp = true
		}
		resp := res.Answer(q, client.Unmap(), tcp)
		if !tcp {
			// A UDP answer must fit in 512 bytes, or the client's EDNS
			// size; Truncate sets TC so the client retries over TCP.
			size := dns.MinMsgSize
			if o := q.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			resp.Truncate(size)
		}
		if len(q.Question) == 1 {
			var ans []string
			for _, rr := range resp.Answer {
				if a, ok := rr.(*dns.A); ok {
					ans = append(ans, a.A.String())
				}
			}
			lg.Printf("%s %s %s → %s %v", client, dns.TypeToString[q.Question[0].Qtype], q.Question[0].Name, dns.RcodeToString[resp.Rcode], ans)
		}
		w.WriteMsg(resp)
	})
	udpSrv := &dns.Server{PacketConn: pc, Handler: handler}
	tcpSrv := &dns.Server{Listener: ln, Handler: handler}
	errc := make(chan error, 2)
	go func() { errc <- udpSrv.ActivateAndServe() }()
	go func() { errc <- tcpSrv.ActivateAndServe() }()
	if ready != nil {
		fmt.Fprintln(ready, "ok")
		ready.Close()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case s := <-sig:
			lg.Printf("%v: exiting", s)
			udpSrv.Shutdown()
			tcpSrv.Shutdown()
			return nil
		case err := <-errc:
			return fmt.Errorf("serve dns on %s: %w", addr, err)
		case <-tick.C:
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				lg.Printf("network %s is gone: exiting", n.Name)
				udpSrv.Shutdown()
				tcpSrv.Shutdown()
				return nil
			}
		}
	}
}
