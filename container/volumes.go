package container

// Volumes and bind mounts: -v, --mount, --tmpfs, --volumes-from, and the
// image's VOLUME paths. Each becomes a bind mount (or a tmpfs) in the OCI
// spec, outside the overlay: writes to them never land in the upper dir.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/volume"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MountPoint is one entry of `docker inspect`'s Mounts.
type MountPoint struct {
	Type        string `json:"Type"` // bind, volume, tmpfs
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
	Options     string `json:"Options,omitempty"` // tmpfs options
	Anonymous   bool   `json:"Anonymous,omitempty"`
}

// parseMounts turns the run flags into mount points, with relative bind
// sources resolved against the current directory (the course's
// ./redis-data). Volumes are not created here.
func parseMounts(o RunOpts, imageVolumes map[string]struct{}, cwd string, others func(string) (*Meta, error)) ([]MountPoint, error) {
	var out []MountPoint
	for _, v := range o.Volumes {
		parts := strings.Split(v, ":")
		mp := MountPoint{RW: true}
		switch len(parts) {
		case 1:
			mp.Type, mp.Destination, mp.Anonymous = "volume", parts[0], true
		case 2, 3:
			mp.Destination = parts[1]
			if len(parts) == 3 {
				switch parts[2] {
				case "ro":
					mp.RW = false
				case "rw", "":
				default:
					return nil, fmt.Errorf("-v %s: the mode must be ro or rw", v)
				}
			}
			src := parts[0]
			if strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") {
				mp.Type = "bind"
				if !filepath.IsAbs(src) {
					src = filepath.Join(cwd, src)
				}
				mp.Source = filepath.Clean(src)
			} else {
				if !volume.ValidName(src) {
					return nil, fmt.Errorf("-v %s: %q is neither a path nor a volume name", v, src)
				}
				mp.Type, mp.Name = "volume", src
			}
		default:
			return nil, fmt.Errorf("-v %s: want [SOURCE:]DESTINATION[:ro]", v)
		}
		out = append(out, mp)
	}
	for _, m := range o.Mounts {
		mp := MountPoint{RW: true}
		for _, kv := range strings.Split(m, ",") {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "type":
				mp.Type = val
			case "source", "src":
				mp.Source = val
			case "target", "dst", "destination":
				mp.Destination = val
			case "readonly", "ro":
				mp.RW = val == "false" || val == "0"
			case "tmpfs-size":
				mp.Options = "size=" + val
			case "tmpfs-mode":
				mp.Options = strings.TrimPrefix(mp.Options+",mode="+val, ",")
			default:
				return nil, fmt.Errorf("--mount %s: unknown option %q", m, k)
			}
		}
		switch mp.Type {
		case "bind":
			if mp.Source == "" {
				return nil, fmt.Errorf("--mount %s: a bind needs source=", m)
			}
			if !filepath.IsAbs(mp.Source) {
				mp.Source = filepath.Join(cwd, mp.Source)
			}
		case "volume":
			mp.Name, mp.Source = mp.Source, ""
			mp.Anonymous = mp.Name == ""
		case "tmpfs":
		default:
			return nil, fmt.Errorf("--mount %s: type must be bind, volume or tmpfs", m)
		}
		out = append(out, mp)
	}
	for _, t := range o.Tmpfs {
		dest, opts, _ := strings.Cut(t, ":")
		out = append(out, MountPoint{Type: "tmpfs", Destination: dest, RW: true, Options: opts})
	}
	for _, ref := range o.VolumesFrom {
		name, mode, _ := strings.Cut(ref, ":")
		other, err := others(name)
		if err != nil {
			return nil, fmt.Errorf("--volumes-from %s: %w", name, err)
		}
		for _, mp := range other.Mounts {
			if mp.Type == "tmpfs" {
				continue
			}
			if mode == "ro" {
				mp.RW = false
			}
			out = append(out, mp)
		}
	}
	// The image's VOLUME paths get anonymous volumes, unless a flag
	// already mounts something there.
	var paths []string
	for p := range imageVolumes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		taken := false
		for _, mp := range out {
			if filepath.Clean(mp.Destination) == filepath.Clean(p) {
				taken = true
			}
		}
		if !taken {
			out = append(out, MountPoint{Type: "volume", Destination: p, RW: true, Anonymous: true})
		}
	}
	for _, mp := range out {
		if !filepath.IsAbs(mp.Destination) {
			return nil, fmt.Errorf("mount destination %q must be an absolute path", mp.Destination)
		}
	}
	return out, nil
}

func (m *Manager) volumes(tr *explain.Tracer) (*volume.Store, error) {
	return volume.Open(m.DataRoot, tr)
}

// prepareMounts creates the named and anonymous volumes (copying the
// image's content into a new, empty volume, as Docker does), checks bind
// sources, and returns the spec mounts.
func (m *Manager) prepareMounts(mps []MountPoint, rootfs string, remap *Remap, tr *explain.Tracer) ([]MountPoint, []specs.Mount, error) {
	vs, err := m.volumes(tr)
	if err != nil {
		return nil, nil, err
	}
	var out []specs.Mount
	for i := range mps {
		mp := &mps[i]
		opts := []string{"rbind", "rprivate"}
		if !mp.RW {
			opts = append(opts, "ro")
		}
		switch mp.Type {
		case "bind":
			if _, err := os.Stat(mp.Source); errors.Is(err, fs.ErrNotExist) {
				// Docker's -v creates a missing host directory.
				if err := os.MkdirAll(mp.Source, 0o755); err != nil {
					return nil, nil, fmt.Errorf("bind source %s: %w", mp.Source, err)
				}
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts})
		case "volume":
			v, err := vs.Get(mp.Name)
			if errors.Is(err, volume.ErrNotFound) || mp.Name == "" {
				if v, err = vs.Create(mp.Name, "local", nil, nil); err != nil {
					return nil, nil, err
				}
				v.Anonymous = mp.Anonymous
				if remap != nil {
					// A new volume belongs to the remapped root, as with Docker.
					if err := os.Chown(v.Mountpoint, remap.UID.Start, remap.GID.Start); err != nil {
						return nil, nil, err
					}
				}
			}
			if err != nil {
				return nil, nil, err
			}
			mp.Name, mp.Source = v.Name, v.Mountpoint
			if err := copyImageContent(rootfs, mp.Destination, v.Mountpoint, tr); err != nil {
				return nil, nil, err
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: v.Mountpoint, Options: opts})
		case "tmpfs":
			o := []string{"nosuid", "nodev"}
			if mp.Options != "" {
				o = append(o, strings.Split(mp.Options, ",")...)
			}
			if !mp.RW {
				o = append(o, "ro")
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "tmpfs", Source: "tmpfs", Options: o})
		}
	}
	return mps, out, nil
}

// copyImageContent fills an empty volume with what the image has at the
// mount's path, the first time the volume is used (Docker's behaviour):
// a database image's initial files appear in its new volume.
func copyImageContent(rootfs, dest, vol string, tr *explain.Tracer) error {
	src, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(vol)
	if err != nil || len(ents) > 0 {
		return err
	}
	img, _ := os.ReadDir(src)
	if len(img) == 0 {
		return nil
	}
	return tr.Do(explain.Step{
		ID: "volumes-copy", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Copia o conteúdo da imagem em " + dest + " para o volume novo", EN: "Copy the image's content at " + dest + " into the new volume"},
		Why: explain.Text{PT: "Como no Docker: um volume vazio começa com o que a imagem tinha naquele caminho.",
			EN: "As in Docker: an empty volume starts with what the image had at that path."},
		Shell: "cp -a $ROOTFS" + dest + "/. " + vol + "/",
		Do:    func() error { return copyTree(src, vol) },
	}, nil)
}

// copyTree copies a directory tree, keeping modes, owners and links.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.IsDir():
			if rel == "." {
				return nil
			}
			return os.Mkdir(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, info.Mode().Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(out, in)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			return err
		}
		return nil // devices and sockets are not copied
	})
}

// volumeUsers lists the containers (any state) whose mounts name the
// volume: such a volume may not be removed.
func (m *Manager) volumeUsers(name string) []string {
	all, _ := m.List()
	var users []string
	for _, c := range all {
		for _, mp := range c.Mounts {
			if mp.Type == "volume" && mp.Name == name {
				users = append(users, c.Name)
			}
		}
	}
	return users
}

// VolumeUsers is volumeUsers for the volume commands.
func (m *Manager) VolumeUsers(name string) []string { return m.volumeUsers(name) }

// removeAnonymousVolumes is rm -v: the container's anonymous volumes go
// with it; named ones stay.
func (m *Manager) removeAnonymousVolumes(meta *Meta) error {
	vs, err := m.volumes(nil)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" && mp.Anonymous {
			if err := vs.Remove(mp.Name, func(string) []string { return nil }); err != nil && !errors.Is(err, volume.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// acquireVolumes and releaseVolumes mount and unmount the volumes with
// driver options (tmpfs, nfs) around a container's run.
func (m *Manager) acquireVolumes(meta *Meta) error {
	vs, err := m.volumes(nil)
	if err != nil {
		return err
	}
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" {
			if err := vs.Acquire(mp.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) releaseVolumes(meta *Meta) error {
	vs, err := m.volumes(nil)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" {
			if err := vs.Release(mp.Name); err != nil && !errors.Is(err, volume.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
