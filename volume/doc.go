// Package volume keeps named volumes: directories that live outside every
// image layer, under <data-root>/volumes/<name>/_data, and are bind-mounted
// into containers. Volumes are not layers: writing to one does not grow a
// container's upper dir, and removing a container keeps its named volumes.
//
// The local driver's options (--opt type=tmpfs|nfs|…, o=…, device=…) are
// handed to mount(2) when a container starts using the volume, and the
// mount is undone when the last user stops (a reference count under a
// lock), as Docker's local driver does. See mount(8) and, for the bind
// mounts that put volumes into containers, mount_namespaces(7).
package volume
