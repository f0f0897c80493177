package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/minirun/minirun/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// resolveUser turns Docker's --user forms (name, uid, name:group, uid:gid)
// into numbers, reading the image's own /etc/passwd and /etc/group, as
// Docker does: the names are the container's, not the host's.
//
// NOTE: every id, given or read from the image's files, must lie in
// 0-2147483647, as Docker and runc require (moby/sys/user ErrRange).
// 4294967295 is (uid_t)-1, which setresuid(2) reads as "leave this id
// unchanged": `-u 4294967295` ran the process as root (issue #13).
func resolveUser(rootfs, user string) (specs.User, error) {
	return resolveUserIn(func(p string) [][]string { return readColonFile(rootfs, p) }, user)
}

// resolveUserIn is resolveUser with the image's files read by read
// (readColonFile or readColonFileAt).
func resolveUserIn(read func(path string) [][]string, user string) (specs.User, error) {
	var u specs.User
	if user == "" {
		return u, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	if name == "" {
		name = "0" // ":GROUP" keeps the default user, root (Docker's rule)
	}
	passwd := read("/etc/passwd")
	if id, numeric, err := parseID(name); err != nil {
		return u, fmt.Errorf("-u %s: %w", user, err)
	} else if numeric {
		u.UID = id
		for _, f := range passwd {
			if len(f) > 3 && f[2] == name {
				if gid, err := strconv.ParseUint(f[3], 10, 32); err == nil {
					u.GID = uint32(gid)
				}
			}
		}
	} else {
		found := false
		for _, f := range passwd {
			if len(f) > 3 && f[0] == name {
				uid, err1 := strconv.ParseUint(f[2], 10, 32)
				gid, err2 := strconv.ParseUint(f[3], 10, 32)
				if err1 == nil && err2 == nil {
					u.UID, u.GID, found = uint32(uid), uint32(gid), true
				}
			}
		}
		if !found {
			return u, fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
		}
	}
	if hasGroup {
		if id, numeric, err := parseID(group); err != nil {
			return u, fmt.Errorf("-u %s: %w", user, err)
		} else if numeric {
			u.GID = id
		} else {
			found := false
			for _, f := range read("/etc/group") {
				if len(f) > 2 && f[0] == group {
					if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil {
						u.GID, found = uint32(gid), true
					}
				}
			}
			if !found {
				return u, fmt.Errorf("unable to find group %s: no matching entries in group file", group)
			}
		}
	}
	// The image's passwd and group files may carry such ids too.
	if u.UID > runtime.MaxID || u.GID > runtime.MaxID {
		return u, fmt.Errorf("-u %s (uid %d, gid %d): %w", user, u.UID, u.GID, runtime.ErrIDRange)
	}
	return u, nil
}

// parseID reads a numeric uid or gid. A name is not numeric (it is looked
// up in the image); a number out of range, negative ones included, is an
// error, as in Docker: "-1" must not become a user name.
func parseID(s string) (id uint32, numeric bool, err error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, true, runtime.ErrIDRange
		}
		return 0, false, nil
	}
	if n < 0 || n > runtime.MaxID {
		return 0, true, runtime.ErrIDRange
	}
	return uint32(n), true, nil
}

// readColonFile reads /etc/passwd-style files from inside rootfs without
// following links out of it (readColonFileAt on the rootfs' descriptor).
func readColonFile(rootfs, path string) [][]string {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(root)
	return readColonFileAt(root, path)
}

// readColonFileAt reads /etc/passwd-style files below the directory open
// as root. The file is opened by the kernel inside the root (openInRoot:
// openat2 RESOLVE_IN_ROOT), not joined into a host path and opened by
// name again: a container that swaps /etc for a symlink to / between the
// two would have the host's files read (the CVE-2018-15664 pattern, as
// in docker cp). O_NONBLOCK, then fstat(2) on the opened descriptor: a
// FIFO planted at /etc/passwd must not block the open (fifo(7): a read
// open waits for a writer) and is no passwd file, nor is a device.
func readColonFileAt(root int, path string) [][]string {
	fd, err := openInRoot(root, cleanInRoot(path), unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}
