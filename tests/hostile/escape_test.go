//go:build hostile

package hostile

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEscapeChecks runs /attack escape in a default container (no
// --privileged, Docker's capabilities, seccomp profile, masked and
// read-only paths, device cgroup) and wants every attempt refused. Each
// attempt is a subtest: its name says which door was open.
func TestEscapeChecks(t *testing.T) {
	r := mr(t, "run", "--rm", "--name", "hostile-escape", hostileImage, "/attack", "escape")
	if r.code != 0 {
		t.Fatalf("%s: the attack container failed: exit %d\nstdout: %s\nstderr: %s", itemEscape, r.code, r.stdout, r.stderr)
	}
	type line struct{ Check, Result, Detail string }
	var checks []line
	done := false
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c line
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("%s: not a check line: %q", itemEscape, l)
		}
		if c.Check == "_done" {
			done = true
			continue
		}
		checks = append(checks, c)
	}
	// The attack ran to its end and made all its attempts: a crash half
	// way would otherwise look like fewer open doors.
	if !done || len(checks) < 60 {
		t.Fatalf("%s: the attack made %d checks (done=%v), want at least 60:\n%s%s", itemEscape, len(checks), done, r.stdout, r.stderr)
	}
	denied := 0
	for _, c := range checks {
		c := c
		t.Run(c.Check, func(t *testing.T) {
			switch c.Result {
			case "denied":
				denied++
				t.Log(c.Detail)
			case "absent":
				t.Skip(c.Detail)
			case "allowed":
				t.Errorf("%s: %s was ALLOWED from a default container: %s", itemEscape, c.Check, c.Detail)
			default:
				t.Errorf("%s: %s failed for a reason that proves nothing (want a refusal): %s", itemEscape, c.Check, c.Detail)
			}
		})
	}
	t.Logf("%d of %d escape attempts refused", denied, len(checks))
}

// TestEscapeChecksSeeAnOpenDoor proves the checks can fail: under
// --privileged (every capability, no seccomp filter) a few harmless ones
// must report "allowed". Only those run: the others would touch the host
// (the clock) when nothing stops them.
func TestEscapeChecksSeeAnOpenDoor(t *testing.T) {
	open := []string{"mount_tmpfs", "unshare_net", "setns_pid1_net", "sethostname", "keyctl_join_session"}
	r := mr(t, append([]string{"run", "--rm", "--privileged", "--name", "hostile-open", hostileImage, "/attack", "escape"}, open...)...)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c struct{ Check, Result, Detail string }
		if json.Unmarshal([]byte(l), &c) == nil {
			got[c.Check] = c.Result + " " + c.Detail
		}
	}
	for _, name := range open {
		if !strings.HasPrefix(got[name], "allowed") {
			t.Errorf("%s: under --privileged, %s should be allowed, the attack says %q (stderr %q)", itemEscape, name, got[name], r.stderr)
		}
	}
}
