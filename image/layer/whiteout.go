package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// The AUFS whiteout names used by image layers (OCI image-spec layer.md,
// "Whiteouts"), and the overlayfs encoding they become
// (Documentation/filesystems/overlayfs.rst).
const (
	// whiteoutPrefix marks a deleted entry: "dir/.wh.name" deletes "dir/name".
	whiteoutPrefix = ".wh."
	// whiteoutMeta starts names reserved for AUFS bookkeeping (hard-link
	// directories and the like); they carry nothing for overlayfs.
	whiteoutMeta = ".wh..wh."
	// whiteoutOpaque in a directory hides everything the layers below have
	// in that directory.
	whiteoutOpaque = ".wh..wh..opq"

	// OpaqueXattr is the xattr overlayfs reads to treat a directory as
	// opaque. The trusted.* namespace needs CAP_SYS_ADMIN (xattr(7)).
	OpaqueXattr = "trusted.overlay.opaque"
)

// extractWhiteout converts an AUFS whiteout entry found in directory parentRel.
//
// ".wh..wh..opq" sets trusted.overlay.opaque=y on the directory.
// ".wh.NAME" creates a character device 0/0 named NAME: overlayfs shows no
// NAME in the merged view. Unprivileged users may create this one device
// since Linux 5.8; other devices still need CAP_MKNOD.
func (x *extractor) extractWhiteout(hdr *tar.Header, parentRel, base string) error {
	parent, err := x.parent(parentRel)
	if err != nil {
		return err
	}

	if base == whiteoutOpaque {
		if err := unix.Lsetxattr(procPath(parent, "."), OpaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("mark directory %q opaque (setxattr %s): %w", parentRel, OpaqueXattr, err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): skip
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: whiteout %q names no entry", ErrBreakout, hdr.Name)
	}
	// The deleted entry may also be in this layer (tools do not produce
	// that, but a tar may); the whiteout replaces it.
	err = create(parent, name, func() error { return unix.Mknodat(parent, name, unix.S_IFCHR, 0) })
	if err != nil {
		return fmt.Errorf("create whiteout %q (mknod c 0 0): %w", name, err)
	}
	if x.owners {
		if err := unix.Fchownat(parent, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown whiteout %q: %w", name, err)
		}
	}
	return nil
}

// xattrPrefix is how PAX headers carry extended attributes (the "SCHILY"
// extension, written by GNU tar --xattrs and by every image builder).
const xattrPrefix = "SCHILY.xattr."

// setXattrs applies the entry's extended attributes to base in parent,
// without following a symlink.
//
// NOTE: attributes in the trusted.overlay. namespace are dropped. They
// steer overlayfs itself (opaque, redirect, metacopy, origin), and the
// kernel documentation warns against untrusted layers carrying them: a
// forged redirect or metacopy xattr can make the merged view show files
// from places the image never shipped. Only whiteout conversion sets them.
//
// ENOTSUP (the filesystem has no xattrs) and EPERM (an unprivileged user
// setting trusted.* or security.*) skip the attribute, as moby's archive
// package does: losing, say, a file capability is better than failing the
// whole image for a rootless user.
func setXattrs(hdr *tar.Header, parent int, base string) error {
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, xattrPrefix)
		if !ok || name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		err := unix.Lsetxattr(procPath(parent, base), name, []byte(value), 0)
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
			continue
		}
		if err != nil {
			return fmt.Errorf("setxattr %s: %w", name, err)
		}
	}
	return nil
}
