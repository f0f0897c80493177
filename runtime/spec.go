package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LoadSpec reads and validates <bundle>/config.json. Properties minirun does
// not know are accepted (the spec says a runtime MUST ignore unknown
// properties, config.md "Extensibility"); values it cannot honour are errors.
func LoadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrInvalidConfig, path, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: parse %s: %w", ErrInvalidConfig, path, err)
	}
	if err := ValidateSpec(&s, bundle); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	return &s, nil
}

// MaxID is the largest uid or gid minirun accepts, as Docker and runc do
// (moby/sys/user: "for 32-bit systems compatibility").
const MaxID = 1<<31 - 1

// ErrIDRange is the error for a uid or gid above MaxID, worded as Docker's.
//
// NOTE: 4294967295 is (uid_t)-1, which setresuid(2) and setresgid(2) read
// as "leave this id unchanged": such a process.user.uid kept the init's
// uid 0 (issue #13). Linux ids are 32-bit, so MaxID also keeps them clear
// of every negative int on 32-bit systems.
var ErrIDRange = fmt.Errorf("uids and gids must be in range 0-%d", MaxID)

// ValidateUser checks process.user: uid, gid and additionalGids must lie
// in 0-MaxID.
func ValidateUser(u specs.User) error {
	if u.UID > MaxID {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, ErrIDRange)
	}
	if u.GID > MaxID {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, ErrIDRange)
	}
	for _, g := range u.AdditionalGids {
		if g > MaxID {
			return fmt.Errorf("process.user.additionalGids %d: %w", g, ErrIDRange)
		}
	}
	return nil
}

// ValidateSpec checks the parts of a spec that minirun relies on.
func ValidateSpec(s *specs.Spec, bundle string) error {
	if err := checkVersion(s.Version); err != nil {
		return err
	}
	if s.Root == nil || s.Root.Path == "" {
		return fmt.Errorf("root.path is required")
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("root.path %s: %w", root, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("root.path %s is not a directory", root)
	}
	if s.Process == nil {
		return fmt.Errorf("process is required")
	}
	if len(s.Process.Args) == 0 {
		return fmt.Errorf("process.args must not be empty")
	}
	if s.Process.Cwd == "" || !filepath.IsAbs(s.Process.Cwd) {
		return fmt.Errorf("process.cwd %q must be an absolute path", s.Process.Cwd)
	}
	if err := ValidateUser(s.Process.User); err != nil {
		return err
	}
	for _, r := range s.Process.Rlimits {
		if _, ok := rlimitByName[r.Type]; !ok {
			return fmt.Errorf("unknown rlimit %q", r.Type)
		}
	}
	if c := s.Process.Capabilities; c != nil {
		for _, set := range [][]string{c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient} {
			for _, name := range set {
				if _, err := capByName(name); err != nil {
					return err
				}
			}
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mount destination %q must be absolute", m.Destination)
		}
	}
	if s.Linux == nil {
		return fmt.Errorf("linux section is required on Linux")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if _, ok := nsFlags[ns.Type]; !ok {
			return fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("namespace %q listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			if ns.Type == specs.UserNamespace {
				return fmt.Errorf("joining an existing user namespace (%s) is not supported: it needs a single-threaded process", ns.Path)
			}
			if _, err := os.Stat(ns.Path); err != nil {
				return fmt.Errorf("namespace %s path: %w", ns.Type, err)
			}
		}
	}
	if !seen[specs.MountNamespace] {
		// Without a mount namespace these would change the host's own
		// /proc, /sys and / (runc refuses them too).
		if len(s.Linux.MaskedPaths) > 0 || len(s.Linux.ReadonlyPaths) > 0 {
			return fmt.Errorf("maskedPaths and readonlyPaths need a new mount namespace")
		}
		if s.Root.Readonly {
			return fmt.Errorf("root.readonly needs a new mount namespace")
		}
	}
	if s.Hostname != "" && !seen[specs.UTSNamespace] {
		return fmt.Errorf("hostname needs a new uts namespace")
	}
	if (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) && !seen[specs.UserNamespace] {
		return fmt.Errorf("uid/gid mappings need a user namespace")
	}
	return nil
}

// checkVersion accepts any 1.x.y version, as runc does.
func checkVersion(v string) error {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("invalid ociVersion %q: want 1.x.y", v)
	}
	for i, p := range parts {
		if i == 2 {
			// allow pre-release suffixes such as 1.0.2-dev
			p, _, _ = strings.Cut(p, "-")
			p, _, _ = strings.Cut(p, "+")
		}
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return fmt.Errorf("invalid ociVersion %q: want 1.x.y", v)
		}
	}
	if parts[0] != "1" {
		return fmt.Errorf("unsupported ociVersion %q: minirun speaks 1.x", v)
	}
	return nil
}

// capByName maps "CAP_SYS_ADMIN" to its number.
func capByName(name string) (capability.Cap, error) {
	n := strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), "CAP_"))
	for _, c := range capability.ListKnown() {
		if c.String() == n {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}
