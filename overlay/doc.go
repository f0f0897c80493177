// Package overlay mounts a container's root filesystem with overlayfs: the
// image's read-only layers as lowerdir, a per-container writable upperdir,
// and a workdir the kernel needs for atomic copy-up. What the container
// sees is the merged directory. See the kernel's
// Documentation/filesystems/overlayfs.rst and mount(8) "overlay".
//
// Writes go to upperdir (copy-up: a lower file is copied up on first write);
// deleting a lower file leaves a whiteout in upperdir (a 0/0 character
// device), so the lower layer is never touched and can be shared by any
// number of containers and images.
package overlay
