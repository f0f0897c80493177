package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/crashpoint"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	"github.com/minirun/minirun/vfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNotFound means no container has that name or id.
var ErrNotFound = errors.New("no such container")

// Manager keeps the containers of one data root.
type Manager struct {
	DataRoot  string // /var/lib/minirun
	StateRoot string // /run/minirun
	Images    *image.Store
	// StorageDriver is overlay2 (the default) or vfs; with overlay2, a
	// machine where overlayfs cannot mount falls back to vfs.
	StorageDriver string
}

// Open returns the manager for dataRoot (images and containers' layers)
// and stateRoot (the runtime's state of live containers).
func Open(dataRoot, stateRoot string) (*Manager, error) {
	if err := secureDataRoot(dataRoot, nil); err != nil {
		return nil, err
	}
	st, err := image.Open(dataRoot)
	if err != nil {
		return nil, err
	}
	return &Manager{DataRoot: dataRoot, StateRoot: stateRoot, Images: st}, nil
}

func (m *Manager) dir(id string) string { return filepath.Join(m.DataRoot, "containers", id) }

// dataRootMode is the mode of the data root, of containers/ and of each
// container's directory: the owner (root) does everything, the group may
// only pass through, others may not even do that.
//
// NOTE: CVE-2021-41091. A container's upper dir holds whatever the
// container wrote, setuid-root programs included, and its path is in the
// world-readable /proc/self/mountinfo. With these directories open to
// others (0711), any user of the host could run such a program through
// diff/ or merged/ and become root. Docker's fix (moby 20.10.9) made them
// 0710 (0700 under the data root), group-owned by root, or by the remapped
// root's gid with --userns-remap (see allowRemappedRoot): the group's x is
// the only way in.
const dataRootMode = 0o710

// secureDataRoot creates the data root and containers/ with dataRootMode,
// and closes an existing one that is too open (a data root made by an
// older minirun, 0711), as dockerd does at start-up. The group is kept: it
// may be a remapped root's. Nothing is traced when nothing changes, so
// every command pays only two lstat calls.
func secureDataRoot(dataRoot string, tr *explain.Tracer) error {
	dirs := []string{dataRoot, filepath.Join(dataRoot, "containers")}
	var create, tighten []string
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			create = append(create, d)
		case err != nil:
			return fmt.Errorf("data root %s: %w", d, err)
		case !fi.IsDir():
			return fmt.Errorf("data root %s: not a directory", d)
		case fi.Mode().Perm()&0o067 != 0:
			tighten = append(tighten, d)
		}
	}
	if len(create)+len(tighten) == 0 {
		return nil
	}
	return tr.Do(explain.Step{
		ID: "security-data-root", Chapter: explain.ChapterSecurity,
		Title: explain.Text{PT: "Fecha o diretório de dados para os outros usuários do host", EN: "Close the data root to the host's other users"},
		Why: explain.Text{PT: "CVE-2021-41091: pelo diff/ de um contêiner, qualquer usuário do host rodava um programa setuid-root criado lá dentro.",
			EN: "CVE-2021-41091: through a container's diff/, any host user could run a setuid-root program made inside it."},
		Shell: "mkdir -p " + dirs[1] + "; chmod 0710 " + strings.Join(dirs, " "),
		Do: func() error {
			if err := os.MkdirAll(filepath.Dir(dataRoot), 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Dir(dataRoot), err)
			}
			for _, d := range create {
				if err := os.Mkdir(d, dataRootMode); err != nil && !errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("create %s: %w", d, err)
				}
			}
			// chmod after mkdir: the umask may have taken bits away, and a
			// directory made meanwhile by another command gets it too.
			for _, d := range append(create, tighten...) {
				if err := os.Chmod(d, dataRootMode); err != nil {
					return fmt.Errorf("chmod %s: %w", d, err)
				}
			}
			return nil
		},
		Evidence: func() string { return "ls -ld " + dataRoot + ": drwx--x---" },
	}, nil)
}

// lock serialises changes to the set of containers (names must stay unique
// when two `minirun run` race), with flock(2) on a file of the data root.
func (m *Manager) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(m.DataRoot, "containers.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock containers: %w", err)
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// List returns every container, newest first.
func (m *Manager) List() ([]*Meta, error) {
	out, err := m.records()
	if err != nil {
		return nil, err
	}
	for _, meta := range out {
		m.refresh(meta)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// records reads every container's meta.json, as recorded: not refreshed.
// Entries whose name starts with a dot are not containers: .new-<id> is
// one being made (reserve), .rm-<id>-<pid> one being removed (remove).
// A container directory with no readable meta.json (left by an older
// minirun, or damaged) is still listed, as "dead", so that ps -a shows it
// and rm removes it (Docker's "Dead" state: a container it could not
// finish removing).
func (m *Manager) records() ([]*Meta, error) {
	ents, err := os.ReadDir(filepath.Join(m.DataRoot, "containers"))
	if err != nil {
		return nil, err
	}
	var out []*Meta
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		meta, err := loadMeta(m.dir(e.Name()))
		if err != nil {
			if meta = m.deadRecord(e.Name()); meta == nil {
				continue
			}
		}
		out = append(out, meta)
	}
	return out, nil
}

// deadRecord stands for a container directory that has no meta.json to
// read: its id and where its rootfs would be mounted, so rm can unmount
// and remove it. Its name is lost with its meta.json.
func (m *Manager) deadRecord(id string) *Meta {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return nil // not a directory minirun made
	}
	fi, err := os.Stat(m.dir(id))
	if err != nil {
		return nil
	}
	return &Meta{ID: id, Created: fi.ModTime().UTC(), State: State{Status: "dead"},
		GraphDriver: GraphDriver{Name: "overlay2", Data: map[string]string{"MergedDir": filepath.Join(m.dir(id), "merged")}}}
}

// byID reads one container's record, refreshed: what polling loops use,
// so that waiting on one container does not read all of them.
func (m *Manager) byID(id string) (*Meta, error) {
	meta, err := loadMeta(m.dir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	m.refresh(meta)
	return meta, nil
}

// names returns the name of every container, and their ids. Exited
// containers keep their names, as in Docker, so no record needs
// refreshing: `run` does not slow down as containers pile up. A removed
// container's record is gone, and its name free again.
func (m *Manager) names() (map[string]bool, []string, error) {
	all, err := m.records()
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]bool, len(all))
	ids := make([]string, 0, len(all))
	for _, c := range all {
		out[c.Name] = true
		ids = append(ids, c.ID)
	}
	return out, ids, nil
}

// shortIDLen is the length of the ids `ps` shows, the ones people copy.
const shortIDLen = 12

// shadowsID reports whether a name given with --name would hide another
// container's id from people: a name is resolved before an id prefix
// (Get), so `rm -f 1a2b3c4d5e6f`, copied from ps, would remove the new
// container instead. Names shorter than a short id stay allowed, as in
// Docker: "cafe" may start some id by chance.
func shadowsID(name string, ids []string) (string, bool) {
	if len(name) < shortIDLen {
		return "", false
	}
	for _, id := range ids {
		if strings.HasPrefix(id, name) {
			return id, true
		}
	}
	return "", false
}

// refresh corrects a "running" record whose process is gone (the CLI that
// ran it was killed): the runtime's view, checked against the kernel, wins.
func (m *Manager) refresh(meta *Meta) {
	if meta.State.Status != "running" {
		return
	}
	st, err := runtime.StatusOf(m.StateRoot, meta.ID)
	if err == nil {
		switch st {
		case runtime.Running:
			return
		case runtime.Paused:
			meta.State.Paused = true
			return
		}
	}
	// The init is gone but its shim still answers: it is recording the
	// exit right now (exit code, OOM), and what it records is the truth.
	// Concluding here would report 137 for a container that exited 7, in
	// the moment between the init's exit and the shim's save; Docker too
	// shows a container running until its daemon has handled the exit.
	if shimAlive(m.Socket(meta.ID)) {
		return
	}
	// ORDER: meta was read before the runtime and the shim were asked,
	// and in between the shim may have recorded the exit, finished and
	// gone (a --rm container's shim removes the record too). Read the
	// record again before concluding the shim died: under load (20 docker
	// clients at once, bench/daemon-load.sh) a waiter's stale "running"
	// turned `docker run --rm busybox true` into exit 137 in ~2% of runs.
	fresh, err := loadMeta(m.dir(meta.ID))
	if err != nil {
		return // removed meanwhile: the next read says so
	}
	if fresh.State.Status != "running" {
		*meta = *fresh
		return
	}
	meta.State.Status, meta.State.Running, meta.State.Pid = "exited", false, 0
	// Its shim died too (SIGKILL, OOM) and could not release the volumes
	// it mounted: whoever sees it dead drops its holds.
	m.reconcileVolumes(meta)
	if meta.State.ExitCode == 0 {
		meta.State.ExitCode = 137
	}
	if meta.State.FinishedAt.IsZero() || meta.State.FinishedAt.Before(meta.State.StartedAt) {
		meta.State.FinishedAt = time.Now().UTC() // its shim died before it could say
	}
}

// Get finds a container by full id, else by exact name, else by a unique
// id prefix: Docker's order (daemon/container.go GetContainer), so a name
// can never shadow another container's id, whatever order the records
// are read in. Only the container found has its record refreshed against
// the kernel.
func (m *Manager) Get(ref string) (*Meta, error) {
	if len(ref) == 64 {
		// A full id names its directory: no need to read every record.
		if meta, err := m.byID(ref); err == nil {
			return meta, nil
		}
	}
	all, err := m.records()
	if err != nil {
		return nil, err
	}
	var byName, byPrefix []*Meta
	for _, c := range all {
		switch {
		case c.ID == ref:
			m.refresh(c)
			return c, nil
		case c.Name == ref:
			byName = append(byName, c)
		case len(ref) >= 3 && strings.HasPrefix(c.ID, ref):
			byPrefix = append(byPrefix, c)
		}
	}
	found := byName
	if len(found) == 0 {
		found = byPrefix
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	case 1:
		m.refresh(found[0])
		return found[0], nil
	}
	if len(byName) > 0 {
		return nil, fmt.Errorf("container name %q is held by %d containers", ref, len(byName))
	}
	return nil, fmt.Errorf("container id prefix %q is ambiguous: it starts %d container ids", ref, len(byPrefix))
}

// InUse reports whether any container uses the image: such an image may
// not be removed, as its layers are the container's lowerdirs.
func (m *Manager) InUse(imageID string) bool {
	all, _ := m.List()
	for _, c := range all {
		if c.Image == imageID {
			return true
		}
	}
	return false
}

// IO is where an attached container's stdio goes.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// Run creates and starts a container from an image, attached: it returns
// when the container exits, with its exit code. This is what dockerd +
// containerd + runc do together for `docker run`.
// prepare does what dockerd and containerd do before runc: check the
// image and the command, claim the name, mount the overlay rootfs and write
// the OCI bundle. Each step's undo goes on undo.
func (m *Manager) prepare(o RunOpts, tr *explain.Tracer, undo *cleanup.Stack) (*Meta, *specs.Spec, error) {
	if o.Name != "" {
		if err := ValidateName(o.Name); err != nil {
			return nil, nil, err
		}
	}
	// Docker's check, before anything is made: the OCI spec wants
	// process.cwd absolute (config.md "cwd"), and a relative one only
	// failed later, inside the shim.
	if o.Workdir != "" && !path.IsAbs(o.Workdir) {
		return nil, nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", o.Workdir)
	}
	img, err := m.Images.Get(o.Image)
	if errors.Is(err, image.ErrNotFound) && o.Pull != nil {
		// Docker's "Unable to find image locally", then a pull.
		fmt.Fprintf(o.Pull, "Unable to find image '%s' locally\n", o.Image)
		img, err = m.Images.Pull(o.Image, image.PullOptions{Progress: o.Pull, Tracer: tr})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("unable to find image %q: %w", o.Image, err)
	}
	// Validate the command before anything touches the host.
	if _, _, _, err := command(img.Config.Config, o); err != nil {
		return nil, nil, err
	}
	layers, err := m.Images.LayerDirs(img)
	if err != nil {
		return nil, nil, err
	}
	if o.PublishAll {
		exposed := append([]string{}, o.Expose...)
		for p := range img.Config.Config.ExposedPorts {
			exposed = append(exposed, p)
		}
		ports, err := network.PublishAll(exposed)
		if err != nil {
			return nil, nil, err
		}
		o.Net.Ports = append(o.Net.Ports, ports...)
	}
	meta, err := m.reserve(o, img, undo)
	if err != nil {
		return nil, nil, err
	}
	crashpoint.At("run-after-reserve")
	// Whoever reserves the address later (the shim, or Run) may fail to
	// create the container: whatever was reserved for it goes back.
	undo.Add("detach networks", func() error { return m.detachNetworks(meta.ID) })
	dir := m.dir(meta.ID)
	if o.UsernsRemap != "" {
		uid, err := lookupSubID("uid", o.UsernsRemap)
		if err != nil {
			return nil, nil, err
		}
		gid, err := lookupSubID("gid", o.UsernsRemap)
		if err != nil {
			return nil, nil, err
		}
		meta.HostConfig.UsernsRemap = &Remap{User: o.UsernsRemap, UID: uid, GID: gid}
		if err := m.allowRemappedRoot(meta.ID, gid, tr); err != nil {
			return nil, nil, err
		}
	}
	rootfs, err := m.mountRootfs(meta, layers, tr, undo)
	if err != nil {
		return nil, nil, err
	}
	crashpoint.At("run-after-rootfs")
	spec, err := buildSpec(img.Config.Config, o, meta.ID, rootfs)
	if err != nil {
		return nil, nil, err
	}
	if err := writeEtcPlaceholders(dir); err != nil {
		return nil, nil, err
	}
	networkSpec(spec, dir, meta.HostConfig.Network)
	if r := meta.HostConfig.UsernsRemap; r != nil {
		remapSpec(spec, r.UID, r.GID)
	}
	cwd, _ := os.Getwd()
	mps, err := parseMounts(o, img.Config.Config.Volumes, cwd, m.Get)
	if err != nil {
		return nil, nil, err
	}
	mps, mounts, err := m.prepareMounts(mps, rootfs, meta.HostConfig.UsernsRemap, tr)
	if err != nil {
		return nil, nil, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	meta.Mounts = mps
	if err := m.acquireVolumes(meta, tr); err != nil {
		return nil, nil, err
	}
	undo.Add("release volumes", func() error { return m.releaseVolumes(meta, tr) })
	if err := fillVolumes(mps, rootfs, tr); err != nil {
		return nil, nil, err
	}
	meta.Path, meta.Args = spec.Process.Args[0], spec.Process.Args[1:]
	meta.Config.Env, meta.Config.User, meta.Config.WorkingDir = spec.Process.Env, o.User, spec.Process.Cwd
	meta.Config.Hostname = spec.Hostname
	if err := writeBundle(dir, spec); err != nil {
		return nil, nil, err
	}
	if err := meta.save(dir); err != nil {
		return nil, nil, err
	}
	crashpoint.At("run-after-bundle")
	return meta, spec, nil
}

func (m *Manager) Run(o RunOpts, stdio IO, tr *explain.Tracer) (code int, retErr error) {
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = fullDisk(m.DataRoot, errors.Join(retErr, undo.Run()))
		}
	}()
	meta, spec, err := m.prepare(o, tr, &undo)
	if err != nil {
		return -1, err
	}
	dir := m.dir(meta.ID)
	ep, release, err := m.reserveNetwork(meta, tr)
	if err != nil {
		return -1, err
	}
	undo.Add("release network", release)
	ctr, err := runtime.Create(runtime.CreateOpts{
		Root: m.StateRoot, ID: meta.ID, Bundle: dir, Spec: spec,
		Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr, Tracer: tr,
	})
	if err != nil {
		return -1, err
	}
	undo.Add("delete runtime state", func() error { return ctr.Delete(true, nil) })
	if err := m.attachNetwork(ep, ctr.Pid(), tr); err != nil {
		return -1, err
	}
	var console *ConsoleCopier
	if ctr.Console != nil {
		console, err = AttachConsole(ctr.Console, stdio)
		if err != nil {
			return -1, err
		}
	}
	meta.State = State{Status: "running", Running: true, Pid: ctr.Pid(), StartedAt: time.Now().UTC()}
	if err := meta.save(dir); err != nil {
		return -1, err
	}
	stopSignals := forwardSignals(ctr)
	if err := ctr.Start(tr); err != nil {
		stopSignals()
		return -1, err
	}
	undo.Release() // from here on the container exists; exit is recorded below
	code, werr := ctr.Wait()
	stopSignals()
	if console != nil {
		console.Close()
	}
	// Other commands (update, rename) may have changed the record while
	// the container ran: start from what is on disk.
	startedAt := meta.State.StartedAt
	if fresh, err := loadMeta(dir); err == nil {
		meta = fresh
	}
	meta.State = State{Status: "exited", ExitCode: code, StartedAt: startedAt, FinishedAt: time.Now().UTC(),
		OOMKilled: ctr.OOMKilled()}
	if werr != nil {
		meta.State.Error = werr.Error()
	}
	if err := m.stop(meta, ctr); err != nil {
		return code, err
	}
	if err := m.releaseVolumes(meta, tr); err != nil {
		return code, err
	}
	if o.Remove {
		if err := m.removeDir(meta); err != nil {
			return code, err
		}
		return code, m.removeAnonymousVolumesTraced(meta, tr)
	}
	return code, nil
}

// reserve picks the id and name, and claims them by creating the
// container's directory while holding the lock.
func (m *Manager) reserve(o RunOpts, img *image.Image, undo *cleanup.Stack) (*Meta, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	names, ids, err := m.names()
	if err != nil {
		return nil, err
	}
	name := o.Name
	taken := func(n string) bool { return names[n] }
	if name != "" && taken(name) {
		return nil, fmt.Errorf("the container name %q is already in use: remove it or choose another name", name)
	}
	if id, ok := shadowsID(name, ids); ok {
		return nil, fmt.Errorf("the container name %q is the start of container %s's id: choose another name", name, id[:shortIDLen])
	}
	// What a killed reserve or rm left is cleared under the same lock; a
	// failure there is no reason not to make a new container.
	m.sweep()
	// The directory is made under a hidden name and renamed into place
	// with its meta.json (and state record) inside: containers/<id> never
	// exists without its record, whatever kills this process when.
	id := o.id
	if id == "" {
		id = newID()
	}
	if name == "" {
		if name, err = generateName(id, taken); err != nil {
			return nil, err
		}
	}
	dir, tmp := m.dir(id), filepath.Join(m.DataRoot, "containers", ".new-"+id)
	if err := os.Mkdir(tmp, dataRootMode); err != nil {
		return nil, fmt.Errorf("create container dir: %w", err)
	}
	crashpoint.At("reserve-after-mkdir")
	meta := &Meta{
		ID: id, Name: name, Created: time.Now().UTC(), Image: img.ID, ImageRef: o.Image,
		Config: Config{Tty: o.TTY, OpenStdin: o.Interactive, Image: o.Image, Cmd: img.Config.Config.Cmd, Entrypoint: img.Config.Config.Entrypoint, Labels: o.Labels},
		State:  State{Status: "created"},
		GraphDriver: GraphDriver{Name: "overlay2", Data: map[string]string{
			"LowerDir":  "",
			"UpperDir":  filepath.Join(dir, "diff"),
			"WorkDir":   filepath.Join(dir, "work"),
			"MergedDir": filepath.Join(dir, "merged"),
		}},
		HostConfig: HostConfig{AutoRemove: o.Remove, Resources: o.Resources, RestartPolicy: o.Restart, Network: o.Net},
		LogPath:    filepath.Join(dir, id+"-json.log"),
	}
	if layers, err := m.Images.LayerDirs(img); err == nil {
		meta.GraphDriver.Data["LowerDir"] = strings.Join(layers, ":")
	}
	if err := meta.save(tmp); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create container: %w", err)
	}
	// RENAME_NOREPLACE (rename(2)): never onto an existing directory.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create container dir %s: %w", dir, err)
	}
	undo.Add("remove container dir", func() error { return m.discard(id) })
	return meta, nil
}

// fullDisk names the full data root in an error caused by ENOSPC, so the
// one line a user reads says what to free.
func fullDisk(root string, err error) error {
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("the data root %s is full: %w", root, err)
	}
	return err
}

// sweep finishes what a killed process left hidden in containers/: the
// .new-<id> of a reserve (the caller holds the lock, so no reserve is
// under way) and the .rm-<id>-<pid> of a remover whose pid is gone. Such
// a tombstone is a container half removed: its runtime state, cgroups,
// overlay mount, network endpoints and volume holds may all still be
// there, so it gets the whole teardown, not just its files removed.
func (m *Manager) sweep() error {
	base := filepath.Join(m.DataRoot, "containers")
	ents, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".new-"):
			os.RemoveAll(filepath.Join(base, name))
		case strings.HasPrefix(name, ".rm-"):
			id, pid, ok := parseTombstone(name)
			if !ok {
				continue // not a name minirun made
			}
			if pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH { //minirun:nostep signal 0 only asks whether the remover lives (kill(2)); nothing is sent
				continue // its remover is still at work
			}
			tomb := filepath.Join(base, name)
			meta, err := loadMeta(tomb)
			if err != nil {
				meta = &Meta{ID: id} // the id is in the name
			}
			if err := m.teardown(tomb, meta, false); err != nil {
				errs = append(errs, fmt.Errorf("finish removing %s: %w", id[:shortIDLen], err))
			}
		}
	}
	return errors.Join(errs...)
}

// parseTombstone splits .rm-<id>-<pid> (see tombstone).
func parseTombstone(name string) (id string, pid int, ok bool) {
	rest := strings.TrimPrefix(name, ".rm-")
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", 0, false
	}
	id = rest[:i]
	pid, err := strconv.Atoi(rest[i+1:])
	if err != nil || pid <= 0 || len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", 0, false
	}
	return id, pid, true
}

// Sweep is sweep under the lock, for the commands a user runs to clean up
// (rm, ps): a remover killed half way leaves nothing once they ran.
func (m *Manager) Sweep() error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return m.sweep()
}

// stop tears down what a running container needed and an exited one does
// not: the runtime's state and the overlay mount. The upper dir stays, so
// `docker diff`/`start` semantics keep the container's files.
func (m *Manager) stop(meta *Meta, ctr *runtime.Container) error {
	var errs []error
	if err := m.detachNetworks(meta.ID); err != nil {
		errs = append(errs, err)
	}
	if ctr != nil {
		if err := ctr.Delete(true, nil); err != nil {
			errs = append(errs, err)
		}
	} else if c, err := runtime.Load(m.StateRoot, meta.ID); err == nil {
		if err := c.Delete(true, nil); err != nil {
			errs = append(errs, err)
		}
	}
	// stop has no tracer: the unmount step runs silently.
	if err := (*explain.Tracer)(nil).Do(overlay.UnmountStep(meta.Rootfs()), nil); err != nil {
		errs = append(errs, err)
	}
	// `rm -f` from another terminal may have removed the container while
	// its `run` was still attached: then there is nothing left to record.
	if _, err := os.Stat(m.dir(meta.ID)); err == nil {
		if err := meta.save(m.dir(meta.ID)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Remove deletes a container; a running one only with force (SIGKILL
// first), like `docker rm -f`. Its volumes stay.
func (m *Manager) Remove(ref string, force bool) error {
	return m.RemoveWithVolumes(ref, force, false)
}

// RemoveWithVolumes is `docker rm [-f] [-v]`: with volumes, the
// container's anonymous volumes go too (named ones always stay).
func (m *Manager) RemoveWithVolumes(ref string, force, volumes bool) error {
	// A remover killed before this one left a tombstone: finish it first,
	// so that this rm (which may then answer "no such container") is the
	// last cleanup a user needs.
	if err := m.Sweep(); err != nil {
		fmt.Fprintf(os.Stderr, "minirun: warning: %v\n", err)
	}
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	if st := meta.State.Status; st == "running" || st == "restarting" {
		if !force {
			return fmt.Errorf("cannot remove container %s: it is running; stop it first or use rm -f", meta.Name)
		}
		// Kill it and let its shim record the end, so the two never
		// tear the same container down at once. Nothing is written on
		// the way (the stop mark lives in the shim): a container that
		// filled the disk must still be removable.
		_, c, rerr := m.Runtime(meta.ID)
		if rerr == nil && meta.State.Paused {
			c.Resume(nil) // a frozen init handles SIGKILL only once thawed (v1)
		}
		if ok, _ := m.stopViaShim(meta, 0, true); !ok && rerr == nil {
			if err := c.Signal(unix.SIGKILL, nil); err == nil {
				m.Wait(meta.ID, shimWait)
			}
		}
		if meta, err = m.byID(meta.ID); errors.Is(err, ErrNotFound) {
			return nil // it was run with --rm, or another rm won: it is gone
		} else if err != nil {
			return err
		}
	}
	return m.remove(ref, meta, volumes)
}

// remove tears a stopped container down. Nothing is written on the way:
// a container that filled the disk must still be removable.
//
// Several `rm` may race for one container. The first step decides: the
// container's directory is renamed to a tombstone (.rm-<id>-<pid>), and
// rename(2) is atomic, so exactly one remover wins; the others find no
// directory and answer "no such container", as if they came after. From
// then on no other command sees the container, and only the winner tears
// down its network, runtime state, mount and files.
func (m *Manager) remove(ref string, meta *Meta, volumes bool) error {
	tomb := m.tombstone(meta.ID)
	if err := os.Rename(m.dir(meta.ID), tomb); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		return fmt.Errorf("remove container %s: %w", ref, err)
	}
	crashpoint.At("rm-after-tombstone")
	return m.teardown(tomb, meta, volumes)
}

// teardown removes everything of a container whose directory is already
// the tombstone tomb, in an order that works on a full disk: nothing is
// written before the container's own files are gone. First the runtime
// (force: kill the init, or the shim still creating it, then its cgroups
// and state dir, none on the data root), then the rootfs is unmounted and
// every file but meta.json deleted, which frees what the container wrote.
// Only then the steps that write on the data root: detaching its networks
// (network.json) and releasing its volumes. meta.json goes last, so a
// remover killed on the way leaves a tombstone sweep can finish.
func (m *Manager) teardown(tomb string, meta *Meta, volumes bool) error {
	var errs []error
	if err := runtime.DeleteByID(m.StateRoot, meta.ID, true, nil); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		errs = append(errs, err)
	}
	// A create still at work when the directory was renamed away (its
	// init makes mount points in the rootfs by path) may have made
	// directories at the old path before DeleteByID killed it. Nothing
	// minirun makes there lacks meta.json (reserve renames it into place
	// with it), and nothing can write there any more.
	if _, err := os.Lstat(m.dir(meta.ID)); err == nil {
		if _, err := os.Lstat(filepath.Join(m.dir(meta.ID), metaFile)); errors.Is(err, fs.ErrNotExist) {
			if err := removeContainerDir(m.dir(meta.ID)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// A shim killed with SIGKILL could not remove its socket.
	os.Remove(m.Socket(meta.ID))
	if err := emptyContainerDir(tomb); err != nil {
		// Files may still be mounted: removing the rest is not safe.
		return errors.Join(append(errs, err)...)
	}
	if err := m.detachNetworks(meta.ID); err != nil {
		errs = append(errs, err)
	}
	// Its shim releases the volumes when the container ends; a shim that
	// was killed could not (releasing twice is harmless).
	if err := m.releaseVolumes(meta, nil); err != nil {
		errs = append(errs, err)
	}
	if volumes {
		if err := m.removeAnonymousVolumes(meta); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // the tombstone stays, with meta.json, for the next sweep
	}
	if err := os.RemoveAll(tomb); err != nil {
		return fmt.Errorf("remove %s: %w", tomb, err)
	}
	return nil
}

// emptyContainerDir unmounts a container's rootfs and removes every file
// of its directory but meta.json.
func emptyContainerDir(dir string) error {
	if err := unmountContainerDir(dir); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == metaFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove %s: %w", filepath.Join(dir, e.Name()), err)
		}
	}
	return nil
}

func (m *Manager) removeDir(meta *Meta) error {
	// A shim killed with SIGKILL could not remove its socket.
	os.Remove(m.Socket(meta.ID))
	return m.discard(meta.ID)
}

// tombstone is where this process moves a container's directory to remove
// it: hidden from every listing, and named by its remover's pid so that
// sweep can tell an abandoned one.
func (m *Manager) tombstone(id string) string {
	return filepath.Join(m.DataRoot, "containers", ".rm-"+id+"-"+strconv.Itoa(os.Getpid()))
}

// discard removes a container's directory as remove does: renamed out of
// sight first, so that no listing ever meets it half deleted (it would
// read as dead), then unmounted and deleted. A directory already gone is
// already discarded.
func (m *Manager) discard(id string) error {
	tomb := m.tombstone(id)
	if err := os.Rename(m.dir(id), tomb); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return removeContainerDir(tomb)
}

// removeContainerDir removes a container's directory, but only after making
// sure nothing is mounted in it: RemoveAll through a live overlay mount
// would delete files of the image's shared layers.
func removeContainerDir(dir string) error {
	if err := unmountContainerDir(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// unmountContainerDir unmounts the overlay at dir/merged and checks that
// nothing is mounted there any more.
func unmountContainerDir(dir string) error {
	merged := filepath.Join(dir, "merged")
	// No tracer here (rm narrates nothing yet): the step runs silently.
	if err := (*explain.Tracer)(nil).Do(overlay.UnmountStep(merged), nil); err != nil {
		return err
	}
	if mounted, err := overlay.Mounted(merged); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	} else if mounted {
		return fmt.Errorf("refusing to remove %s: %s is still mounted", dir, merged)
	}
	return nil
}

// forwardSignals passes the signals minirun receives on to the container,
// as `docker run` does (its sig-proxy): Ctrl-C reaches the program.
func forwardSignals(ctr *runtime.Container) func() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				unix.Kill(ctr.Pid(), s.(syscall.Signal)) //minirun:nostep forwards the user's own signal (Ctrl-C) to the container, as docker run's sig-proxy does
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// Runtime returns the runtime's view of a container: the live process, its
// cgroup. It fails for a container that is not running.
func (m *Manager) Runtime(ref string) (*Meta, *runtime.Container, error) {
	meta, err := m.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	c, err := runtime.Load(m.StateRoot, meta.ID)
	if err != nil {
		return meta, nil, fmt.Errorf("container %s is not running", meta.Name)
	}
	return meta, c, nil
}

// Update changes a container's limits, as `docker update` does: live in
// its cgroup when it runs, and in its record and its bundle's config.json
// either way, so its next start keeps them.
func (m *Manager) Update(ref string, res *specs.LinuxResources, tr *explain.Tracer) error {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	if _, c, err := m.Runtime(meta.ID); err == nil {
		if err := c.Update(res, tr); err != nil {
			return err
		}
	}
	meta, dir, unlock, err := m.lockedMeta(meta.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if meta.HostConfig.Resources == nil {
		meta.HostConfig.Resources = &specs.LinuxResources{}
	}
	runtime.MergeResources(meta.HostConfig.Resources, res)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("container %s: config.json: %w", meta.Name, err)
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	runtime.MergeResources(s.Linux.Resources, res)
	if err := writeBundle(dir, &s); err != nil {
		return err
	}
	return meta.save(dir)
}

// lockedMeta reads the record of the container ref names under the
// manager's lock, for a change the caller saves before it unlocks.
func (m *Manager) lockedMeta(ref string) (*Meta, string, func(), error) {
	meta, err := m.Get(ref)
	if err != nil {
		return nil, "", nil, err
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, "", nil, err
	}
	dir := m.dir(meta.ID)
	if meta, err = loadMeta(dir); err != nil {
		unlock()
		return nil, "", nil, err
	}
	return meta, dir, unlock, nil
}

// UpdateRestart changes a container's restart policy, as `docker update
// --restart` does: in its record, which the shim of its next start reads,
// and in its running shim, which judges the next exit by it (the control
// protocol's update).
func (m *Manager) UpdateRestart(ref string, p shim.RestartPolicy) error {
	if err := p.Check(); err != nil {
		return err
	}
	meta, dir, unlock, err := m.lockedMeta(ref)
	if err != nil {
		return err
	}
	defer unlock()
	// dockerd's words: --rm removes the container at its first exit, which
	// no policy may start again.
	if meta.HostConfig.AutoRemove && p.Name != "no" {
		return fmt.Errorf("restart policy cannot be updated because AutoRemove is enabled for the container")
	}
	old := meta.HostConfig.RestartPolicy
	meta.HostConfig.RestartPolicy = p
	if err := meta.save(dir); err != nil {
		return err
	}
	// A stopped container has no shim: its record is all there is.
	if err := shim.UpdateRestart(m.Socket(meta.ID), p); err != nil && !errors.Is(err, shim.ErrNoShim) {
		meta.HostConfig.RestartPolicy = old
		return errors.Join(fmt.Errorf("container %s: %w", meta.Name, err), meta.save(dir))
	}
	return nil
}

// mountRootfs gives the container its root filesystem with the storage
// driver: an overlay of the image's layers (overlay2), or a full copy of
// them (vfs) when asked, or when overlayfs cannot mount here.
func (m *Manager) mountRootfs(meta *Meta, layers []string, tr *explain.Tracer, undo *cleanup.Stack) (string, error) {
	dir := m.dir(meta.ID)
	remap := meta.HostConfig.UsernsRemap
	if m.StorageDriver != "vfs" && remap == nil {
		ov := overlay.Options{Lower: layers, Upper: filepath.Join(dir, "diff"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "merged")}
		err := tr.Do(overlay.MountStep(ov), undo)
		if err == nil {
			return ov.Target, m.setDriver(meta, "overlay2", layers)
		}
		if !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
			return "", err
		}
		fmt.Fprintf(os.Stderr, "minirun: overlayfs cannot mount here (%v): using the vfs driver\n", err)
		for _, d := range []string{"diff", "work", "merged"} {
			os.RemoveAll(filepath.Join(dir, d))
		}
	}
	root := filepath.Join(dir, "rootfs")
	bottomUp := make([]string, len(layers))
	for i, l := range layers {
		bottomUp[len(layers)-1-i] = l
	}
	err := tr.Do(explain.Step{
		ID: "images-vfs-copy", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: fmt.Sprintf("vfs: copia as %d camada(s) inteiras para o rootfs", len(layers)), EN: fmt.Sprintf("vfs: copy all %d layer(s) into the rootfs", len(layers))},
		Why: explain.Text{PT: "Sem união de camadas: cada contêiner paga a imagem inteira em disco e tempo de cópia.",
			EN: "No union of layers: every container pays for the whole image in disk and copy time."},
		Shell: "for l in $LAYERS; do cp -a $l/. " + root + "/; done   # aplicando whiteouts / applying whiteouts",
		Do: func() error {
			if err := os.Mkdir(root, 0o755); err != nil {
				return err
			}
			if remap != nil {
				// Owners shifted into the container's uid range: its root
				// (host uid remap.UID.Start) owns what root owned.
				if err := os.Chown(root, remap.UID.Start, remap.GID.Start); err != nil {
					return err
				}
				return vfs.ApplyShifted(root, bottomUp, remap.UID.Start, remap.GID.Start)
			}
			return vfs.ApplyShifted(root, bottomUp, 0, 0)
		},
		Undo: func() error { return os.RemoveAll(root) },
	}, undo)
	if err != nil {
		return "", err
	}
	meta.GraphDriver = GraphDriver{Name: "vfs", Data: map[string]string{"Dir": root}}
	return root, meta.save(dir)
}

func (m *Manager) setDriver(meta *Meta, name string, layers []string) error {
	dir := m.dir(meta.ID)
	meta.GraphDriver = GraphDriver{Name: name, Data: map[string]string{
		"LowerDir":  strings.Join(layers, ":"),
		"UpperDir":  filepath.Join(dir, "diff"),
		"WorkDir":   filepath.Join(dir, "work"),
		"MergedDir": filepath.Join(dir, "merged"),
	}}
	return meta.save(dir)
}
