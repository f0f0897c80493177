package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/minirun/minirun/container"
	"golang.org/x/sys/unix"
)

// running returns the container named name when its init is alive. The
// container manager's record is checked against the kernel (a "running"
// record whose process died reads as exited).
func (e *Env) running(name string) (*container.Meta, error) {
	meta, err := e.Containers.Get(name)
	if errors.Is(err, container.ErrNotFound) {
		return nil, fmt.Errorf("não há contêiner %q / no container named %q", name, name)
	}
	if err != nil {
		return nil, err
	}
	if !meta.State.Running || meta.State.Pid <= 0 {
		return nil, fmt.Errorf("contêiner %s está %s / container %s is %s, not running",
			name, meta.State.Status, name, meta.State.Status)
	}
	return meta, nil
}

// cgroupFile reads one control file of the cgroup process pid is in: on
// cgroup v2 the file v2 of the group's directory in the single tree; on v1
// the file v1 in the hierarchy of controller. The layout is told apart
// the way runc does it: only the root of a cgroup2 mount has
// cgroup.controllers (a hybrid machine has its cgroup2 at
// /sys/fs/cgroup/unified, with no controllers, and counts as v1).
func (e *Env) cgroupFile(pid int, controller, v1, v2 string) (string, error) {
	f, err := os.Open(filepath.Join(e.Proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	paths, err := parseProcCgroup(f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	var file string
	if _, err := os.Stat(filepath.Join(e.CgroupRoot, "cgroup.controllers")); err == nil {
		file = filepath.Join(e.CgroupRoot, paths[""], v2)
	} else {
		p, ok := paths[controller]
		if !ok {
			return "", fmt.Errorf("pid %d is in no %s cgroup", pid, controller)
		}
		file = filepath.Join(e.CgroupRoot, controller, p, v1)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// unlimitedV1 is what v1 files show for "no limit": the largest page-aligned
// 64-bit value (memory.limit_in_bytes).
const unlimitedV1 = 1 << 62

// limitValue turns a limit file's text into a number, -1 for no limit
// ("max" on v2, -1 or a huge value on v1).
func limitValue(s string) (int64, error) {
	if s == "max" || s == "-1" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("limit %q: %w", s, err)
	}
	if n >= unlimitedV1 {
		return -1, nil
	}
	return n, nil
}

// inNamespace runs fn on an OS thread that has joined the namespace kind
// ("net", "uts") of process pid, with setns(2). A namespace belongs to a
// thread, not to the process, so the thread is locked for fn and never
// unlocked: when the goroutine ends, Go ends the thread instead of lending
// it, still inside the container's namespace, to other code (the story of
// CNI's pkg/ns README). Sockets fn opens stay in that namespace.
func (e *Env) inNamespace(pid int, kind string, fn func() error) error {
	flags := map[string]int{"net": unix.CLONE_NEWNET, "uts": unix.CLONE_NEWUTS}[kind]
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join(e.Proc, strconv.Itoa(pid), "ns", kind))
		if err != nil {
			errc <- fmt.Errorf("open %s namespace of pid %d: %w", kind, pid, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), flags); err != nil { //minirun:nostep a lab check joins, on a thrown-away thread, a container's namespace only to read it
			errc <- fmt.Errorf("setns into the %s namespace of pid %d: %w", kind, pid, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// lookupA asks the DNS server at server ("10.78.0.1:53") for the IPv4
// addresses of name, as a container's resolver would: one UDP question
// (RFC 1035 §4.2.1), no cache, no search domains.
func lookupA(server, name string) ([]netip.Addr, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(q, server)
	if err != nil {
		return nil, fmt.Errorf("ask %s for %s: %w", server, name, err)
	}
	if resp.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s answered %s for %s", server, dns.RcodeToString[resp.Rcode], name)
	}
	var out []netip.Addr
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address for %s", server, name)
	}
	return out, nil
}

// reachTCP opens (and closes) a TCP connection to addr: something listens
// there and the path to it is open.
func reachTCP(addr netip.AddrPort) error {
	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// lexists reports whether path exists, without following a last symlink.
func lexists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
