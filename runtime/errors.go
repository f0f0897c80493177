package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors for the lifecycle; match them with errors.Is.
var (
	// ErrExist means a container with that id already exists.
	ErrExist = errors.New("container already exists")
	// ErrNotExist means no container has that id.
	ErrNotExist = errors.New("container does not exist")
	// ErrInvalidID means the id is empty or could escape the state root.
	ErrInvalidID = errors.New("invalid container id")
	// ErrInvalidConfig means config.json is unreadable or breaks the spec.
	ErrInvalidConfig = errors.New("invalid config")
)

// TransitionError is returned when an operation is not allowed in the
// container's current status, e.g. "cannot start: container is running".
type TransitionError struct {
	Op     string
	Status Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s: container is %s", e.Op, e.Status)
}

// ExitError carries the exit code minirun should end with when the
// container's program could not be executed: 127 when the command was not
// found, 126 when it was found but could not be run (as Docker does).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }
