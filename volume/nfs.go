package volume

import (
	"os"
	"path/filepath"
	"strings"

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
