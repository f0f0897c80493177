package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// stateJSON is the container's state as the OCI spec prints it (runtime.md
// "State"): what `minirun state` shows and what hooks read on stdin.
func stateJSON(id string, st Status, pid int, bundle string, ann map[string]string) []byte {
	b, _ := json.Marshal(specs.State{
		Version:     specs.Version,
		ID:          id,
		Status:      specs.ContainerState(st),
		Pid:         pid,
		Bundle:      bundle,
		Annotations: ann,
	})
	return b
}

// runHooks runs each hook in order with the state on stdin, stopping at the
// first failure (config.md "POSIX-platform Hooks").
func runHooks(hooks []specs.Hook, state []byte, phase string) error {
	for _, h := range hooks {
		if err := runHook(h, state); err != nil {
			return fmt.Errorf("%s hook %s: %w", phase, h.Path, err)
		}
	}
	return nil
}

// warnHooks runs every hook in order, as the spec asks for poststart and
// poststop hooks (runtime.md "Lifecycle", steps 10 and 13): a failing hook
// is logged as a warning on w, and the remaining hooks and the lifecycle
// go on as if it had succeeded.
func warnHooks(w io.Writer, hooks []specs.Hook, state []byte, phase string) {
	for _, h := range hooks {
		if err := runHook(h, state); err != nil {
			fmt.Fprintf(w, "minirun: warning: %s hook %s: %v\n", phase, h.Path, err)
		}
	}
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil && *h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("timed out after %ds", *h.Timeout)
		}
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
