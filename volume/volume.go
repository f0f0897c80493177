package volume

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/mountinfo"
	"github.com/minirun/minirun/internal/prunefilter"
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
	// Alive reports whether a container still runs (or is about to run
	// again: its shim is alive). It decides which holds on a volume
	// stand; nil means only the holds' owner processes count.
	Alive func(id string) bool
}

// Open returns the volume store of dataRoot. With a dry-run tracer it
// creates nothing, and Create and Remove only describe their steps
// (`minirun explain volumes --dry-run` walks the same functions as a run).
func Open(dataRoot string, tr *explain.Tracer) (*Store, error) {
	dir := filepath.Join(dataRoot, "volumes")
	if tr.DryRun() {
		return &Store{dir: dir, tr: tr}, nil
	}
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

// lockedGet takes the lock, then reads the volume's record, so that
// Remove and the reference count act on a record no other command is
// changing. On success the caller releases the lock with unlock; on error
// it is already released.
func (s *Store) lockedGet(name string) (v *Volume, unlock func(), err error) {
	if unlock, err = s.lock(); err != nil {
		return nil, nil, err
	}
	if v, err = s.get(name); err != nil {
		unlock()
		return nil, nil, err
	}
	return v, unlock, nil
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
		return s.createPlugin(name, driver, opts, labels, anon)
	}
	for k := range opts {
		if k != "type" && k != "o" && k != "device" {
			return nil, fmt.Errorf("volume option %q: the local driver takes type, o and device", k)
		}
	}
	if (opts["type"] == "") != (opts["device"] == "") && opts["type"] != "tmpfs" {
		return nil, fmt.Errorf("volume options: type and device go together (e.g. type=nfs o=addr=… device=:/export)")
	}
	v := &Volume{Name: name, Driver: driver, Mountpoint: filepath.Join(s.path(name), "_data"), CreatedAt: time.Now().UTC(),
		Options: opts, Labels: labels, Scope: "local", Anonymous: anon}
	if s.tr.DryRun() {
		// Described only: no lock, no look at the store (a dry run needs
		// no root and may name a data root that does not exist), and an
		// anonymous volume's name is what only a run draws.
		if anon {
			v.Name = "$VOLUME"
			v.Mountpoint = filepath.Join(s.path(v.Name), "_data")
		}
		if err := s.tr.Do(s.createStep(v), nil); err != nil {
			return nil, err
		}
		described(s.tr).add(v)
		return v, nil
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if v, err := s.get(name); err == nil {
		return v, nil
	}
	if err := s.tr.Do(s.createStep(v), nil); err != nil {
		os.RemoveAll(s.path(name))
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, nil
}

// createStep makes the volume's directory and record.
func (s *Store) createStep(v *Volume) explain.Step {
	name := v.Name
	return explain.Step{
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
	}
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
	if s.tr.DryRun() {
		// A volume this dry run described creating: what a run would
		// find on disk by now.
		if v := described(s.tr).get(name); v != nil {
			return v, nil
		}
	}
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

// DriverInUse reports whether a volume of the driver exists: a managed
// plugin with volumes is in use, and disable and rm refuse it without
// --force, as dockerd does for a plugin whose reference count is not zero
// (its volumes' data may live in its propagated mount).
func (s *Store) DriverInUse(driver string) (bool, error) {
	all, err := s.List()
	if err != nil {
		return false, err
	}
	for _, v := range all {
		if v.Driver == driver {
			return true, nil
		}
	}
	return false, nil
}

// Remove deletes a volume and its data, refusing while a container uses
// it. A mounted volume (driver options) is unmounted first: deleting
// through a live mount would delete the data of the NFS export or
// whatever it shows.
func (s *Store) Remove(name string, inUse func(string) []string) error {
	if s.tr.DryRun() {
		described(s.tr).remove(name)
		return s.tr.Do(s.removeStep(&Volume{Name: name, Mountpoint: filepath.Join(s.path(name), "_data")}), nil)
	}
	v, unlock, err := s.lockedGet(name)
	if err != nil {
		return err
	}
	defer unlock()
	if users := inUse(name); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use by container %s", name, strings.Join(users, ", "))
	}
	if v.Driver != "local" && v.Driver != "" {
		return s.removePlugin(v)
	}
	return s.tr.Do(s.removeStep(v), nil)
}

// removeStep unmounts the volume if mounted, then deletes it.
func (s *Store) removeStep(v *Volume) explain.Step {
	name := v.Name
	return explain.Step{
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
	}
}

// Prune removes every volume no container uses that f selects; with all
// false, only the anonymous ones (Docker's default since 23.0). It returns
// their names and the bytes their data held.
func (s *Store) Prune(all bool, inUse func(string) []string, f prunefilter.Filter) ([]string, uint64, error) {
	vols, err := s.List()
	if err != nil {
		return nil, 0, err
	}
	var gone []string
	var freed uint64
	for _, v := range vols {
		if (!all && !v.Anonymous) || len(inUse(v.Name)) > 0 || !f.Match(v.Labels, v.CreatedAt) {
			continue
		}
		size := dataSize(v.Mountpoint)
		if err := s.Remove(v.Name, inUse); err != nil {
			return gone, freed, err
		}
		gone = append(gone, v.Name)
		freed += size
	}
	return gone, freed, nil
}

// dataSize is the apparent size of the files below dir; 0 when it cannot
// be read.
func dataSize(dir string) uint64 {
	var n uint64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}

// Acquire is called when container id starts using the volume: the first
// live user mounts the driver's options (type, o, device) over the
// volume's directory. Volumes without options need nothing.
//
// The calling process is recorded as the hold's owner until the container
// itself can be seen alive (its runtime state, its shim): between prepare
// and create nothing else says that the container exists.
func (s *Store) Acquire(name, id string) error {
	return s.users(name, func(h holders) { h[id] = self() })
}

// Release is called when container id stops using the volume; when no
// live user is left, the volume is unmounted. Releasing twice is harmless.
func (s *Store) Release(name, id string) error {
	return s.users(name, func(h holders) { delete(h, id) })
}

// Reconcile drops the holds of dead containers and unmounts the volume
// when no live user is left: what a user that died without Release (a
// SIGKILLed shim) would have done. ps, rm and start call it when they find
// a container dead.
func (s *Store) Reconcile(name string) error {
	return s.users(name, func(holders) {})
}

// holder is the process that took a hold for a container: its pid and its
// start time (field 22 of /proc/PID/stat), so a reused pid is not taken
// for it.
type holder struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// holders are the containers that use a volume, by id.
type holders map[string]holder

func self() holder {
	pid := os.Getpid()
	start, _ := startTime(pid)
	return holder{Pid: pid, Start: start}
}

// startTime reads a process's start time in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22 (proc(5))
}

// alive reports whether the hold of container id still stands: its owner
// process runs, or the container does (Store.Alive).
func (s *Store) alive(id string, h holder) bool {
	if s.Alive != nil && s.Alive(id) {
		return true
	}
	if h.Pid <= 0 {
		return false
	}
	st, err := startTime(h.Pid)
	return err == nil && st == h.Start
}

// users changes the holds of a volume with edit, under the store's lock,
// then makes the mount agree with what is alive: mounted while a live
// container uses the volume, unmounted when none does.
//
// NOTE: the holds used to be a counter that only the container's shim
// decremented: a SIGKILLed shim left the volume mounted until `volume rm`
// (issue #13). Now each hold names its container, a hold whose container
// and owner are both dead is dropped by whoever looks next, and the mount
// state is read from the kernel, not inferred from the count.
func (s *Store) users(name string, edit func(holders)) error {
	if s.tr.DryRun() {
		return s.dryUsers(name, edit)
	}
	v, unlock, err := s.lockedGet(name)
	if err != nil {
		return err
	}
	defer unlock()
	plugin := v.Driver != "local" && v.Driver != ""
	if v.Options["type"] == "" && !plugin {
		return nil
	}
	path := filepath.Join(s.path(name), "users.json")
	h := holders{}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &h)
	}
	old := holders{}
	for id, who := range h {
		old[id] = who
	}
	edit(h)
	for id, who := range h {
		if !s.alive(id, who) {
			delete(h, id)
		}
	}
	mounted, err := isMountPoint(v.Mountpoint)
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	if plugin {
		err := s.pluginUsers(v, old, h, mounted)
		// What the plugin agreed to is recorded even on error: a mount ID
		// it refused is not in h, one it holds is.
		return errors.Join(err, writeJSON(path, h))
	}
	switch {
	case len(h) > 0 && !mounted:
		if err := s.mount(v); err != nil {
			return err
		}
	case len(h) == 0 && mounted:
		if err := s.unmount(v); err != nil {
			return err
		}
	}
	os.Remove(filepath.Join(s.path(name), "users")) // the old counter
	return writeJSON(path, h)
}

// mount mounts the driver's options over the volume's directory.
func (s *Store) mount(v *Volume) error {
	o := v.Options
	data := o["o"]
	device := o["device"]
	if device == "" {
		device = o["type"]
	}
	// NFS's addr= option must be an address: mount(2) does no DNS, so a
	// name is resolved here, as Docker does; and the server must answer
	// before mount(2), which would wait minutes for a dead one (nfs.go).
	nfs := isNFS(o["type"]) && !s.tr.DryRun()
	if nfs {
		var err error
		if data, err = nfsResolve(data, nfsLookup); err != nil {
			return fmt.Errorf("mount volume %s: %w", v.Name, err)
		}
	}
	return s.tr.Do(explain.Step{
		ID: "volumes-mount", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Monta o volume " + v.Name + " (" + o["type"] + ")", EN: "Mount volume " + v.Name + " (" + o["type"] + ")"},
		Why: explain.Text{PT: "O driver local passa type, o e device ao mount, como o Docker; o primeiro contêiner monta.",
			EN: "The local driver hands type, o and device to mount, as Docker does; the first container mounts."},
		Shell: fmt.Sprintf("mount -t %s -o %s %s %s", o["type"], data, device, v.Mountpoint),
		Do: func() error {
			if nfs {
				if err := nfsReachable(v.Name, o["type"], data, NFSDialTimeout); err != nil {
					return err
				}
			}
			if err := unix.Mount(device, v.Mountpoint, o["type"], 0, data); err != nil {
				return fmt.Errorf("mount volume %s (%s %s): %w", v.Name, o["type"], device, err)
			}
			return nil
		},
		EvidenceText: func() explain.Text { return mountLines(v.Mountpoint) },
	}, nil)
}

// unmount unmounts the volume when its last live user is gone.
func (s *Store) unmount(v *Volume) error {
	return s.tr.Do(explain.Step{
		ID: "volumes-unmount", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Desmonta o volume " + v.Name, EN: "Unmount volume " + v.Name},
		Why: explain.Text{PT: "Nenhum contêiner vivo usa mais o volume: o último que parou (ou quem o achou morto) desmonta.",
			EN: "No live container uses the volume any more: the last one to stop (or whoever finds it dead) unmounts."},
		Shell:        "umount " + v.Mountpoint,
		Do:           func() error { return unmountIfMounted(v.Mountpoint) },
		EvidenceText: func() explain.Text { return mountLines(v.Mountpoint) },
	}, nil)
}

// mountLines is the evidence of a volume's mount and unmount: the lines of
// this process's /proc/self/mountinfo (proc(5)) whose mount point is the
// volume's directory, as "mount point, type, source, options", or, when
// there is none, that nothing is mounted there. Only the volume's lines:
// the whole table runs to hundreds on a host with containers.
//
// NOTE: /proc/thread-self, not /proc/self: /proc/self/mountinfo is the
// mount namespace of the process's first thread. cmd/minirun keeps its
// main goroutine there so that no goroutine can leave that thread in a
// private namespace (runtime/selfexe.go roBind), but a library caller may
// not: this thread, locked while it opens the file, is one the unmount
// could have run on.
func mountLines(dir string) explain.Text {
	runtime.LockOSThread()
	f, err := os.Open("/proc/thread-self/mountinfo")
	runtime.UnlockOSThread()
	if err != nil {
		return explain.Text{PT: err.Error(), EN: err.Error()}
	}
	defer f.Close()
	lines := mountinfoLines(f, dir)
	shell := "grep ' " + dir + " ' /proc/self/mountinfo"
	if len(lines) == 0 {
		return explain.Text{PT: shell + " → nada montado ali", EN: shell + " → nothing mounted there"}
	}
	out := shell + " →\n" + strings.Join(lines, "\n")
	return explain.Text{PT: out, EN: out}
}

// mountinfoLines returns, from a mountinfo table, the lines whose mount
// point (field 5) is dir, each shortened to its mount point, filesystem
// type, source and mount options.
func mountinfoLines(r io.Reader, dir string) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent maj:min root mountpoint options [optional…] - type source superopts
		f := strings.Fields(sc.Text())
		if len(f) < 10 || mountinfo.Unescape(f[4]) != dir {
			continue
		}
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+2 < len(f) {
			out = append(out, fmt.Sprintf("  %s %s %s %s", f[4], f[sep+1], f[sep+2], f[5]))
		}
	}
	return out
}

// isMountPoint reports whether path is a mount point: its mount id
// (statx(2) STATX_MNT_ID) differs from its parent's.
func isMountPoint(path string) (bool, error) {
	var st, pst unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("statx %s: %w", path, err)
	}
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(path), 0, unix.STATX_MNT_ID, &pst); err != nil {
		return false, fmt.Errorf("statx %s: %w", filepath.Dir(path), err)
	}
	return st.Mnt_id != pst.Mnt_id, nil
}

// unmountIfMounted unmounts path when something is mounted there.
func unmountIfMounted(path string) error {
	err := unix.Unmount(path, unix.UMOUNT_NOFOLLOW)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}

// dryUsers is users under a dry-run tracer: the holds are counted in
// memory, on the volume this dry run described (or on the volume's record,
// when the data root is readable), and the mount and unmount are only
// described, at the moments a run would make them.
func (s *Store) dryUsers(name string, edit func(holders)) error {
	v, err := s.get(name)
	if err != nil {
		return err
	}
	if v.Options["type"] == "" {
		return nil
	}
	d := described(s.tr)
	d.mu.Lock()
	h := d.holds[name]
	if h == nil {
		h = holders{}
		d.holds[name] = h
	}
	before := len(h)
	edit(h)
	after := len(h)
	d.mu.Unlock()
	switch {
	case before == 0 && after > 0:
		return s.mount(v)
	case before > 0 && after == 0:
		return s.unmount(v)
	}
	return nil
}

// dryVolumes are the volumes one dry run described creating, with the
// holds its containers took: what a later step of the same dry run (the
// container's mounts, its end, `volume rm`) would find on disk.
type dryVolumes struct {
	mu    sync.Mutex
	vols  map[string]*Volume
	holds map[string]holders
}

var (
	dryMu  sync.Mutex
	dryRun = map[*explain.Tracer]*dryVolumes{}
)

// described returns the volumes tr's dry run described; every Store
// opened with the same tracer shares them.
func described(tr *explain.Tracer) *dryVolumes {
	dryMu.Lock()
	defer dryMu.Unlock()
	d := dryRun[tr]
	if d == nil {
		d = &dryVolumes{vols: map[string]*Volume{}, holds: map[string]holders{}}
		dryRun[tr] = d
	}
	return d
}

func (d *dryVolumes) add(v *Volume) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.vols[v.Name] = v
}

func (d *dryVolumes) get(name string) *Volume {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vols[name]
}

func (d *dryVolumes) remove(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.vols, name)
	delete(d.holds, name)
}
