package container

// User namespace remapping, like dockerd's --userns-remap: root in the
// container is an unprivileged range of host uids, taken from /etc/subuid
// and /etc/subgid (subuid(5)). The image's files must then belong to that
// range, so the rootfs is a copy with every owner shifted (the vfs driver's
// copy, shifted), as Docker keeps remapped layer copies for this mode.

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// IDRange is a range of host ids given to a container's user namespace.
type IDRange struct {
	Start, Size int
}

// subIDFile is /etc/subuid or /etc/subgid; MINIRUN_SUBUID / MINIRUN_SUBGID
// name other files (tests use their own, never the machine's).
func subIDFile(kind string) string {
	if f := os.Getenv("MINIRUN_SUB" + strings.ToUpper(kind)); f != "" {
		return f
	}
	return "/etc/sub" + kind
}

// lookupSubID finds the first range of user in a subuid/subgid file.
func lookupSubID(kind, user string) (IDRange, error) {
	path := subIDFile(kind)
	f, err := os.Open(path)
	if err != nil {
		return IDRange{}, fmt.Errorf("--userns-remap %s: %w", user, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 || p[0] != user {
			continue
		}
		start, err1 := strconv.Atoi(p[1])
		size, err2 := strconv.Atoi(p[2])
		if err1 != nil || err2 != nil || start <= 0 || size < 65536 {
			return IDRange{}, fmt.Errorf("--userns-remap %s: bad line %q in %s (need at least 65536 ids)", user, sc.Text(), path)
		}
		return IDRange{Start: start, Size: size}, nil
	}
	return IDRange{}, fmt.Errorf("--userns-remap %s: no range for %s in %s (add a line like %s:100000:65536)", user, user, path, user)
}

// remapSpec adds the user namespace and its mappings to the spec.
func remapSpec(s *specs.Spec, uid, gid IDRange) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(uid.Start), Size: uint32(uid.Size)}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(gid.Start), Size: uint32(gid.Size)}}
}
