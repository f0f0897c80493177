package container

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// resolveUser turns Docker's --user forms (name, uid, name:group, uid:gid)
// into numbers, reading the image's own /etc/passwd and /etc/group, as
// Docker does: the names are the container's, not the host's.
func resolveUser(rootfs, user string) (specs.User, error) {
	var u specs.User
	if user == "" {
		return u, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	passwd := readColonFile(rootfs, "/etc/passwd")
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		u.UID = uint32(id)
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
		if id, err := strconv.ParseUint(group, 10, 32); err == nil {
			u.GID = uint32(id)
		} else {
			found := false
			for _, f := range readColonFile(rootfs, "/etc/group") {
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
	return u, nil
}

// readColonFile reads /etc/passwd-style files from inside rootfs without
// following links out of it.
func readColonFile(rootfs, path string) [][]string {
	p, err := securejoin.SecureJoin(rootfs, path)
	if err != nil {
		return nil
	}
	f, err := os.Open(filepath.Clean(p))
	if err != nil {
		return nil
	}
	defer f.Close()
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
