package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setUser switches groups, gid and uid, in that order: once the uid is no
// longer 0 the process may not change its groups any more. PR_SET_KEEPCAPS
// keeps the permitted capabilities across the uid change, so applyCaps can
// then set exactly the configured ones (capabilities(7), "Effect of user ID
// changes on capabilities").
func setUser(u specs.User, userns bool) error {
	// The last line of defence: (uid_t)-1 would mean "keep root".
	if err := ValidateUser(u); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	groups := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		groups = append(groups, int(g))
	}
	// In a user namespace whose setgroups file says "deny", setgroups is
	// not allowed at all; with no extra groups there is nothing to set.
	if len(groups) > 0 || !userns {
		if err := unix.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups %v: %w", groups, err)
		}
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", u.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	return nil
}

// applyCaps sets the five capability sets of this thread (capabilities(7)):
// bounding (the ceiling for every later execve), then effective, permitted
// and inheritable with capset(2), then ambient. Dropping from the bounding
// set needs CAP_SETPCAP in the effective set, which a non-root user lost at
// setuid: the permitted set (kept by PR_SET_KEEPCAPS) is raised into the
// effective set first.
func applyCaps(c *specs.LinuxCapabilities, warn io.Writer) error {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	if err := caps.Load(); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	for _, k := range []capability.CapType{capability.EFFECTIVE} {
		caps.Clear(k)
		for _, cp := range capability.ListKnown() {
			if caps.Get(capability.PERMITTED, cp) {
				caps.Set(k, cp)
			}
		}
	}
	if err := caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("raise effective capabilities: %w", err)
	}
	sets := []struct {
		kind  capability.CapType
		names []string
	}{
		{capability.BOUNDING, c.Bounding},
		{capability.EFFECTIVE, c.Effective},
		{capability.PERMITTED, c.Permitted},
		{capability.INHERITABLE, c.Inheritable},
	}
	for _, s := range sets {
		caps.Clear(s.kind)
		for _, n := range s.names {
			cp, err := capByName(n)
			if err != nil {
				return err
			}
			caps.Set(s.kind, cp)
		}
	}
	if err := caps.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("set bounding capabilities: %w", err)
	}
	if err := caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	// The kernel raises an ambient capability only if it is both permitted
	// and inheritable (capabilities(7), "Ambient capability set";
	// prctl(2) PR_CAP_AMBIENT_RAISE fails with EPERM otherwise). runc's
	// own `runc spec` asks for ambient capabilities with no inheritable set
	// (the inheritable set was emptied for CVE-2022-29162), and runc raises
	// each ambient capability on its own and only warns about those it
	// cannot raise; minirun does the same, rather than widening the
	// inheritable set beyond what the config grants.
	if err := capability.ResetAmbient(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for _, n := range c.Ambient {
		cp, err := capByName(n)
		if err != nil {
			return err
		}
		if err := capability.SetAmbient(true, cp); err != nil {
			fmt.Fprintf(warn, "minirun: warning: cannot raise ambient capability %s: %v\n", n, err)
		}
	}
	return nil
}

// checkProcessSupport looks, before the container is reported created, at
// what the process asks for and this machine cannot give.
//
// A capability outside the init's permitted set (capset(2) can only narrow
// it: the capability is missing from the machine's bounding set) is left
// out of every set with a warning on warn, and the container runs without
// it: config.md "capabilities" says such a value "MUST be logged as a
// warning" and that runtimes "SHOULD NOT fail" for it (a restricted
// environment). Runc 1.1 failed here instead; runc 1.2 warns.
//
// An AppArmor profile where AppArmor is not enabled fails create: the spec
// makes no such allowance, and found only at start, after create
// succeeded, the container would die with the error on its own stderr,
// where the caller of start never looks (runtime.md "create": "If the
// runtime cannot create the container as specified in config.json, it
// MUST generate an error").
func checkProcessSupport(p *specs.Process, warn io.Writer) error {
	if c := p.Capabilities; c != nil {
		caps, err := capability.NewPid2(0)
		if err != nil {
			return err
		}
		if err := caps.Load(); err != nil {
			return fmt.Errorf("read capabilities: %w", err)
		}
		for _, set := range []struct {
			name  string
			names *[]string
		}{{"bounding", &c.Bounding}, {"effective", &c.Effective}, {"permitted", &c.Permitted}, {"inheritable", &c.Inheritable}, {"ambient", &c.Ambient}} {
			kept := (*set.names)[:0:0]
			for _, n := range *set.names {
				cp, err := capByName(n)
				if err != nil {
					return err
				}
				if !caps.Get(capability.PERMITTED, cp) {
					fmt.Fprintf(warn, "minirun: warning: process.capabilities.%s: %s cannot be granted (it is not in this machine's bounding set): left out\n", set.name, n)
					continue
				}
				kept = append(kept, n)
			}
			*set.names = kept
		}
	}
	if p.ApparmorProfile != "" && !apparmorEnabled() {
		return fmt.Errorf("process.apparmorProfile %q: AppArmor is not enabled on this machine", p.ApparmorProfile)
	}
	return nil
}

// apparmorEnabled tells whether the AppArmor LSM is active: it then has its
// own /proc/self/attr/apparmor directory (Linux 5.8+), or, on older kernels,
// answers reads of /proc/self/attr/current (EINVAL with no such LSM).
func apparmorEnabled() bool {
	if _, err := os.Stat("/proc/self/attr/apparmor"); err == nil {
		return true
	}
	_, err := os.ReadFile("/proc/self/attr/current")
	return err == nil
}
