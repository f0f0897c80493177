package container

import (
	"errors"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/overlay"
)

// Create makes a container from an image without starting it: `docker
// create`, and the first half of the Engine API's `docker run` (create,
// attach, start). It does what run does before the shim — check the image
// and the command, claim the name, mount the rootfs to write the bundle —
// and then lets go of what only a running container needs: the rootfs is
// unmounted and the volumes released, so a container that is never
// started holds nothing on the host but its directory. Start mounts and
// acquires them again (see Start), as dockerd mounts a container's layer
// only at start.
func (m *Manager) Create(o RunOpts, tr *explain.Tracer) (meta *Meta, retErr error) {
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = fullDisk(m.DataRoot, errors.Join(retErr, undo.Run()))
		}
	}()
	meta, _, err := m.prepare(o, tr, &undo)
	if err != nil {
		return nil, err
	}
	if meta.GraphDriver.Name != "vfs" {
		if err := tr.Do(overlay.UnmountStep(meta.Rootfs()), nil); err != nil {
			return nil, err
		}
	}
	if err := m.releaseVolumes(meta, tr); err != nil {
		return nil, err
	}
	undo.Release()
	return meta, nil
}
