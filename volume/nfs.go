package volume

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/explain"
	"golang.org/x/sys/unix"
)

// StepNFSCheck is the check for the kernel's NFS client; its anchor is
// docs/volumes.md#volumes-nfs-check.
const StepNFSCheck = "volumes-nfs-check"

// NFSState is whether this kernel can mount a volume created with
// --opt type=nfs: the client registered in /proc/filesystems now, or
// built as a module that mount(2) would load (the kernel asks modprobe
// for "fs-nfs" on first use).
type NFSState struct {
	// Registered lists the NFS types in /proc/filesystems ("nfs", "nfs4").
	Registered []string
	// Module is the nfs.ko path in modules.dep ("" when the kernel has no
	// such module, or no modules at all).
	Module string
	// Kernel is the running kernel's release (uname -r).
	Kernel string
}

// ReadNFS reads /proc/filesystems and /lib/modules/RELEASE/modules.dep
// under root ("/" on a host). It changes nothing, and loads nothing.
func ReadNFS(root string) NFSState {
	var st NFSState
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		st.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/filesystems")); err == nil {
		// Lines are "nodev\tNAME" or "\tNAME" (proc(5)).
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && (f[len(f)-1] == "nfs" || f[len(f)-1] == "nfs4") {
				st.Registered = append(st.Registered, f[len(f)-1])
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "lib/modules", st.Kernel, "modules.dep")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			mod, _, _ := strings.Cut(l, ":")
			if base := filepath.Base(mod); base == "nfs.ko" || strings.HasPrefix(base, "nfs.ko.") {
				st.Module = mod
				break
			}
		}
	}
	return st
}

// Text says the state in both languages; an absent client is said so,
// with what it means for `volume create --opt type=nfs`.
func (st NFSState) Text() explain.Text {
	switch {
	case len(st.Registered) > 0:
		l := strings.Join(st.Registered, ", ")
		return explain.Text{PT: "/proc/filesystems tem " + l + ": este kernel monta NFS",
			EN: "/proc/filesystems has " + l + ": this kernel mounts NFS"}
	case st.Module != "":
		return explain.Text{PT: "nfs fora de /proc/filesystems, mas o módulo existe (" + st.Module + "): o primeiro mount -t nfs o carrega",
			EN: "nfs not in /proc/filesystems, but the module exists (" + st.Module + "): the first mount -t nfs loads it"}
	default:
		return explain.Text{PT: "nfs ausente de /proc/filesystems e sem módulo para " + st.Kernel + ": este kernel não monta NFS, e um volume --opt type=nfs falharia no mount",
			EN: "nfs absent from /proc/filesystems and no module for " + st.Kernel + ": this kernel cannot mount NFS, and a --opt type=nfs volume would fail at mount"}
	}
}

// NFSCheckStep is the volumes chapter's check for an NFS client: the
// deck's NFS slide shares a volume over the network, and this says
// honestly whether this machine could. It changes nothing.
func NFSCheckStep() explain.Step {
	return explain.Step{
		ID: StepNFSCheck, Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Confere se o kernel monta NFS", EN: "Check whether the kernel mounts NFS"},
		Why: explain.Text{PT: "Um volume local com --opt type=nfs é só um mount(2) do tipo nfs no primeiro uso: sem o cliente NFS no kernel, não há volume em rede.",
			EN: "A local volume with --opt type=nfs is just a mount(2) of type nfs on first use: without the kernel's NFS client there is no network volume."},
		Shell:        "grep nfs /proc/filesystems || modinfo nfs",
		EvidenceText: func() explain.Text { return ReadNFS("/").Text() },
	}
}

// NFSDialTimeout bounds how long a container's start waits for an NFS
// server to accept a TCP connection before the volume is mounted.
const NFSDialTimeout = 10 * time.Second

// isNFS reports whether a local volume's type is the kernel's NFS client.
func isNFS(fstype string) bool { return fstype == "nfs" || fstype == "nfs4" }

// nfsAddr returns the value of the addr= option in a mount option string,
// as Docker's getAddress (moby volume/local/local_unix.go) reads it.
func nfsAddr(opts string) string {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, "addr="); ok {
			return v
		}
	}
	return ""
}

// nfsResolve puts an address in place of a name in addr=, as Docker does
// before it mounts: the kernel's NFS client parses addr= as an IP address
// and does no DNS — mount(2) with addr=nfs-server fails with EINVAL. Like
// Docker's net.ResolveIPAddr("ip", …), an IPv4 address is preferred.
func nfsResolve(opts string, lookup func(ctx context.Context, host string) ([]netip.Addr, error)) (string, error) {
	addr := nfsAddr(opts)
	if addr == "" {
		return "", fmt.Errorf("type=nfs needs the server's address in o=addr=HOST,… (mount(2) takes no server name from device)")
	}
	if _, err := netip.ParseAddr(addr); err == nil {
		return opts, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), NFSDialTimeout)
	defer cancel()
	ips, err := lookup(ctx, addr)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("error resolving passed in network volume address %s: %w", addr, errOr(err, "no address"))
	}
	ip := ips[0]
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a.Unmap()
			break
		}
	}
	// Replace the addr= element itself, not a match inside another
	// option (clientaddr=…).
	parts := strings.Split(opts, ",")
	for i, p := range parts {
		if k, _, _ := strings.Cut(p, "="); k == "addr" {
			parts[i] = "addr=" + ip.String()
		}
	}
	return strings.Join(parts, ","), nil
}

func errOr(err error, s string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", s)
}

// nfsPorts are the TCP ports the kernel's client will connect to first:
// nfsd's (port=, else 2049) and, for NFSv2/v3 (the kernel's default for
// type nfs), rpcbind's 111, where it asks for mountd's port (unless
// mountport= names it). A transport other than TCP (proto=udp, rdma) is
// not checked: nothing would tell a live UDP server from a dead one.
func nfsPorts(fstype, opts string) []int {
	v4 := fstype == "nfs4"
	nfsPort, mountPort := 2049, 0
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "vers", "nfsvers":
			v4 = strings.HasPrefix(v, "4")
		case "v4", "v4.0", "v4.1", "v4.2":
			v4 = true
		case "port":
			if p, err := strconv.Atoi(v); err == nil && p > 0 {
				nfsPort = p
			}
		case "mountport":
			mountPort, _ = strconv.Atoi(v)
		case "proto":
			if v != "tcp" && v != "tcp6" {
				return nil
			}
		case "udp", "rdma":
			return nil
		}
	}
	ports := []int{nfsPort}
	if !v4 && mountPort <= 0 {
		ports = append(ports, 111)
	}
	return ports
}

// nfsReachable checks, before mount(2), that the server accepts TCP
// connections on the ports the client needs, each within timeout.
//
// NOTE: this is what keeps a dead server from hanging `run`. The kernel's
// client retries a server that does not answer for minutes (timeo=600,
// retrans=2 for TCP, and a hard mount's first requests again and again):
// in the VM test, `run` with a volume on an address nobody holds was
// still in mount(2) when SIGKILLed after 100 s — and so was one with
// soft,timeo=20,retrans=1 (the connect is retried whatever those say).
// Options cannot bound it, and `soft` would change what a slow server
// does to the data later; so minirun asks first, with a deadline, and
// says who is silent.
func nfsReachable(name, fstype, opts string, timeout time.Duration) error {
	addr := nfsAddr(opts)
	for _, port := range nfsPorts(fstype, opts) {
		what := "nfsd"
		if port == 111 {
			what = "rpcbind, which gives mountd's port to NFSv3"
		}
		hp := net.JoinHostPort(addr, strconv.Itoa(port))
		c, err := net.DialTimeout("tcp", hp, timeout)
		if err != nil {
			return fmt.Errorf("volume %s: NFS server %s does not answer on tcp port %d (%s) within %s: %w", name, addr, port, what, timeout, err)
		}
		c.Close()
	}
	return nil
}

// nfsLookup resolves a server name through Go's resolver (/etc/hosts,
// then DNS, as nsswitch.conf's "files dns").
func nfsLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
