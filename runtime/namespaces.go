package runtime

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsFlags maps the spec's namespace types to clone(2) flags, and to the
// name of the file under /proc/<pid>/ns/ (namespaces(7)).
var nsFlags = map[specs.LinuxNamespaceType]struct {
	flag uintptr
	file string
}{
	specs.PIDNamespace:     {unix.CLONE_NEWPID, "pid"},
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "net"},
	specs.MountNamespace:   {unix.CLONE_NEWNS, "mnt"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "uts"},
	specs.UserNamespace:    {unix.CLONE_NEWUSER, "user"},
	specs.CgroupNamespace:  {unix.CLONE_NEWCGROUP, "cgroup"},
	specs.TimeNamespace:    {unix.CLONE_NEWTIME, "time"},
}

// nsOrder is the order minirun lists namespaces in, the course's order.
var nsOrder = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace,
	specs.UTSNamespace, specs.IPCNamespace, specs.UserNamespace,
	specs.CgroupNamespace, specs.TimeNamespace,
}

// cloneFlags returns the flags of the namespaces the child gets new at
// clone(2). Two kinds are left out: those joined by path (setns, before the
// clone) and the cgroup namespace, which the init unshares itself once the
// parent has placed it in its cgroup, so that its cgroup root is the
// container's cgroup rather than the CLI's (runc does the same).
func cloneFlags(nss []specs.LinuxNamespace) uintptr {
	var f uintptr
	for _, ns := range nss {
		if ns.Path != "" || ns.Type == specs.CgroupNamespace {
			continue
		}
		f |= nsFlags[ns.Type].flag
	}
	return f
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// newNSList names the new namespaces of the clone for the narration, e.g.
// "pid net mnt", and gives their unshare(1) options. The cgroup namespace is
// not among them: as cloneFlags says, the init unshares it later (step
// ns-cgroup), so an `unshare --cgroup` here would show, and in a script
// make, a cgroup namespace rooted at the caller's cgroup.
func newNSList(nss []specs.LinuxNamespace) (names []string, unshareArgs []string) {
	for _, t := range nsOrder {
		for _, ns := range nss {
			if ns.Type == t && ns.Path == "" && t != specs.CgroupNamespace {
				names = append(names, nsFlags[t].file)
				unshareArgs = append(unshareArgs, unshareFlag[t])
			}
		}
	}
	return names, unshareArgs
}

// unshareFlag is the unshare(1) option for each namespace.
var unshareFlag = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "--pid", specs.NetworkNamespace: "--net",
	specs.MountNamespace: "--mount", specs.IPCNamespace: "--ipc",
	specs.UTSNamespace: "--uts", specs.UserNamespace: "--user",
	specs.CgroupNamespace: "--cgroup", specs.TimeNamespace: "--time",
}

// nsInode returns the inode of /proc/<pid>/ns/<file>, e.g. "pid:[4026531836]".
// Two processes are in the same namespace exactly when these are equal.
func nsInode(pid string, file string) string {
	l, err := os.Readlink("/proc/" + pid + "/ns/" + file)
	if err != nil {
		return "?"
	}
	return l
}

// startNS holds the namespaces this process started in, read before
// anything of minirun's runs: the host's, as the evidence calls them. Read
// later, /proc/self/ns/mnt can be minirun's own private mount namespace
// (the CVE-2019-5736 read-only bind of itself, selfexe.go), which is not
// the host's; /proc/1/ns may not be readable at all (a sandbox's pid 1).
var startNS = func() map[string]string {
	m := map[string]string{}
	for _, f := range []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"} {
		m[f] = nsInode("self", f)
	}
	return m
}()

// nsEvidence shows, for each new namespace, the host's inode next to the
// child's: different inodes are the proof that the namespace is new.
func nsEvidence(pid int, nss []specs.LinuxNamespace) string {
	var b strings.Builder
	for _, t := range nsOrder {
		for _, ns := range nss {
			if ns.Type != t {
				continue
			}
			f := nsFlags[t].file
			fmt.Fprintf(&b, "%s: host %s → container %s\n", f, startNS[f], nsInode(fmt.Sprint(pid), f))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// onJoinedThread runs fn on a fresh OS thread that has first joined the
// namespaces given by path in the spec (setns(2)). The child started by fn
// (clone copies the calling thread's namespaces) is born inside them.
//
// NOTE: namespaces belong to threads, not to Go processes. The thread is
// locked and never unlocked, so the Go runtime throws it away when fn
// returns instead of reusing a thread that lives in someone else's
// namespaces (see CNI's pkg/ns README). Joining a mount namespace needs a
// thread that does not share its filesystem info, hence unshare(CLONE_FS)
// first; joining a user namespace needs a single-threaded process, which a
// Go program never is, so ValidateSpec refuses it.
//
// With keep set (the caller gave the init a parent-death signal, which
// fires when the thread that forked it exits, go.dev/issue/27505), the
// thread is parked for the life of the process instead of thrown away.
//
// With always set, fn runs on a fresh locked thread even without joins
// (the caller changes that thread's mount namespace).
func onJoinedThread(nss []specs.LinuxNamespace, keep, always bool, fn func() error) error {
	var joins []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Path != "" {
			joins = append(joins, ns)
		}
	}
	if len(joins) == 0 && !always {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// no UnlockOSThread: see the note above.
		if len(joins) > 0 {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				errc <- fmt.Errorf("unshare CLONE_FS: %w", err)
				return
			}
		}
		for _, ns := range joins {
			f, err := os.Open(ns.Path)
			if err != nil {
				errc <- fmt.Errorf("open namespace %s: %w", ns.Path, err)
				return
			}
			err = unix.Setns(int(f.Fd()), int(nsFlags[ns.Type].flag))
			f.Close()
			if err != nil {
				errc <- fmt.Errorf("setns %s %s: %w", ns.Type, ns.Path, err)
				return
			}
		}
		err := fn()
		errc <- err
		if keep && err == nil {
			select {} // this thread is the container's parent: it must live on
		}
	}()
	return <-errc
}

// checkNSPath makes sure a path given in the config is a namespace of the
// type it claims: setns(2) with a typed flag would fail later anyway, but a
// clear error names the path.
func checkNSPath(ns specs.LinuxNamespace) error {
	f, err := os.Open(ns.Path)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns.Type, err)
	}
	defer f.Close()
	// NS_GET_NSTYPE (ioctl_ns(2)) answers the CLONE_NEW* flag of the namespace.
	t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("namespace %s: %s is not a namespace file: %w", ns.Type, ns.Path, err)
	}
	if uintptr(t) != nsFlags[ns.Type].flag {
		return fmt.Errorf("namespace %s: %s is a namespace of another type", ns.Type, ns.Path)
	}
	return nil
}
