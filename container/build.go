package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image/build"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
)

// BuildRunner runs a Dockerfile's RUN instructions in real containers: an
// overlay of the parent image's layers under the step's upper dir, which
// becomes the new layer. It implements build.Runner.
type BuildRunner struct {
	m *Manager
}

// BuildRunner returns the runner `minirun build` uses for RUN.
func (m *Manager) BuildRunner() *BuildRunner { return &BuildRunner{m: m} }

// Run runs one RUN step attached, as `docker build` does, and removes the
// container afterwards; the upper dir stays for the builder to commit.
func (b *BuildRunner) Run(rs build.RunSpec) (code int, retErr error) {
	var undo cleanup.Stack
	defer func() {
		if err := undo.Run(); err != nil && retErr == nil {
			retErr = err
		}
	}()
	dir, err := os.MkdirTemp(filepath.Join(b.m.DataRoot, "containers"), "build-"+rs.ID+"-")
	if err != nil {
		return -1, err
	}
	undo.Add("remove build dir", func() error { return removeContainerDir(dir) })
	lower := rs.Lower
	if len(lower) == 0 {
		// FROM scratch: overlayfs needs a lower layer, so an empty one.
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return -1, err
		}
		lower = []string{empty}
	}
	ov := overlay.Options{Lower: lower, Upper: rs.Upper, Work: rs.Work, Target: filepath.Join(dir, "merged")}
	// The mount is the step rootfs-overlay-mount, as for `run`; its undo
	// (the unmount) goes on the stack right after it succeeds.
	if err := rs.Tracer.Do(overlay.MountStep(ov), &undo); err != nil {
		return -1, err
	}
	spec, err := buildSpec(rs.Config, RunOpts{Cmd: rs.Cmd, Entrypoint: new(string), Hostname: rs.ID}, rs.ID+"000000000000", ov.Target)
	if err != nil {
		return -1, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(rs.Output, r)
		r.Close()
		close(copied)
	}()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return -1, err
	}
	defer devnull.Close()
	id := "build-" + rs.ID
	ctr, err := runtime.Create(runtime.CreateOpts{Root: b.m.StateRoot, ID: id, Bundle: dir, Spec: spec, Stdin: devnull, Stdout: w, Stderr: w, Tracer: rs.Tracer})
	w.Close()
	if err != nil {
		<-copied
		return -1, fmt.Errorf("RUN: %w", err)
	}
	undo.Add("delete build container", func() error { return ctr.Delete(true, rs.Tracer) })
	if err := ctr.Start(rs.Tracer); err != nil {
		return -1, err
	}
	// The build cancelled (its client gone): SIGKILL to every process
	// of the container, so the Wait below returns now, not when the
	// command ends by itself. Its own delete then runs from the undo
	// stack as after any step.
	var stop func() bool
	killed := make(chan struct{})
	if rs.Context != nil {
		stop = context.AfterFunc(rs.Context, func() {
			defer close(killed)
			// Already stopped: a TransitionError, nothing to kill.
			_ = ctr.SignalAll(unix.SIGKILL, rs.Tracer)
		})
	}
	code, err = ctr.Wait()
	<-copied
	if stop != nil && !stop() {
		<-killed // the kill done before the delete
		return code, fmt.Errorf("RUN cancelled: %w", context.Cause(rs.Context))
	}
	return code, err
}

var _ build.Runner = (*BuildRunner)(nil)
