// Package vfs is Docker's simplest storage driver: no union filesystem at
// all, each container's root is a full copy of its image's layers, applied
// bottom to top. It works on any filesystem (where overlayfs cannot mount:
// an overlay-on-overlay, some old kernels), and it shows what overlayfs
// saves: every container pays the whole image in disk space and copy time,
// instead of sharing the read-only layers.
//
// The layers are stored in overlayfs's own format (package image/layer):
// a deleted file is a 0/0 character device (a whiteout) and a directory
// whose lower contents are hidden carries trusted.overlay.opaque=y. Applying
// a layer here means doing what overlayfs would show: a whiteout deletes
// the path, an opaque directory first empties the one below.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// opaqueXattr marks a directory that hides what lower layers have there.
const opaqueXattr = "trusted.overlay.opaque"

// ApplyShifted copies layers (bottom first) into target, which must exist,
// with every owner moved up by uidShift/gidShift (0, 0: unchanged): the
// copy a user-namespaced container needs, whose root is host uid uidShift
// (Docker's userns-remap keeps such remapped copies of layers). Its one
// caller is the images-vfs-copy step's Do: it makes device nodes (mknod),
// so explain's spine test checks no other path reaches it. (There is no
// unshifted Apply: the spine test resolves callers by short name, and
// "Apply" is a name many packages' functions share.)
func ApplyShifted(target string, layers []string, uidShift, gidShift int) error {
	for _, l := range layers {
		if err := applyLayer(target, l, uidShift, gidShift); err != nil {
			return fmt.Errorf("apply layer %s: %w", l, err)
		}
	}
	return nil
}

func applyLayer(target, layer string, uidShift, gidShift int) error {
	return filepath.WalkDir(layer, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(layer, p)
		if err != nil || rel == "." {
			return err
		}
		dst := filepath.Join(target, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		mode := st.Mode & unix.S_IFMT
		if mode == unix.S_IFCHR && st.Rdev == 0 {
			// A whiteout: the file is gone from this layer up.
			return os.RemoveAll(dst)
		}
		if mode != unix.S_IFDIR {
			if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
			} else {
				os.Remove(dst)
			}
		}
		switch mode {
		case unix.S_IFDIR:
			opaque := make([]byte, 1)
			if n, err := unix.Lgetxattr(p, opaqueXattr, opaque); err == nil && n == 1 && opaque[0] == 'y' {
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
			}
			if fi, err := os.Lstat(dst); err == nil && !fi.IsDir() {
				os.Remove(dst)
			}
			if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		case unix.S_IFREG:
			if err := copyFile(p, dst); err != nil {
				return err
			}
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, dst); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
			if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		default:
			return nil // sockets are not part of an image
		}
		if err := unix.Lchown(dst, int(st.Uid)+uidShift, int(st.Gid)+gidShift); err != nil {
			return err
		}
		if mode != unix.S_IFLNK {
			if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
				return err
			}
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
