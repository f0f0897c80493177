package volume

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The NFS check tells the three kernels apart: client registered, client
// as a module only, no client at all (this host's).
func TestReadNFS(t *testing.T) {
	kernel := ReadNFS(t.TempDir()).Kernel
	for _, c := range []struct {
		name  string
		files map[string]string
		pt    string
		en    string
	}{
		{"no client", map[string]string{"proc/filesystems": "nodev\tsysfs\n\text4\n"}, "nfs ausente de /proc/filesystems", "this kernel cannot mount NFS"},
		{"module only", map[string]string{"proc/filesystems": "\text4\n",
			"lib/modules/" + kernel + "/modules.dep": "kernel/fs/nfs_common/grace.ko:\nkernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko\n"},
			"o módulo existe (kernel/fs/nfs/nfs.ko)", "the first mount -t nfs loads it"},
		{"registered", map[string]string{"proc/filesystems": "\text4\nnodev\tnfs\nnodev\tnfs4\n"}, "tem nfs, nfs4", "this kernel mounts NFS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for p, v := range c.files {
				p = filepath.Join(root, p)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			txt := ReadNFS(root).Text()
			if !strings.Contains(txt.PT, c.pt) || !strings.Contains(txt.EN, c.en) {
				t.Errorf("text %+v, want %q / %q", txt, c.pt, c.en)
			}
		})
	}
}

// addr= takes an address: a name is resolved first, an IPv4 address
// preferred, as Docker does; an address stays as written.
func TestNFSResolve(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "nfs-server" {
			return []netip.Addr{netip.MustParseAddr("fd00::5"), netip.MustParseAddr("10.1.2.3")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, c := range []struct{ in, want, err string }{
		{"addr=nfs-server,rw", "addr=10.1.2.3,rw", ""},
		{"rw,addr=nfs-server,vers=4", "rw,addr=10.1.2.3,vers=4", ""},
		{"clientaddr=nfs-server,addr=nfs-server", "clientaddr=nfs-server,addr=10.1.2.3", ""},
		{"addr=192.168.1.1,rw", "addr=192.168.1.1,rw", ""},
		{"addr=fd00::1,rw", "addr=fd00::1,rw", ""},
		{"addr=nowhere,rw", "", "error resolving passed in network volume address nowhere"},
		{"rw", "", "needs the server's address"},
	} {
		got, err := nfsResolve(c.in, lookup)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q → %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// The ports asked before mount(2): nfsd's, and rpcbind's for NFSv3.
func TestNFSPorts(t *testing.T) {
	for _, c := range []struct {
		fstype, opts string
		want         []int
	}{
		{"nfs", "addr=1.2.3.4,rw", []int{2049, 111}},
		{"nfs", "addr=1.2.3.4,vers=4.2", []int{2049}},
		{"nfs4", "addr=1.2.3.4", []int{2049}},
		{"nfs", "addr=1.2.3.4,port=3049,mountport=4000", []int{3049}},
		{"nfs", "addr=1.2.3.4,proto=udp", nil},
	} {
		if got := nfsPorts(c.fstype, c.opts); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s → %v, want %v", c.fstype, c.opts, got, c.want)
		}
	}
}

// A server that answers passes; a port nobody listens on fails at once,
// naming the server, the port and the volume.
func TestNFSReachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	opts := fmt.Sprintf("addr=127.0.0.1,vers=4,port=%d", port)
	if err := nfsReachable("v", "nfs", opts, time.Second); err != nil {
		t.Fatalf("listening server: %v", err)
	}
	l.Close()
	start := time.Now()
	err = nfsReachable("v", "nfs", opts, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("volume v: NFS server 127.0.0.1 does not answer on tcp port %d (nfsd)", port)) {
		t.Fatalf("closed port: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a refused connection took %s", d)
	}
}
