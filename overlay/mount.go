package overlay

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/minirun/minirun/explain"
	"golang.org/x/sys/unix"
)

// MountStep is the traced step that mounts o; its Undo unmounts it.
func MountStep(o Options) explain.Step {
	return explain.Step{
		ID: "rootfs-overlay-mount", Chapter: explain.ChapterRootfs,
		Title: explain.Text{PT: "Monta o rootfs com overlayfs", EN: "Mount the rootfs with overlayfs"},
		Why: explain.Text{PT: "As camadas da imagem ficam só para leitura (lowerdir); o que o contêiner escreve vai para upperdir.",
			EN: "The image layers stay read-only (lowerdir); what the container writes goes to upperdir."},
		// prepare makes upper, work and target first: by hand, mkdir -p
		// with the same modes.
		Shell:     mkdirShell(o) + o.Shell(),
		UndoShell: "umount " + o.Target,
		Do: func() error {
			data, err := prepare(o)
			if err != nil {
				return err
			}
			if err := unix.Mount("overlay", o.Target, "overlay", 0, data); err != nil {
				return fmt.Errorf("mount overlay on %s: %w", o.Target, err)
			}
			return nil
		},
		Undo: func() error { return unmountOverlay(o.Target) },
		EvidenceText: func() explain.Text {
			dirs := fmt.Sprintf("upperdir=%s; merged=%s", o.Upper, o.Target)
			return explain.Text{
				PT: fmt.Sprintf("lowerdir: %d camada(s); %s", len(o.Lower), dirs),
				EN: fmt.Sprintf("lowerdir: %d layer(s); %s", len(o.Lower), dirs),
			}
		},
	}
}

// UnmountStep is the traced step that unmounts the overlay on target, for
// the paths that unmount a rootfs some earlier run mounted (stop, the
// shim's end, rm): it carries MountStep's ID, as the tracer's narration of
// an undo does, since it is that step undone.
func UnmountStep(target string) explain.Step {
	return explain.Step{
		ID: "rootfs-overlay-mount", Chapter: explain.ChapterRootfs,
		Title: explain.Text{PT: "desfaz: Monta o rootfs com overlayfs", EN: "undo: Mount the rootfs with overlayfs"},
		Why: explain.Text{PT: "O contêiner parou: o rootfs é desmontado; upperdir fica, com o que o contêiner escreveu.",
			EN: "The container stopped: the rootfs is unmounted; upperdir stays, with what the container wrote."},
		Shell: "umount " + target,
		Do:    func() error { return unmountOverlay(target) },
	}
}

// mkdirShell is prepare's mkdir, for the step's shell equivalent.
func mkdirShell(o Options) string {
	s := ""
	if o.Upper != "" {
		s += "mkdir -p -m 755 " + o.Upper + " && "
	}
	var d []string
	for _, p := range []string{o.Work, o.Target} {
		if p != "" {
			d = append(d, p)
		}
	}
	if len(d) > 0 {
		s += "mkdir -p -m 700 " + strings.Join(d, " ") + " && "
	}
	return s
}

// prepare creates Upper, Work and Target if needed and returns the mount
// data; the mount itself is MountStep's Do, so that explain narrates it.
func prepare(o Options) (string, error) {
	data, err := o.Data()
	if err != nil {
		return "", err
	}
	// Upper is 0755: it becomes the mode of the merged root, which every
	// user of the container must be able to enter. Work is the kernel's
	// scratch space and Target shows nothing until mounted: 0700, as in
	// Docker's overlay2 (defence in depth for CVE-2021-41091; the
	// container's directory above is what closes the way, 0710).
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{o.Upper, 0o755}, {o.Work, 0o700}, {o.Target, 0o700}} {
		if d.path == "" {
			continue
		}
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return "", fmt.Errorf("create %s: %w", d.path, err)
		}
	}
	return data, nil
}

// unmountOverlay unmounts target; "not mounted" and "does not exist" are
// success, so it can run twice. It never removes the directory: deleting
// through a live mount would delete the layer's data. Only MountStep's
// Undo and UnmountStep's Do call it (the spine test checks).
func unmountOverlay(target string) error {
	err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.EBUSY) {
		// Something still uses it (a shell cd'ed into it): detach it so it
		// goes away when the last user leaves.
		if err2 := unix.Unmount(target, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err2 == nil {
			return nil
		}
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}

// Mounted reports whether path is a mount point, by comparing its mount id
// with its parent's in /proc/self/mountinfo semantics (statx STATX_MNT_ID).
func Mounted(path string) (bool, error) {
	var st, pst unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if err := unix.Statx(unix.AT_FDCWD, path+"/..", 0, unix.STATX_MNT_ID, &pst); err != nil {
		return false, err
	}
	return st.Mnt_id != pst.Mnt_id, nil
}
