// Package container is minirun's "Docker side": what dockerd and containerd
// do before and after runc. It keeps containers by name, prepares their root
// filesystem from an image (an overlay mount of the image's layers), turns
// `minirun run` flags and the image's config into an OCI spec with Docker's
// defaults, and hands the bundle to package runtime (the "runc").
//
// On disk, under the data root (/var/lib/minirun):
//
//	containers/<id>/meta.json    name, image, config, state (like Docker's config.v2.json)
//	containers/<id>/config.json  the OCI bundle's config (the bundle is this directory)
//	containers/<id>/diff         overlay upperdir: everything the container wrote
//	containers/<id>/work         overlay workdir
//	containers/<id>/merged       overlay mount point: the container's /
package container
