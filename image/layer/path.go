package layer

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrBreakout is returned (wrapped) when an entry of the archive would be
// written outside the target directory: a ".." component, an absolute name,
// or a path that crosses a symlink or mount point leading out of it.
var ErrBreakout = errors.New("path escapes the layer directory")

// cleanName turns a tar entry name into a path relative to the layer's
// root, or fails. "./etc/passwd" and "etc//passwd" become "etc/passwd";
// "./" becomes "" (the root itself).
//
// NOTE: any ".." is rejected, even a harmless "a/../b". Resolving it
// lexically would be safe (filepath.Clean cannot climb above "a/.."), but
// real image tools never produce it, and refusing it keeps the rule a
// student must check in their head to one line: no "..", ever.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name %q", ErrBreakout, name)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q contains \"..\"", ErrBreakout, name)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "/"), nil
}

// split returns the parent ("" for the root) and the last component of a
// cleaned name. The root itself is ("", ".").
func split(rel string) (parent, base string) {
	if rel == "" {
		return "", "."
	}
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// openBeneath opens the directory rel under root with openat2(2).
//
// RESOLVE_BENEATH makes the kernel fail with EXDEV when resolution would
// leave root at any point: a ".." above it, an absolute symlink, a relative
// symlink that climbs out. RESOLVE_NO_MAGICLINKS refuses /proc/self/fd-style
// links, and RESOLVE_NO_XDEV refuses to cross into another mount (a bind
// mount inside the target must not receive files). Symlinks that stay
// inside are followed, as tar would follow them.
//
// The result is an O_PATH descriptor: enough to be the dirfd of the *at
// calls, and it needs no read permission on the directory.
func openBeneath(root int, rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(root, rel, how)
		// EAGAIN: a rename elsewhere on the system raced with a ".."
		// lookup inside a symlink; openat2(2) asks callers to retry.
		if errors.Is(err, unix.EAGAIN) && tries < 16 {
			continue
		}
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EXDEV):
			return -1, fmt.Errorf("%w: %q (openat2: %v)", ErrBreakout, rel, err)
		case errors.Is(err, unix.ENOSYS):
			return -1, fmt.Errorf("openat2 %q: needs Linux 5.6 or newer: %w", rel, err)
		default:
			return -1, fmt.Errorf("openat2 %q: %w", rel, err)
		}
	}
}

// procPath names the entry base inside the directory open as dirfd, for the
// few calls that have no *at form (lsetxattr). The kernel follows the
// /proc/self/fd magic link straight to that directory, so the path is not
// re-resolved from "/" and cannot be redirected.
func procPath(dirfd int, base string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, base)
}
