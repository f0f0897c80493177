package cgroups

import (
	"fmt"
	"path"
	"strings"
)

// Parent is the directory, at the top of every hierarchy, that holds the
// cgroups minirun creates: /sys/fs/cgroup/<controller>/minirun/<id> on v1,
// /sys/fs/cgroup/minirun/<id> on v2. It is shared by every container and is
// minirun's own: Destroy removes it when the last container's group is gone.
const Parent = "/minirun"

// resolvePath turns the OCI config's linux.cgroupsPath and the container id
// into the cgroup path used in every hierarchy.
//
// The runtime spec (config-linux.md, "Cgroups path") says an absolute path
// is taken from the root of the hierarchy, and lets the runtime choose what a
// relative one means. minirun's choices:
//
//	""            → /minirun/<id>
//	"/a/b"        → /a/b            (from the hierarchy root, as the spec says)
//	"a/b"         → /minirun/a/b    (relative paths stay inside minirun's tree)
//
// NOTE: runc's cgroupfs driver reads a relative path as relative to the
// caller's own cgroup. minirun never does: the CLI runs from a shell, a
// systemd session or a test harness whose cgroup may itself be limited or
// be removed when the session ends, and the container would vanish with it.
// Paths with ".." are refused, so a config cannot climb out of where it
// points; the root itself and the shared /minirun parent are refused too.
func resolvePath(cgroupsPath, id string) (string, error) {
	if cgroupsPath == "" {
		if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			return "", fmt.Errorf("cgroup for container id %q: id must be a single path component", id)
		}
		return Parent + "/" + id, nil
	}
	if !strings.HasPrefix(cgroupsPath, "/") && strings.Count(cgroupsPath, ":") == 2 {
		return "", fmt.Errorf("cgroupsPath %q: the systemd driver form slice:prefix:name is not supported, use a path", cgroupsPath)
	}
	p := cgroupsPath
	if !strings.HasPrefix(p, "/") {
		p = Parent + "/" + p
	}
	return checkPath(p)
}

// checkPath validates an absolute cgroup path and returns it cleaned.
func checkPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("cgroup path %q: must be absolute", p)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("cgroup path %q: contains a NUL byte", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("cgroup path %q: \"..\" is not allowed", p)
		}
	}
	clean := path.Clean(p)
	if clean == "/" || clean == Parent {
		return "", fmt.Errorf("cgroup path %q: a container needs its own cgroup, not %s", p, clean)
	}
	return clean, nil
}

// ownedAncestors lists the ancestors of p, deepest first, that belong to
// minirun's own tree and may be removed once empty: for /minirun/a/b they
// are /minirun/a and /minirun. A path outside /minirun owns no ancestor,
// since minirun cannot know whether it created them.
func ownedAncestors(p string) []string {
	if !strings.HasPrefix(p, Parent+"/") {
		return nil
	}
	var out []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		out = append(out, d)
	}
	return out
}
