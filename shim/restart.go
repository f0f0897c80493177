package shim

import (
	"fmt"
	"strconv"
	"strings"
)

// RestartPolicy is Docker's --restart: no, on-failure[:N], always,
// unless-stopped.
type RestartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// ParseRestart reads --restart's value.
func ParseRestart(s string) (RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no":
		p.Name = "no"
		if hasN {
			return p, fmt.Errorf("--restart %q: only on-failure takes a count", s)
		}
	case "always", "unless-stopped":
		if hasN {
			return p, fmt.Errorf("--restart %q: only on-failure takes a count", s)
		}
	case "on-failure":
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return p, fmt.Errorf("--restart %q: the count must be a whole number", s)
			}
			p.MaximumRetryCount = v
		}
	default:
		return p, fmt.Errorf("--restart %q: use no, on-failure[:N], always or unless-stopped", s)
	}
	return p, nil
}

// Check refuses a policy ParseRestart would not give: one that came over
// the wire (the control protocol, the Engine API) as a struct.
func (p RestartPolicy) Check() error {
	switch p.Name {
	case "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return fmt.Errorf("restart policy %s: only on-failure takes a maximum retry count", p.Name)
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return fmt.Errorf("restart policy on-failure: the maximum retry count cannot be negative")
		}
	default:
		return fmt.Errorf("restart policy %q: use no, on-failure, always or unless-stopped", p.Name)
	}
	return nil
}

// ShouldRestart decides, after an exit, whether the shim starts the
// container again: never when someone stopped it (stop, kill, rm); on
// failure only for a non-zero code and within the retry count.
func (p RestartPolicy) ShouldRestart(code, restarts int, stopped bool) bool {
	if stopped {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaximumRetryCount == 0 || restarts < p.MaximumRetryCount)
	}
	return false
}
