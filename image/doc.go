// Package image is minirun's image store: the layers, configs and names
// that `minirun import`, `minirun images` and `minirun run IMAGE` use.
//
// An image, in the OCI image-spec (config.md, layer.md), is two things:
//
//   - layers: tar archives of files, applied one over the other. A layer is
//     named by its diff ID, the sha256 of its uncompressed tar.
//   - a config: a JSON document listing the layers' diff IDs in order
//     (rootfs.diff_ids, bottom first) and the defaults of the container's
//     process (Cmd, Entrypoint, Env, WorkingDir, User). Its sha256 is the
//     image ID.
//
// A name such as "busybox:latest" is just a pointer to an image ID.
//
// On disk, under DATAROOT/image/ (Docker keeps the same three ideas under
// /var/lib/docker/image/overlay2/):
//
//	layers/sha256/<diff id>/diff/        the extracted layer, an overlayfs lowerdir
//	layers/sha256/<diff id>/layer.json   its size and diff ID
//	configs/sha256/<image id>            the config JSON, byte for byte
//	repositories.json                    names → image IDs
//	lock                                 flock(2) taken by every change
//	tmp/                                 scratch space for imports in flight
//
// Everything is content-addressed, so two images sharing a layer store it
// once. How many images use a layer is never stored: it is counted from the
// configs' diff_ids when an image is removed, so no counter can drift out
// of step with reality after a crash.
//
// Layers are stored by diff ID rather than by Docker's chain ID (a digest
// of the layer and everything under it), because overlayfs stacks
// independent directories: a layer's extracted files depend only on its own
// tar, not on the layers it ends up stacked over (overlayfs.rst,
// "Multiple lower layers").
//
// The safe extraction of layer tars, and the conversion of their whiteouts
// to overlayfs's format, live in the subpackage layer.
//
// Man pages: flock(2), rename(2) (atomic replace), overlayfs in the kernel
// documentation (Documentation/filesystems/overlayfs.rst).
package image
