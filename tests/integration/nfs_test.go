//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nfsExport is the directory the VM's NFS server exports on loopback.
const nfsExport = "/srv/minirun-nfs"

// nfsServer starts Debian's kernel NFS server in the VM, the way
// nfs-kernel-server's units do: rpcbind, the nfsd file system, the export
// table (exportfs), rpc.mountd, and nfsd's threads (rpc.nfsd). It returns
// stop, which stops nfsd and its helpers (the test's "dead server"); the
// cleanup stops whatever is left. Only in the throw-away VM: it writes
// /etc/exports and /etc/passwd.
func nfsServer(t *testing.T) (stop func()) {
	t.Helper()
	if os.Getenv("MINIRUN_VM") != "1" {
		t.Skip("starts an NFS server and edits /etc: only in the VM (tests/vm, MINIRUN_VM=1)")
	}
	for _, p := range []string{"rpcbind", "rpc.mountd", "rpc.nfsd", "exportfs"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("no %s in the VM: run.sh needs tests/vm/fetch-nfs.sh's files", p)
		}
	}
	must := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	// rpcbind drops to the _rpc user; rpc.statd (not run) would want statd.
	if b, _ := os.ReadFile("/etc/passwd"); !strings.Contains(string(b), "_rpc:") {
		f, err := os.OpenFile("/etc/passwd", os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("_rpc:x:100:65534::/run/rpcbind:/usr/sbin/nologin\n")
		f.Close()
	}
	for _, d := range []string{"/run/rpcbind", "/var/lib/nfs", "/proc/fs/nfsd", nfsExport} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A tmpfs has no UUID for a file handle: fsid= gives it one.
	if err := os.WriteFile("/etc/exports", []byte(nfsExport+" 127.0.0.1(rw,no_root_squash,no_subtree_check,insecure,fsid=1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var procs []*exec.Cmd
	bg := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		procs = append(procs, cmd)
	}
	bg("rpcbind", "-f", "-w")
	eventually(t, "rpcbind on port 111", 10*time.Second, func() bool { return listening(111) })
	if err := unix.Mount("nfsd", "/proc/fs/nfsd", "nfsd", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		t.Fatalf("mount nfsd: %v", err)
	}
	must("exportfs", "-ra")
	bg("rpc.mountd", "-F")
	must("rpc.nfsd", "4")
	eventually(t, "nfsd on port 2049", 10*time.Second, func() bool { return listening(2049) })
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		exec.Command("rpc.nfsd", "0").Run()
		exec.Command("exportfs", "-ua").Run()
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Process.Kill()
			procs[i].Wait()
		}
	}
	t.Cleanup(func() {
		stop()
		unix.Unmount("/proc/fs/nfsd", 0)
	})
	return stop
}

// listening reports whether something listens on TCP port on any local
// address, from /proc/net/tcp and tcp6 (state 0A is LISTEN).
func listening(port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			fs := strings.Fields(l)
			if len(fs) > 3 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" {
				return true
			}
		}
	}
	return false
}

// runWithin runs minirun with a deadline and returns its result and how
// long it took; past the deadline it is SIGKILLed and the test fails: a
// volume on a dead server must never hang `run`.
func runWithin(t *testing.T, d time.Duration, args ...string) (result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--root", stateRoot, "--data-root", dataRoot}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("minirun %s still running after %s (killed)", strings.Join(args, " "), d)
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	}
	return r, took
}

// The deck's NFS volume, exactly as its slide writes it, against a real
// nfsd: two containers share a file through it (and the file is on the
// server's export, so it went over NFS), the server named by a host name
// as well as by address (resolved before mount(2), as Docker does). Then
// the server stops: `run` with the volume fails within seconds, saying
// which server and port did not answer, and so does a volume whose server
// address nobody holds (packets vanish: the kernel alone would retry for
// minutes).
func TestNFSVolume(t *testing.T) {
	stop := nfsServer(t)
	ok(t, "volume", "create", "--driver", "local", "--opt", "type=nfs", "--opt", "o=addr=127.0.0.1,rw", "--opt", "device=:"+nfsExport, "nfs")
	t.Cleanup(func() { mr(t, "volume", "rm", "nfs") })
	ok(t, "volume", "create", "--driver", "local", "--opt", "type=nfs", "--opt", "o=addr=localhost,rw", "--opt", "device=:"+nfsExport, "nfsbyname")
	t.Cleanup(func() { mr(t, "volume", "rm", "nfsbyname") })

	runD(t, "nfs1", "--network", "none", "-v", "nfs:/data", "busybox", "sleep", "600")
	runD(t, "nfs2", "--network", "none", "-v", "nfsbyname:/data", "busybox", "sleep", "600")
	ok(t, "exec", "nfs1", "sh", "-c", "echo shared-over-nfs > /data/hello")
	if out := ok(t, "exec", "nfs2", "cat", "/data/hello"); strings.TrimSpace(out) != "shared-over-nfs" {
		t.Fatalf("nfs2 reads %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(nfsExport, "hello")); err != nil || strings.TrimSpace(string(b)) != "shared-over-nfs" {
		t.Fatalf("the server's export has %q, %v: the volume did not go over NFS", b, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	var nfsLines []string
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, " - nfs ") {
			nfsLines = append(nfsLines, l)
		}
	}
	t.Logf("nfs mounts:\n%s", strings.Join(nfsLines, "\n"))
	if len(nfsLines) < 2 || !strings.Contains(strings.Join(nfsLines, "\n"), "addr=127.0.0.1") {
		t.Fatalf("want two nfs mounts with addr=127.0.0.1 (localhost resolved)")
	}
	ok(t, "rm", "-f", "nfs1", "nfs2")

	// The server stops: refused at once.
	stop()
	r, took := runWithin(t, 60*time.Second, "run", "--rm", "--network", "none", "-v", "nfs:/data", "busybox", "true")
	t.Logf("stopped server: exit %d after %s: %s", r.code, took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	if r.code == 0 || !strings.Contains(r.stderr, "NFS server 127.0.0.1 does not answer on tcp port 2049") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Fatalf("run with a stopped NFS server: exit %d, stderr %q", r.code, r.stderr)
	}
	if took > 20*time.Second {
		t.Errorf("the error took %s", took)
	}

	// An address nobody holds, routed into a dummy link: SYNs vanish.
	la := netlink.NewLinkAttrs()
	la.Name = "mrtnfs0"
	if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: la}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("mrtnfs0"); err == nil {
			netlink.LinkDel(l)
		}
	})
	d, _ := netlink.LinkByName("mrtnfs0")
	a, _ := netlink.ParseAddr("10.79.40.1/24")
	netlink.AddrAdd(d, a)
	netlink.LinkSetUp(d)
	ok(t, "volume", "create", "--driver", "local", "--opt", "type=nfs", "--opt", "o=addr=10.79.40.2,rw", "--opt", "device=:/export", "nfsdead")
	t.Cleanup(func() { mr(t, "volume", "rm", "nfsdead") })
	r, took = runWithin(t, 60*time.Second, "run", "--rm", "--network", "none", "-v", "nfsdead:/data", "busybox", "true")
	t.Logf("unreachable server: exit %d after %s: %s", r.code, took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	if r.code == 0 || !strings.Contains(r.stderr, "NFS server 10.79.40.2 does not answer on tcp port 2049") {
		t.Fatalf("run with an unreachable NFS server: exit %d, stderr %q", r.code, r.stderr)
	}
	if took > 30*time.Second {
		t.Errorf("the error took %s", took)
	}
	if out := ok(t, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left after the failed runs: %s", out)
	}
}
