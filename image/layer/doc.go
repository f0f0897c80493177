// Package layer applies an image layer — a tar archive — to a directory,
// safely, in the on-disk format overlayfs reads.
//
// An image is a stack of layers; each layer is a tar of the files one build
// step added or changed (OCI image-spec, layer.md). Two parts of that format
// need care:
//
//  1. Hostile archives. A tar entry is just a name and a type, so an archive
//     can try to write "../../etc/cron.d/x", "/etc/passwd", or first create a
//     symlink "a -> /etc" and then a file "a/shadow" (the "Zip Slip" family
//     of bugs). Real runtimes shipped such bugs: containerd CVE-2021-32760
//     let an image chmod host files through a symlink in the layer, and
//     docker cp CVE-2018-15664 raced a symlink swap during a copy.
//     Extract resolves every parent directory with openat2(2) and
//     RESOLVE_BENEATH, so the kernel itself refuses a path that would leave
//     the target directory through "..", an absolute symlink, a symlink that
//     climbs out, or a mount point. The last component is never followed:
//     whatever already sits at that name is removed first and the new entry
//     is created with O_EXCL|O_NOFOLLOW, so a planted symlink or hard link is
//     replaced, not written through.
//
//  2. Deletions. A tar cannot say "this file was deleted", so the image
//     formats mark deletions with AUFS-style whiteout names: an entry
//     ".wh.NAME" means "NAME is gone from the layers below", and
//     ".wh..wh..opq" in a directory means "hide everything below in this
//     directory". overlayfs has its own encoding (kernel documentation
//     Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
//     directories"): a character device 0/0 named NAME, and the xattr
//     trusted.overlay.opaque="y" on the directory. Extract converts one into
//     the other, so the extracted directory can be used as an overlay
//     lowerdir as is.
//
// Man pages: tar(5), openat2(2), mknod(2), xattr(7), utimensat(2).
package layer
