package main

import (
	"fmt"
	"math"
	"time"

	"github.com/urfave/cli/v2"
)

// maxTimeoutSeconds is the longest stop timeout a time.Duration holds:
// beyond it, seconds × time.Second wraps around to a negative duration,
// which stopped a container at once instead of never.
const maxTimeoutSeconds = math.MaxInt64 / int64(time.Second)

// timeoutFlag reads a stop timeout given in seconds (stop -t, compose
// down -t…), range-checked before it becomes a Duration.
func timeoutFlag(c *cli.Context, name string) (time.Duration, error) {
	s := c.Int64(name)
	if s < 0 || s > maxTimeoutSeconds {
		return 0, fmt.Errorf("--%s %d: must be between 0 and %d seconds", name, s, maxTimeoutSeconds)
	}
	return time.Duration(s) * time.Second, nil
}
