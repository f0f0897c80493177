package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/explain"
	"golang.org/x/sys/unix"
)

// ErrNotFound means no volume has that name.
var ErrNotFound = errors.New("no such volume")

// Volume is one named (or anonymous) volume, shaped like `docker volume inspect`.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Options    map[string]string `json:"Options"`
	Labels     map[string]string `json:"Labels"`
	Scope      string            `json:"Scope"`
	// Anonymous volumes were made for a container (-v /path, or the
	// image's VOLUME); rm -v removes them with it.
	Anonymous bool `json:"Anonymous,omitempty"`
}

// Store keeps the volumes of one data root.
type Store struct {
	dir string
	tr  *explain.Tracer
}

// Open returns the volume store of dataRoot.
func Open(dataRoot string, tr *explain.Tracer) (*Store, error) {
	dir := filepath.Join(dataRoot, "volumes")
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return &Store{dir: dir, tr: tr}, nil
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidName reports whether s can name a volume (Docker's rule).
func ValidName(s string) bool { return validName.MatchString(s) && len(s) <= 255 }

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// lock serialises changes to one volume's record and reference count.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// Create makes a volume; creating one that exists with the same driver is
// not an error (Docker returns the existing volume). An empty name makes an
// anonymous volume with a random name.
func (s *Store) Create(name, driver string, opts, labels map[string]string) (*Volume, error) {
	anon := name == ""
	if anon {
		b := make([]byte, 32)
		rand.Read(b)
		name = hex.EncodeToString(b)
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("invalid volume name %q: use letters, digits and . _ -", name)
	}
	if driver == "" {
		driver = "local"
	}
	if driver != "local" {
		return nil, fmt.Errorf("volume driver %q: only local is built in (plugins such as the deck's nutanix are explained, not built)", driver)
	}
	for k := range opts {
		if k != "type" && k != "o" && k != "device" {
			return nil, fmt.Errorf("volume option %q: the local driver takes type, o and device", k)
		}
	}
	if (opts["type"] == "") != (opts["device"] == "") && opts["type"] != "tmpfs" {
		return nil, fmt.Errorf("volume options: type and device go together (e.g. type=nfs o=addr=… device=:/export)")
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if v, err := s.get(name); err == nil {
		return v, nil
	}
	v := &Volume{Name: name, Driver: driver, Mountpoint: filepath.Join(s.path(name), "_data"), CreatedAt: time.Now().UTC(),
		Options: opts, Labels: labels, Scope: "local", Anonymous: anon}
	err = s.tr.Do(explain.Step{
		ID: "volumes-create", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Cria o volume " + short(name), EN: "Create volume " + short(name)},
		Why: explain.Text{PT: "Um diretório fora de todas as camadas: sobrevive ao contêiner e não cresce a camada gravável.",
			EN: "A directory outside every layer: it outlives the container and never grows the writable layer."},
		Shell: "mkdir -p " + v.Mountpoint,
		Do: func() error {
			if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
				return err
			}
			return writeJSON(filepath.Join(s.path(name), "volume.json"), v)
		},
		Evidence: func() string { return v.Mountpoint },
	}, nil)
	if err != nil {
		os.RemoveAll(s.path(name))
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, nil
}

func short(n string) string {
	if len(n) == 64 {
		return n[:12]
	}
	return n
}

func writeJSON(path string, v interface{}) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Store) get(name string) (*Volume, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	b, err := os.ReadFile(filepath.Join(s.path(name), "volume.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Get returns a volume by name.
func (s *Store) Get(name string) (*Volume, error) { return s.get(name) }

// List returns every volume, by name.
func (s *Store) List() ([]*Volume, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []*Volume
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if v, err := s.get(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a volume and its data, refusing while a container uses
// it. A mounted volume (driver options) is unmounted first: deleting
// through a live mount would delete the data of the NFS export or
// whatever it shows.
func (s *Store) Remove(name string, inUse func(string) []string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	v, err := s.get(name)
	if err != nil {
		return err
	}
	if users := inUse(name); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use by container %s", name, strings.Join(users, ", "))
	}
	return s.tr.Do(explain.Step{
		ID: "volumes-remove", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Remove o volume " + short(name), EN: "Remove volume " + short(name)},
		Why: explain.Text{PT: "Primeiro desmonta, depois apaga: nunca apagar através de uma montagem viva.",
			EN: "Unmount first, then delete: never delete through a live mount."},
		Shell: "umount " + v.Mountpoint + " 2>/dev/null; rm -rf " + s.path(name),
		Do: func() error {
			if err := unmountIfMounted(v.Mountpoint); err != nil {
				return err
			}
			return os.RemoveAll(s.path(name))
		},
	}, nil)
}

// Prune removes every volume no container uses; with all false, only the
// anonymous ones (Docker's default since 23.0).
func (s *Store) Prune(all bool, inUse func(string) []string) ([]string, error) {
	vols, err := s.List()
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, v := range vols {
		if (!all && !v.Anonymous) || len(inUse(v.Name)) > 0 {
			continue
		}
		if err := s.Remove(v.Name, inUse); err != nil {
			return gone, err
		}
		gone = append(gone, v.Name)
	}
	return gone, nil
}

// Acquire is called when a container starts using the volume: the first
// user mounts the driver's options (type, o, device) over the volume's
// directory. Volumes without options need nothing.
func (s *Store) Acquire(name string) error {
	return s.refcount(name, +1)
}

// Release is called when a container stops using the volume; the last
// user unmounts it.
func (s *Store) Release(name string) error {
	return s.refcount(name, -1)
}

func (s *Store) refcount(name string, delta int) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	v, err := s.get(name)
	if err != nil {
		return err
	}
	if v.Options["type"] == "" {
		return nil
	}
	path := filepath.Join(s.path(name), "users")
	n := 0
	if b, err := os.ReadFile(path); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n += delta
	if n < 0 {
		n = 0
	}
	switch {
	case delta > 0 && n == 1:
		o := v.Options
		data := o["o"]
		device := o["device"]
		if device == "" {
			device = o["type"]
		}
		// NFS's addr= option must be an address: mount(2) does no DNS.
		err := s.tr.Do(explain.Step{
			ID: "volumes-mount", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Monta o volume " + name + " (" + o["type"] + ")", EN: "Mount volume " + name + " (" + o["type"] + ")"},
			Why: explain.Text{PT: "O driver local passa type, o e device ao mount, como o Docker; o primeiro contêiner monta.",
				EN: "The local driver hands type, o and device to mount, as Docker does; the first container mounts."},
			Shell: fmt.Sprintf("mount -t %s -o %s %s %s", o["type"], data, device, v.Mountpoint),
			Do: func() error {
				if err := unix.Mount(device, v.Mountpoint, o["type"], 0, data); err != nil {
					return fmt.Errorf("mount volume %s (%s %s): %w", name, o["type"], device, err)
				}
				return nil
			},
		}, nil)
		if err != nil {
			return err
		}
	case delta < 0 && n == 0:
		if err := unmountIfMounted(v.Mountpoint); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(strconv.Itoa(n)), 0o600)
}

// unmountIfMounted unmounts path when something is mounted there.
func unmountIfMounted(path string) error {
	err := unix.Unmount(path, unix.UMOUNT_NOFOLLOW)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}
