package cgroups

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// deviceRule is one entry of linux.resources.devices, checked and
// normalised: typ is 'a' (every device), 'c' or 'b'; major and minor are -1
// for "any" (the spec's omitted field, written * by the kernel); access is
// a non-empty subset of "rwm" in that order.
type deviceRule struct {
	allow        bool
	typ          byte
	major, minor int64
	access       string
}

// String renders the rule the way devices.allow and devices.deny read it:
// "c 1:3 rwm", "b 8:* r", or just "a".
func (r deviceRule) String() string {
	if r.typ == 'a' {
		return "a"
	}
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return itoa(n)
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), r.access)
}

// deviceRules checks the config's device rules and normalises them.
//
// The runtime spec says the rules are applied in the listed order, so a
// later rule overrides an earlier one for the devices and access they both
// cover.
//
// NOTE: for the kernel's v1 devices controller, any rule of type "a" resets
// the whole list to "allow all" or "deny all", whatever major, minor or
// access it names ("a 1:3 r" in devices.allow allows every device!). To
// give a config one meaning under v1 and v2, an "a" rule is accepted only
// in that reset form, with no major, minor or narrowed access.
func deviceRules(list []specs.LinuxDeviceCgroup) ([]deviceRule, error) {
	out := make([]deviceRule, 0, len(list))
	for i, d := range list {
		what := fmt.Sprintf("linux.resources.devices[%d]", i)
		r := deviceRule{allow: d.Allow, major: -1, minor: -1}
		switch d.Type {
		case "", "a":
			r.typ = 'a'
		case "c", "b":
			r.typ = d.Type[0]
		default:
			return nil, fmt.Errorf("%s.type %q: want a, c or b", what, d.Type)
		}
		for _, f := range []struct {
			name string
			p    *int64
			dst  *int64
		}{{"major", d.Major, &r.major}, {"minor", d.Minor, &r.minor}} {
			if f.p == nil || *f.p == -1 {
				continue
			}
			if *f.p < 0 || *f.p > 0xfffff {
				return nil, fmt.Errorf("%s.%s %d: not a device number", what, f.name, *f.p)
			}
			*f.dst = *f.p
		}
		acc, err := normalizeAccess(d.Access)
		if err != nil {
			return nil, fmt.Errorf("%s.access: %w", what, err)
		}
		r.access = acc
		if r.typ == 'a' && (r.major != -1 || r.minor != -1 || r.access != "rwm") {
			return nil, fmt.Errorf("%s: type \"a\" means every device; the kernel ignores major, minor and access on it, so use type c or b to name devices", what)
		}
		out = append(out, r)
	}
	return out, nil
}

// normalizeAccess checks an access string and returns it in "rwm" order;
// empty means all three, as in runc.
func normalizeAccess(s string) (string, error) {
	if s == "" {
		return "rwm", nil
	}
	var out strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(s, c) {
			out.WriteRune(c)
		}
	}
	if strings.Trim(s, "rwm") != "" {
		return "", fmt.Errorf("%q: want letters from r, w and m", s)
	}
	return out.String(), nil
}

// planDevices plans the v1 devices controller; on v2 it only checks the
// rules, which become an eBPF program in v2Manager.Set.
func planDevices(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	rules, err := deviceRules(res.Devices)
	if err != nil || v2 || len(rules) == 0 {
		return nil, err
	}
	return planDevicesV1(rules), nil
}

// planDevicesV1 writes the rules, in order, to devices.allow or
// devices.deny. Like runc, it starts from "deny everything" (devices.deny
// "a") so the result does not depend on what the new cgroup inherited from
// its parent (a v1 devices cgroup copies its parent's list at mkdir): the
// same config then means the same thing under v1 and v2, where the eBPF
// program also starts from "deny". The first write is skipped when the
// config itself starts with an "a" rule.
//
// NOTE: on a live container (minirun update) this briefly denies every
// device between the first write and the allows that follow. runc computes
// the minimal transition instead; minirun keeps the plain list, which is
// what a student would type.
func planDevicesV1(rules []deviceRule) []Write {
	var out []Write
	if rules[0].typ != 'a' {
		out = append(out, Write{File: "devices/devices.deny", Value: "a"})
	}
	for _, r := range rules {
		f := "devices/devices.deny"
		if r.allow {
			f = "devices/devices.allow"
		}
		out = append(out, Write{File: f, Value: r.String()})
	}
	return out
}

// devicePolicy is the device rules reduced to what a cgroup v2 eBPF
// program has to decide: a default, and the rules after the last "a"
// rule (an "a" rule replaces everything before it, as on v1).
type devicePolicy struct {
	defaultAllow bool
	rules        []deviceRule // only 'c' and 'b'; later ones override earlier ones
}

// newDevicePolicy reduces normalised rules to a policy. With no "a" rule
// the default is deny, matching the v1 plan's leading devices.deny "a".
func newDevicePolicy(rules []deviceRule) devicePolicy {
	var p devicePolicy
	for _, r := range rules {
		if r.typ == 'a' {
			p = devicePolicy{defaultAllow: r.allow}
			continue
		}
		p.rules = append(p.rules, r)
	}
	return p
}

// accessBits maps the rule's access letters to the kernel's
// BPF_DEVCG_ACC_* bits, the ones a device program sees.
func (r deviceRule) accessBits() uint32 {
	var b uint32
	for _, c := range r.access {
		switch c {
		case 'r':
			b |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			b |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			b |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	return b
}

// devType maps 'c'/'b' to the kernel's BPF_DEVCG_DEV_* value.
func (r deviceRule) devType() uint32 {
	if r.typ == 'b' {
		return unix.BPF_DEVCG_DEV_BLOCK
	}
	return unix.BPF_DEVCG_DEV_CHAR
}

// allowed is the meaning of a policy, written as plain Go; the eBPF
// program (deviceProgram) is a translation of this function, and the tests
// check one against the other.
//
// The rules are read last to first, one access bit at a time: the last rule
// that matches the device and names a requested bit decides that bit. A
// deny decides the whole request (one refused bit refuses the open); an
// allow settles the bits it names; bits no rule names fall to the default.
// So [allow c 1:3 rw, deny c 1:3 w] lets the device be opened for reading
// but not for reading and writing, as the v1 kernel's exception list does.
//
// NOTE: v1 differs in one corner: a deny for one device does not carve a
// hole in an earlier wildcard allow (the kernel only removes exceptions that
// are spelled the same), while here the later deny wins, which is what the
// spec's "listed order" suggests. runc refuses such configs on v1.
func (p devicePolicy) allowed(typ, major, minor, access uint32) bool {
	undecided := access
	for i := len(p.rules) - 1; i >= 0; i-- {
		r := p.rules[i]
		if r.devType() != typ || (r.major >= 0 && uint32(r.major) != major) || (r.minor >= 0 && uint32(r.minor) != minor) {
			continue
		}
		bits := undecided & r.accessBits()
		if bits == 0 {
			continue
		}
		if !r.allow {
			return false
		}
		undecided &^= bits
		if undecided == 0 {
			return true
		}
	}
	return p.defaultAllow
}
