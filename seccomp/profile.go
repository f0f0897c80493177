package seccomp

import (
	"fmt"
	"os"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultProfile returns Docker's default seccomp profile for a container
// whose bounding set holds caps (names like "CAP_SYS_ADMIN"; the CAP_ prefix
// may be left out).
//
// The profile comes from github.com/moby/profiles/seccomp, the module the
// Docker daemon itself uses, and is resolved the way the daemon's
// GetDefaultProfile does: rules that "include" a capability are kept only if
// the container has it (CAP_SYS_ADMIN brings back mount, unshare, setns…),
// rules that "exclude" it are dropped if it does (the clone namespace-flag
// filter), rules for other architectures and older kernels are left out, and
// the architecture list becomes this machine's (x86_64, x86, x32).
func DefaultProfile(caps []string) (*specs.LinuxSeccomp, error) {
	p, err := mobyseccomp.GetDefaultProfile(capsSpec(caps))
	if err != nil {
		return nil, fmt.Errorf("docker default seccomp profile: %w", err)
	}
	return p, nil
}

// LoadProfileFile reads a seccomp profile in Docker's JSON format, the file
// `docker run --security-opt seccomp=FILE.json` takes (with archMap,
// includes and excludes), and resolves it for this machine and for a
// container with caps, as DefaultProfile does. Without caps, rules that
// need a capability are left out and rules excluded by one are kept: the
// stricter reading.
//
// A profile with neither a default action nor syscalls means "no filter",
// as in Docker: LoadProfileFile returns nil and no error, and Load(nil)
// installs nothing.
func LoadProfileFile(path string, caps ...string) (*specs.LinuxSeccomp, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	p, err := mobyseccomp.LoadProfile(string(b), capsSpec(caps))
	if err != nil {
		return nil, fmt.Errorf("load seccomp profile %s: %w", path, err)
	}
	if p == nil {
		return nil, nil
	}
	// Check now, so a typo in the file is reported at create with the
	// file's name, not by the container's init.
	if _, err := check(p); err != nil {
		return nil, fmt.Errorf("load seccomp profile %s: %w", path, err)
	}
	return p, nil
}

// capsSpec builds the part of a runtime spec that moby's profile resolver
// reads: the bounding capability set, as the daemon's does.
func capsSpec(caps []string) *specs.Spec {
	bounding := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		bounding = append(bounding, c)
	}
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: bounding}}}
}
