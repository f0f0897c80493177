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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/minirun/minirun/explain"
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

// allowRemappedRoot lets the remapped root (host gid gid.Start) walk from
// the data root to container id's directory, and no one else: the data
// root, containers/ and the container's directory become group-owned by
// that gid, mode 0710 (dataRootMode), as dockerd does with
// --userns-remap. Its init runs as that user on the host when it bind
// mounts its rootfs and the volumes, and path lookup needs search (x)
// permission on every directory on the way (path_resolution(7)).
//
// NOTE: a directory has one group, so a data root serves one remapped
// range, as one dockerd has one --userns-remap. A second range is refused
// rather than opening the data root to others (the 0711 of CVE-2021-41091).
func (m *Manager) allowRemappedRoot(id string, gid IDRange, tr *explain.Tracer) error {
	containers := filepath.Join(m.DataRoot, "containers")
	shared := []string{m.DataRoot, containers}
	dirs := append(shared, m.dir(id))
	todo := false
	for i, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("--userns-remap: %w", err)
		}
		g := int(fi.Sys().(*syscall.Stat_t).Gid)
		if i < len(shared) && g != 0 && g != gid.Start {
			return fmt.Errorf("--userns-remap: the data root %s already serves the remapped gid %d, not %d: one data root serves one remapped range (use another --data-root)", m.DataRoot, g, gid.Start)
		}
		if g != gid.Start || fi.Mode().Perm() != dataRootMode {
			todo = true
		}
	}
	if !todo {
		return nil
	}
	// No undo: the shared directories stay so for the range's other
	// containers, and the container's directory goes with the container.
	return tr.Do(explain.Step{
		ID: "security-userns-data-root", Chapter: explain.ChapterSecurity,
		Title: explain.Text{PT: fmt.Sprintf("Deixa o root remapeado (gid %d) atravessar o diretório de dados", gid.Start),
			EN: fmt.Sprintf("Let the remapped root (gid %d) pass through the data root", gid.Start)},
		Why: explain.Text{PT: "O init do contêiner é um usuário comum no host: precisa do x do grupo até o seu rootfs; os outros usuários continuam sem nenhum.",
			EN: "The container's init is an ordinary host user: it needs the group's x down to its rootfs; other users still get nothing."},
		Shell: fmt.Sprintf("chgrp %d %s && chmod 0710 %s", gid.Start, strings.Join(dirs, " "), strings.Join(dirs, " ")),
		Do: func() error {
			for _, d := range dirs {
				if err := os.Chown(d, -1, gid.Start); err != nil {
					return fmt.Errorf("chgrp %s: %w", d, err)
				}
				if err := os.Chmod(d, dataRootMode); err != nil {
					return fmt.Errorf("chmod %s: %w", d, err)
				}
			}
			return nil
		},
	}, nil)
}
