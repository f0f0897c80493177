// Package etcdtest runs a real etcd (Debian's etcd-server, /usr/bin/etcd)
// for tests: one member on loopback, with a temporary data directory and
// free ports, gone when the test ends. No root is needed.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Binary is the etcd that tests run; scripts/setup.sh installs it
// (Debian package etcd-server).
const Binary = "/usr/bin/etcd"

// startTimeout bounds how long a start may take until /health answers.
// A single member elects itself after one election timeout (100 ms here).
const startTimeout = 20 * time.Second

// Server is a running (or stopped) test etcd. Its ports and data directory
// stay the same across Stop and Restart, so a test can take the store away
// from a client and give it back, data included.
type Server struct {
	// URL is the client URL, http://127.0.0.1:PORT.
	URL string
	// ClientAddr is 127.0.0.1:PORT of the client port.
	ClientAddr string
	// DataDir is etcd's --data-dir.
	DataDir string

	t        testing.TB
	peerAddr string
	logPath  string
	// netns, when set, is the named network namespace (/run/netns/NAME)
	// etcd runs in (StartServerIn); hc reaches it there.
	netns string
	hc    *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Start runs an etcd for t and returns its client URL (http://127.0.0.1:PORT);
// it is killed and its data removed when t ends.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).URL
}

// StartServer runs an etcd for t, like Start, and returns it for Stop and
// Restart. If etcd is not installed the test is skipped, except in CI
// (CI set), where setup.sh must have installed it and the test fails.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "")
	// Free ports are found by binding :0 and closing; another process may
	// take one in between, so a start that fails is tried on new ports.
	var err error
	for try := 0; try < 3; try++ {
		s.ClientAddr, s.peerAddr = freeAddr(t), freeAddr(t)
		s.URL = "http://" + s.ClientAddr
		if err = s.start(); err == nil {
			return s
		}
		os.RemoveAll(s.DataDir)
	}
	t.Fatalf("start etcd: %v", err)
	return nil
}

// StartServerIn runs an etcd for t inside the named network namespace
// (ip netns add NAME), listening on host:2379 and host:2380 there: the
// cluster store of "hosts" that are network namespaces on an underlay
// (the multi-host overlay tests). The namespace is private to the test,
// so etcd's own ports are free in it. Needs root.
func StartServerIn(t testing.TB, netns, host string) *Server {
	t.Helper()
	s := newServer(t, netns)
	s.ClientAddr, s.peerAddr = net.JoinHostPort(host, "2379"), net.JoinHostPort(host, "2380")
	s.URL = "http://" + s.ClientAddr
	if err := s.start(); err != nil {
		t.Fatalf("start etcd in netns %s: %v", netns, err)
	}
	return s
}

// newServer checks that etcd is installed and prepares a Server whose
// process the test's end kills.
func newServer(t testing.TB, netns string) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s is missing: apt-get install etcd-server (scripts/setup.sh does)", Binary)
		}
		t.Fatalf("%s is missing although CI is set: scripts/setup.sh installs etcd-server", Binary)
	}
	dir := t.TempDir()
	s := &Server{t: t, DataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "etcd.log"), netns: netns,
		hc: &http.Client{Timeout: time.Second}}
	if netns != "" {
		s.hc.Transport = &http.Transport{DialContext: dialIn(netns)}
	}
	// Kill before t.TempDir's own cleanup removes the directory: cleanups
	// run last-registered first, and TempDir registered its removal above.
	t.Cleanup(s.Stop)
	return s
}

// Stop kills etcd (SIGKILL, as a crash would) and waits for it; the data
// directory stays for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts etcd again on the same ports with the same data, after
// Stop; it fails the test if etcd does not come up.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart etcd: %v", err)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs etcd and waits until /health says true.
func (s *Server) start() error {
	client, peer := "http://"+s.ClientAddr, "http://"+s.peerAddr
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{Binary,
		"--name", "test",
		"--data-dir", s.DataDir,
		// Loopback only, both ports (or the test's own namespace): nothing
		// outside this machine may reach it, and no default (all
		// addresses) is used.
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test=" + peer,
		"--initial-cluster-state", "new",
		// A single member: elect at once (the defaults, 100/1000 ms, cost
		// a second per start) and let the minimum lease TTL be 1 s.
		"--heartbeat-interval", "10",
		"--election-timeout", "100",
		"--logger", "zap", "--log-outputs", "stderr",
	}
	if s.netns != "" {
		// nsenter enters only the network namespace (and execs etcd, so
		// the pid is etcd's); `ip netns exec` would also remount /sys.
		args = append([]string{"nsenter", "--net=/run/netns/" + s.netns, "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// NOTE: Pdeathsig kills etcd if the test binary dies without running
	// its cleanups (a panic in another test, a timeout). It is tied to
	// the thread that forked (go.dev/issue/27505), which the Go runtime
	// does not end while the process lives unless a goroutine exits
	// locked to it; none does here.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	hc := s.hc
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("etcd exited: %s\n%s", cmd.ProcessState, s.logTail())
		default:
		}
		if resp, err := hc.Get(client + "/health"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b, []byte(`"health":"true"`)) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("etcd on %s not healthy after %v\n%s", s.ClientAddr, startTimeout, s.logTail())
}

// logTail returns the end of etcd's log, for a failure message.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// dialIn dials from inside the named network namespace: the socket is
// made by a thread that setns(2)'d into it, and a socket keeps the
// namespace it was made in, so the thread goes back right after.
func dialIn(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			return nil, err
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			return nil, err
		}
		// A thread stuck in the wrong namespace must not go on running
		// the test's other goroutines: going back cannot fail short of a
		// kernel bug, and then the test stops.
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("etcdtest: back to the test's network namespace: %v", err))
		}
		return c, err
	}
}
