package build

import (
	"context"
	"io"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/explain"
)

// Runner runs the command of a RUN instruction in a container. The
// container manager implements it; tests may fake it.
type Runner interface {
	// Run runs spec.Cmd in a container whose root filesystem is an
	// overlayfs mount of spec.Lower (read-only) under spec.Upper
	// (writable), and returns the command's exit code. err is for
	// failures to run it at all, not for a command that exits non-zero.
	Run(spec RunSpec) (exitCode int, err error)
}

// RunSpec is one RUN step's container.
type RunSpec struct {
	// ID names the container ("Running in <ID>"): 12 hex digits.
	ID string
	// Lower are the parent image's layer directories, top-most first: the
	// order of overlayfs's lowerdir= option. Empty for FROM scratch (a
	// runner then needs an empty directory as the one lowerdir).
	Lower []string
	// Upper is an empty directory: the container's writable layer, which
	// becomes the step's layer once the command has run.
	Upper string
	// Work is an empty directory on the same filesystem as Upper, for
	// overlayfs's workdir.
	Work string
	// Config holds the process settings: Env (the image's ENV plus the
	// build's ARG values), WorkingDir (create it if missing, as runc
	// does), User. Its Cmd and Entrypoint are not used.
	Config v1.ImageConfig
	// Cmd is the command, already wrapped in the shell for the shell form
	// (["/bin/sh", "-c", "apt-get update"]).
	Cmd []string
	// Output receives the command's stdout and stderr.
	Output io.Writer
	// Context is the build's (Options.Context; nil never ends): when it
	// is done while the command runs, the runner kills the container and
	// Run returns an error wrapping its cause.
	Context context.Context
	// Tracer is the build's: the container's steps (its rootfs mount, its
	// create, start and delete) go through it, so that `--explain` on a
	// build narrates them; under `explain images` they run unshown.
	Tracer *explain.Tracer
}
