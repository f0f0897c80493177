package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/seccomp"
	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SecurityOpts are `run`'s security flags, as Docker spells them.
type SecurityOpts struct {
	CapAdd, CapDrop []string
	Privileged      bool
	SecurityOpt     []string // no-new-privileges[:false], seccomp=unconfined|FILE, apparmor=P, label=…
	ReadOnly        bool
	GroupAdd        []string
}

// applySecurity changes the default spec the way Docker's flags do.
func applySecurity(s *specs.Spec, o SecurityOpts) error {
	caps := append([]string(nil), runtime.DockerCaps...)
	if o.Privileged {
		caps = allCaps()
	}
	for _, c := range o.CapDrop {
		if strings.EqualFold(c, "ALL") {
			caps = nil
			continue
		}
		n, err := capName(c)
		if err != nil {
			return fmt.Errorf("--cap-drop: %w", err)
		}
		caps = remove(caps, n)
	}
	for _, c := range o.CapAdd {
		if strings.EqualFold(c, "ALL") {
			caps = allCaps()
			continue
		}
		n, err := capName(c)
		if err != nil {
			return fmt.Errorf("--cap-add: %w", err)
		}
		if !contains(caps, n) {
			caps = append(caps, n)
		}
	}
	p := s.Process
	p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	seccompSet := false
	for _, opt := range o.SecurityOpt {
		k, v, _ := strings.Cut(opt, "=")
		if k == "no-new-privileges" || strings.HasPrefix(opt, "no-new-privileges:") {
			_, val, has := strings.Cut(opt, ":")
			if !has && v != "" {
				val, has = v, true
			}
			p.NoNewPrivileges = !has || val == "true"
			continue
		}
		switch k {
		case "seccomp":
			seccompSet = true
			if v == "unconfined" {
				s.Linux.Seccomp = nil
				continue
			}
			prof, err := seccomp.LoadProfileFile(v, caps...)
			if err != nil {
				return fmt.Errorf("--security-opt seccomp=%s: %w", v, err)
			}
			s.Linux.Seccomp = prof
		case "apparmor":
			if v != "unconfined" && !appArmorEnabled() {
				return fmt.Errorf("--security-opt apparmor=%s: AppArmor is not enabled in this kernel (see `minirun info`)", v)
			}
			if v != "unconfined" {
				p.ApparmorProfile = v
			}
		case "label":
			if v == "disable" {
				continue
			}
			if !seLinuxEnabled() {
				return fmt.Errorf("--security-opt label=%s: SELinux is not enabled in this kernel (see `minirun info`)", v)
			}
			label, err := seLinuxLabel(p.SelinuxLabel, v)
			if err != nil {
				return err
			}
			p.SelinuxLabel = label
		default:
			return fmt.Errorf("--security-opt %q: supported are no-new-privileges, seccomp, apparmor and label", opt)
		}
	}
	if !seccompSet && s.Linux.Seccomp != nil {
		// The default profile depends on the capabilities: recompute it.
		if prof, err := seccomp.DefaultProfile(caps); err == nil {
			s.Linux.Seccomp = prof
		}
	}
	if o.Privileged {
		// Docker's --privileged: every capability, no seccomp filter,
		// nothing masked or read-only, every device of the host.
		if !seccompSet {
			s.Linux.Seccomp = nil
		}
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		s.Linux.Devices = append(s.Linux.Devices, hostDevices()...)
		for i, m := range s.Mounts {
			if m.Type == "sysfs" || m.Type == "cgroup" {
				s.Mounts[i].Options = remove(m.Options, "ro")
			}
		}
	}
	s.Root.Readonly = o.ReadOnly
	for _, g := range o.GroupAdd {
		gid, numeric, err := parseID(g)
		if err != nil {
			return fmt.Errorf("--group-add %s: %w", g, err)
		}
		if !numeric {
			found := false
			for _, f := range readColonFile(s.Root.Path, "/etc/group") {
				if len(f) > 2 && f[0] == g {
					if v, err := strconv.ParseUint(f[2], 10, 32); err == nil {
						gid, found = uint32(v), true
					}
				}
			}
			if !found {
				return fmt.Errorf("--group-add %s: no such group in the image", g)
			}
		}
		if gid > runtime.MaxID {
			return fmt.Errorf("--group-add %s (gid %d): %w", g, gid, runtime.ErrIDRange)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, gid)
	}
	return nil
}

func capName(c string) (string, error) {
	n := "CAP_" + strings.TrimPrefix(strings.ToUpper(c), "CAP_")
	for _, k := range capability.ListKnown() {
		if "CAP_"+strings.ToUpper(k.String()) == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown capability %q", c)
}

// allCaps is every capability minirun itself holds in its bounding set:
// "all" can be no more than the caller has (a sandbox may lack some).
func allCaps() []string {
	var out []string
	last, err := capability.LastCap()
	for _, k := range capability.ListKnown() {
		if err == nil && k > last {
			continue
		}
		if in, err := capability.GetBound(k); err != nil || !in {
			continue
		}
		out = append(out, "CAP_"+strings.ToUpper(k.String()))
	}
	return out
}

func remove(l []string, x string) []string {
	var out []string
	for _, v := range l {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func contains(l []string, x string) bool {
	for _, v := range l {
		if v == x {
			return true
		}
	}
	return false
}

// hostDevices lists the device nodes directly under the host's /dev, for
// --privileged.
func hostDevices() []specs.LinuxDevice {
	ents, _ := os.ReadDir("/dev")
	var out []specs.LinuxDevice
	for _, e := range ents {
		p := filepath.Join("/dev", e.Name())
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			continue
		}
		typ := ""
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			continue
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{Path: p, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), FileMode: &mode, UID: &uid, GID: &gid})
	}
	return out
}

// appArmorEnabled and seLinuxEnabled ask the kernel whether the LSM is on.
func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

func seLinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// seLinuxLabel applies one of Docker's label options (user:U, role:R,
// type:T, level:L) to a context: the previous label, or this process's
// own, "user:role:type:level". The runtime hands the result to the kernel
// at execve (/proc/self/attr/exec).
func seLinuxLabel(base, opt string) (string, error) {
	if base == "" {
		b, err := os.ReadFile("/proc/self/attr/current")
		if err != nil {
			return "", fmt.Errorf("--security-opt label: read this process's context: %w", err)
		}
		base = strings.TrimRight(string(b), "\x00\n")
	}
	f := strings.SplitN(base, ":", 4)
	for len(f) < 4 {
		f = append(f, "")
	}
	k, v, ok := strings.Cut(opt, ":")
	if !ok {
		return "", fmt.Errorf("--security-opt label=%s: use user:, role:, type:, level: or disable", opt)
	}
	switch k {
	case "user":
		f[0] = v
	case "role":
		f[1] = v
	case "type":
		f[2] = v
	case "level":
		f[3] = v
	default:
		return "", fmt.Errorf("--security-opt label=%s: use user:, role:, type:, level: or disable", opt)
	}
	return strings.Join(f, ":"), nil
}
