package container

import (
	"fmt"
	"strings"
	"time"
)

// StateName is the one-word state `ps --filter status=` and the Engine
// API's State field use: created, running, paused, restarting, exited or
// dead. A paused container's record says running and Paused.
func StateName(m *Meta) string {
	if m.State.Status == "running" && m.State.Paused {
		return "paused"
	}
	return m.State.Status
}

// StatusText is Docker's STATUS column and the Engine API's Status field:
// "Up 3 seconds", "Exited (0) 2 minutes ago".
func StatusText(m *Meta) string {
	switch m.State.Status {
	case "running":
		if m.State.Paused {
			return "Up " + HumanDuration(time.Since(m.State.StartedAt)) + " (Paused)"
		}
		return "Up " + HumanDuration(time.Since(m.State.StartedAt))
	case "restarting":
		return fmt.Sprintf("Restarting (%d) %s", m.State.ExitCode, Ago(m.State.FinishedAt))
	case "exited":
		return fmt.Sprintf("Exited (%d) %s", m.State.ExitCode, Ago(m.State.FinishedAt))
	case "dead":
		return "Dead" // its record is lost: rm removes it
	}
	return "Created"
}

// Ago is "3 seconds ago", as Docker's listings say it.
func Ago(t time.Time) string { return HumanDuration(time.Since(t)) + " ago" }

// HumanDuration is Docker's rounding of a duration for people
// (go-units' HumanDuration): "Less than a second", "About a minute".
func HumanDuration(d time.Duration) string {
	switch {
	case d < 2*time.Second:
		return "Less than a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < 2*time.Minute:
		return "About a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// Filter is `ps`'s selection: --all and the --filter keys both the CLI and
// the Engine API's GET /containers/json take. Each key's values are
// alternatives (status=running and status=exited: either), and keys must
// all match, as in Docker.
type Filter struct {
	// All lists stopped containers too; a status filter implies it.
	All bool
	// Status are states (StateName); Name are substrings of the name; ID
	// are id prefixes; Label are KEY or KEY=VALUE.
	Status, Name, ID, Label []string
}

// Match reports whether the container passes the filter.
func (f Filter) Match(m *Meta) bool {
	st := StateName(m)
	if len(f.Status) > 0 {
		if !anyOf(f.Status, func(s string) bool { return s == st }) {
			return false
		}
	} else if !f.All && st != "running" && st != "paused" && st != "restarting" {
		return false
	}
	if len(f.Name) > 0 && !anyOf(f.Name, func(s string) bool { return strings.Contains(m.Name, strings.TrimPrefix(s, "/")) }) {
		return false
	}
	if len(f.ID) > 0 && !anyOf(f.ID, func(s string) bool { return strings.HasPrefix(m.ID, s) }) {
		return false
	}
	for _, l := range f.Label {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := m.Config.Labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

func anyOf(list []string, fn func(string) bool) bool {
	for _, s := range list {
		if fn(s) {
			return true
		}
	}
	return false
}

// ListFiltered is List with ps's selection.
func (m *Manager) ListFiltered(f Filter) ([]*Meta, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, c := range all {
		if f.Match(c) {
			out = append(out, c)
		}
	}
	return out, nil
}
