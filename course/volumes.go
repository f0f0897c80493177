package course

import (
	"errors"
	"fmt"
	"os"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/volume"
)

func init() {
	register(&Chapter{
		Name: explain.ChapterVolumes,
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			return volumesDemo(e, tr, func(o container.RunOpts) (int, error) {
				return e.Containers.Run(o, container.IO{Stdout: e.Stdout, Stderr: e.Stderr}, tr)
			})
		},
		DryRun: func(e *Env, tr *explain.Tracer) error {
			_, err := volumesDemo(e, tr, func(o container.RunOpts) (int, error) {
				return 0, container.DryRun(e.DataRoot, e.StateRoot, o, tr)
			})
			return err
		},
	})
}

// volumesDest is where the demo mounts its volume: a directory the image
// has files in (busybox's applet links), so that the new volume is filled
// from the image, as a database image's initial files fill its volume.
const volumesDest = "/usr/sbin"

// volumesDemo is the volumes chapter, the life of a named volume around
// one container, through the functions `volume create`, `run --rm -v` and
// `volume rm` call: the volume is created (here with the local driver's
// options for a tmpfs, so that it is mounted on the host while a container
// uses it, as an NFS volume is); the run mounts it, fills it from the
// image, binds it into the container, and unmounts it when the container
// exits; then the volume is removed. run is the container's run, live or
// described.
func volumesDemo(e *Env, tr *explain.Tracer, run func(container.RunOpts) (int, error)) (code int, retErr error) {
	// First what this kernel offers: NFS, the slide's remote volume.
	if err := runKernelCheck(explain.ChapterVolumes, tr); err != nil {
		return -1, err
	}
	vs, err := volume.Open(e.DataRoot, tr)
	if err != nil {
		return -1, err
	}
	name := fmt.Sprintf("curso-%d", os.Getpid())
	if tr.DryRun() {
		name = "curso-PID" // a run draws the number
	}
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=16m"}
	if _, err := vs.Create(name, "local", opts, nil); err != nil {
		return -1, err
	}
	// The volume goes at the end, and on the way out of a failure too.
	var undo cleanup.Stack
	undo.Add("volume rm", func() error {
		return vs.Remove(name, func(string) []string { return nil })
	})
	defer func() { retErr = errors.Join(retErr, undo.Run()) }()
	return run(container.RunOpts{
		Image: e.Image, Remove: true,
		Cmd:     []string{"sh", "-c", demoCommand[explain.ChapterVolumes]},
		Volumes: []string{name + ":" + volumesDest}, Tmpfs: []string{"/rapido"},
	})
}
