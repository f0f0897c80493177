package build

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/minirun/minirun/image/layer"
)

func goarch() string { return goruntime.GOARCH }

// runCommand runs a RUN instruction in a container and makes its upper
// directory the step's layer.
func (b *builder) runCommand(cmd *instructions.RunCommand) error {
	if len(cmd.FlagsUsed) > 0 {
		return fmt.Errorf("RUN --%s is not supported by minirun", cmd.FlagsUsed[0])
	}
	if len(cmd.Files) > 0 {
		return errors.New("RUN with a here-document is not supported by minirun")
	}
	argv := b.withShell(cmd.ShellDependantCmdLine)

	// The ARG values reach the command as environment variables but are
	// not saved in the image. They are part of the history text, so that
	// the cache tells `--build-arg V=1` from `--build-arg V=2` (Docker
	// writes them the same way: "|2 A=1 B=2 /bin/sh -c …").
	var argEnv []string
	for _, a := range b.args {
		if a.value != nil && !hasEnv(b.cfg.Config.Env, a.name) {
			argEnv = append(argEnv, a.name+"="+*a.value)
		}
	}
	sort.Strings(argEnv)
	createdBy := strings.Join(argv, " ")
	if len(argEnv) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(argEnv), strings.Join(argEnv, " "), createdBy)
	}

	if hit, err := b.cached(b.cfg, createdBy, true); err != nil {
		return err
	} else if hit != nil {
		return b.useCache(hit)
	}
	if b.o.Runner == nil {
		return errors.New("RUN needs a container runner, and this build has none")
	}

	scratch, err := b.store.TempDir("build-")
	if err != nil {
		return err
	}
	defer b.store.RemoveTemp(scratch)
	spec := RunSpec{
		ID:      newContainerID(),
		Upper:   filepath.Join(scratch, "upper"),
		Work:    filepath.Join(scratch, "work"),
		Cmd:     argv,
		Output:  b.out,
		Context: b.o.Context,
		Tracer:  b.o.Tracer,
	}
	for _, d := range []string{spec.Upper, spec.Work} {
		if err := mkdir(d); err != nil {
			return err
		}
	}
	if b.parent != nil {
		if spec.Lower, err = b.store.LayerDirs(b.parent); err != nil {
			return err
		}
	}
	spec.Config = b.cfg.Config
	spec.Config.Env = append(slices.Clone(b.cfg.Config.Env), argEnv...)
	spec.Config.Cmd, spec.Config.Entrypoint = nil, nil

	fmt.Fprintf(b.out, " ---> Running in %s\n", spec.ID)
	code, err := b.o.Runner.Run(spec)
	if err != nil {
		return fmt.Errorf("RUN %s: %w", strings.Join(argv, " "), err)
	}
	if code != 0 {
		return fmt.Errorf("the command '%s' returned a non-zero code: %d", strings.Join(argv, " "), code)
	}
	fmt.Fprintf(b.out, "Removing intermediate container %s\n", spec.ID)

	// The upper directory is the change; as a tar it is the new layer.
	// It is written through a pipe straight into the store's extraction.
	return b.commit(b.cfg, createdBy, func() (io.ReadCloser, error) {
		return b.diffTar(spec.Upper)
	}, "")
}

// diffTar streams the upper directory as a layer tar (layer.WriteTar turns
// overlayfs whiteouts into ".wh." entries), through the images-build-diff
// step.
func (b *builder) diffTar(upper string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	step := stepBuildDiff(upper)
	step.Do = func() error {
		go func() { pw.CloseWithError(layer.WriteTar(pw, upper)) }()
		return nil
	}
	if err := b.o.Tracer.Do(step, nil); err != nil {
		return nil, err
	}
	return pr, nil
}
