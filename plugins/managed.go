package plugins

// Managed plugins (`minirun plugin …`, Docker's "plugin v2"): a plugin
// shipped as a root filesystem plus a config.json in Docker's plugin
// config format (https://docs.docker.com/engine/extend/config/), which
// minirun keeps and runs itself. dockerd runs them as containers of its
// own, straight on containerd and runc, not as `docker ps` containers;
// minirun does the same with its OCI runtime (package runtime), so a
// plugin never shows in `ps`, but does in `minirun list` (the OCI view).
//
// On the host, in this order (plugin/v2/plugin_linux.go in moby):
//
//	DIR/ID/config.json        the plugin object (types/plugin.Plugin)
//	DIR/ID/rootfs             its root filesystem, copied at create
//	DIR/ID/propagated-mount   bound onto itself and made rshared at
//	                          enable, bound rshared at the config's
//	                          PropagatedMount: what the plugin mounts
//	                          there appears on the host
//	SOCKETS/ID12/             bound at /run/docker/plugins in the plugin,
//	                          where it creates Interface.Socket (the ID's
//	                          first 12 digits, where dockerd uses all 64:
//	                          a socket's path must fit sun_path's 108
//	                          bytes, unix(7), and the sockets directory
//	                          can be anywhere)
//	SOCKETS/NAME.sock         a symlink to that socket: discovery (Lookup)
//	                          finds a managed plugin by its name as it
//	                          finds any other

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image/layer"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/mountinfo"
	"github.com/minirun/minirun/runtime"
	"github.com/moby/moby/api/types/plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Store keeps the managed plugins of one data root.
type Store struct {
	// Dir holds one directory per plugin (DATA-ROOT/plugins).
	Dir string
	// StateRoot is the OCI runtime's state root the plugins run under.
	StateRoot string
	// Sockets is the discovery directory (Dirs.Sockets).
	Sockets string
	// Tracer narrates the host changes; nil runs them silently.
	Tracer *explain.Tracer
	// InUse reports whether volumes of the driver called name exist:
	// disable and rm refuse such a plugin without force, as dockerd does
	// for a plugin whose reference count is not zero (its volumes' data
	// may live in its propagated mount). nil: never in use.
	InUse func(name string) (bool, error)
}

// lock serialises the commands that change plugins (two enables of one
// plugin would share, then delete, one socket directory): an exclusive
// flock(2) on DIR/.lock, released when the process ends in any way.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", s.Dir, err)
	}
	return func() { f.Close() }, nil
}

// lockedGet takes the lock, then finds the plugin ref names, so that Set,
// Enable, Disable and Remove each act on a plugin no other command is
// changing. On success the caller releases the lock with unlock; on error
// it is already released.
func (s *Store) lockedGet(ref string) (p *plugin.Plugin, unlock func(), err error) {
	if unlock, err = s.lock(); err != nil {
		return nil, nil, err
	}
	if p, err = s.Get(ref); err != nil {
		unlock()
		return nil, nil, err
	}
	return p, unlock, nil
}

// inUse refuses a plugin whose volumes exist, unless forced.
func (s *Store) inUse(p *plugin.Plugin, force bool) error {
	if force || s.InUse == nil {
		return nil
	}
	used, err := s.InUse(p.Name)
	if err != nil {
		return err
	}
	if used {
		return fmt.Errorf("plugin %s is in use: volumes of its driver exist (remove them, or use --force)", p.Name)
	}
	return nil
}

// ErrPluginNotFound means no managed plugin has that name or ID.
var ErrPluginNotFound = errors.New("no such plugin")

// socketWait bounds how long enable waits for a started plugin to listen.
const socketWait = 10 * time.Second

func (s *Store) dir(id string) string { return filepath.Join(s.Dir, id) }

// sockDir is where the plugin's socket is made, on the host.
func (s *Store) sockDir(p *plugin.Plugin) string { return filepath.Join(s.Sockets, p.ID[:12]) }

// runtimeID is the plugin's container ID in the OCI runtime.
func runtimeID(id string) string { return "plugin-" + id[:12] }

// Create makes the plugin NAME from DIR, which holds config.json and
// rootfs/ (`docker plugin create NAME DIR`). It is created disabled.
func (s *Store) Create(name, src string) (p *plugin.Plugin, retErr error) {
	if !validName(name) {
		return nil, fmt.Errorf("plugin name %q: invalid (letters, digits and . _ - only)", name)
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := s.Get(name); err == nil {
		return nil, fmt.Errorf("plugin %s already exists", name)
	}
	b, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("plugin create: %w", err)
	}
	var cfg plugin.Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("plugin create: %s/config.json: %w", src, err)
	}
	if err := checkConfig(cfg); err != nil {
		return nil, fmt.Errorf("plugin create: %s/config.json: %w", src, err)
	}
	if st, err := os.Stat(filepath.Join(src, "rootfs")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("plugin create: %s has no rootfs directory", src)
	}
	var raw [32]byte
	rand.Read(raw[:])
	p = &plugin.Plugin{ID: hex.EncodeToString(raw[:]), Name: name, Config: cfg}
	p.Settings = plugin.Settings{Args: cfg.Args.Value, Mounts: cfg.Mounts, Devices: cfg.Linux.Devices}
	for _, e := range cfg.Env {
		if e.Value != nil {
			p.Settings.Env = append(p.Settings.Env, e.Name+"="+*e.Value)
		}
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	dir := s.dir(p.ID)
	if err := s.Tracer.Do(explain.Step{
		ID: "plugin-create", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "plugin create: copia o rootfs e a config do plugin " + name, EN: "plugin create: copy plugin " + name + "'s rootfs and config"},
		Why: explain.Text{PT: "Um plugin gerenciado é um rootfs com um config.json no formato do Docker; o minirun guarda a sua cópia, como o dockerd.",
			EN: "A managed plugin is a rootfs with a config.json in Docker's format; minirun keeps its own copy, as dockerd does."},
		Shell: fmt.Sprintf("mkdir -p %s && cp -a %s/rootfs %s/rootfs && cp %s/config.json %s/", dir, src, dir, src, dir),
		Do: func() error {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			return copyRootfs(filepath.Join(src, "rootfs"), filepath.Join(dir, "rootfs"))
		},
		Undo:      func() error { return os.RemoveAll(dir) },
		UndoShell: "rm -rf " + dir,
	}, &undo); err != nil {
		return nil, err
	}
	if err := s.save(p); err != nil {
		return nil, err
	}
	undo.Release()
	return p, nil
}

// UnpackContext unpacks a plugin's directory sent as a tar (`docker plugin
// create` through the daemon: config.json and rootfs/) into a new
// directory under the store, for Create to copy from; remove takes it
// away. The layer extractor unpacks it, so no entry lands outside the
// directory, whatever names or links the tar holds.
func (s *Store) UnpackContext(r io.Reader) (dir string, remove func() error, err error) {
	var undo cleanup.Stack
	err = s.Tracer.Do(explain.Step{
		ID: "plugin-context", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "plugin create: desempacota o diretório do plugin que o cliente mandou", EN: "plugin create: unpack the plugin directory the client sent"},
		Why: explain.Text{PT: "O docker plugin create manda o diretório (config.json e rootfs/) como um tar; ele é aberto como uma camada de imagem, sem nada sair do diretório.",
			EN: "docker plugin create sends the directory (config.json and rootfs/) as a tar; it is unpacked as an image layer is, nothing leaving the directory."},
		Shell: "d=$(mktemp -d " + filepath.Join(s.Dir, ".context-XXXXXX") + ") && tar -x -C \"$d\"",
		Do: func() error {
			if err := os.MkdirAll(s.Dir, 0o700); err != nil {
				return err
			}
			d, err := os.MkdirTemp(s.Dir, ".context-")
			if err != nil {
				return err
			}
			if _, err := layer.ExtractRecorded(r, d, io.Discard); err != nil {
				return errors.Join(fmt.Errorf("the plugin's directory: %w", err), os.RemoveAll(d))
			}
			dir = d
			return nil
		},
		Undo:      func() error { return os.RemoveAll(dir) },
		UndoShell: "rm -rf \"$d\"",
	}, &undo)
	if err != nil {
		return "", nil, err
	}
	return dir, undo.Run, nil
}

// copyRootfs copies a plugin's root filesystem as an image layer travels:
// a tar of src (layer.WriteTar, which never follows links) unpacked into
// dst by the layer extractor, which keeps owners, modes (setuid, sticky),
// times, device nodes and links, and cannot write outside dst.
func copyRootfs(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(layer.WriteTar(pw, src)) }()
	_, err := layer.ExtractRecorded(pr, dst, io.Discard)
	pr.CloseWithError(err) // a writer still at work stops
	return err
}

// checkConfig refuses what minirun cannot run as the config asks.
func checkConfig(c plugin.Config) error {
	if len(c.Entrypoint) == 0 {
		return errors.New("no Entrypoint")
	}
	if c.Interface.Socket == "" || strings.ContainsAny(c.Interface.Socket, "/\x00") {
		return fmt.Errorf("Interface.Socket %q: want a file name", c.Interface.Socket)
	}
	if len(c.Interface.Types) == 0 {
		return errors.New("Interface.Types is empty")
	}
	switch c.Network.Type {
	case "", "none", "host":
	default:
		return fmt.Errorf("Network.Type %q: minirun runs plugins with host or none", c.Network.Type)
	}
	// What minirun does not apply is refused, not dropped: a plugin that
	// asks to run as a user, or for host devices, or in the host's pid or
	// ipc namespace, would otherwise run differently from what its
	// config says (as root, without its /dev/fuse…).
	switch {
	case c.User.UID != 0 || c.User.GID != 0:
		return errors.New("User: minirun runs plugins as root only")
	case c.PidHost || c.IpcHost:
		return errors.New("PidHost/IpcHost: minirun runs plugins in their own pid and ipc namespaces only")
	case len(c.Linux.Devices) > 0 || c.Linux.AllowAllDevices:
		return errors.New("Linux.Devices: minirun gives plugins no host devices")
	}
	if c.PropagatedMount != "" && !filepath.IsAbs(c.PropagatedMount) {
		return fmt.Errorf("PropagatedMount %q is not absolute", c.PropagatedMount)
	}
	return nil
}

func (s *Store) save(p *plugin.Plugin) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir(p.ID), "config.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir(p.ID), "config.json"))
}

// List returns every managed plugin.
func (s *Store) List() ([]*plugin.Plugin, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*plugin.Plugin
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue // the lock, and the directories UnpackContext makes
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, e.Name(), "config.json"))
		if err != nil {
			continue // a create in progress, or one that died half-way
		}
		var p plugin.Plugin
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", e.Name(), err)
		}
		out = append(out, &p)
	}
	return out, nil
}

// Get finds a plugin by name, full ID or unique ID prefix.
func (s *Store) Get(ref string) (*plugin.Plugin, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var hits []*plugin.Plugin
	for _, p := range all {
		if p.Name == ref || p.ID == ref {
			return p, nil
		}
		if len(ref) >= 3 && strings.HasPrefix(p.ID, ref) {
			hits = append(hits, p)
		}
	}
	if len(hits) == 1 {
		return hits[0], nil
	}
	return nil, fmt.Errorf("%w: %s", ErrPluginNotFound, ref)
}

// Set changes settings of a disabled plugin: NAME=VALUE for a settable
// variable of Config.Env, or args=VALUE… for Config.Args when settable
// (`docker plugin set`).
func (s *Store) Set(ref string, kvs []string) error {
	p, unlock, err := s.lockedGet(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if p.Enabled {
		return fmt.Errorf("cannot set on an active plugin, disable plugin %s first", p.Name)
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("plugin set %s: want NAME=VALUE", kv)
		}
		if k == p.Config.Args.Name && p.Config.Args.Name != "" {
			if !settable(p.Config.Args.Settable, "value") {
				return fmt.Errorf("args %q is not settable", k)
			}
			p.Settings.Args = strings.Fields(v)
			continue
		}
		found := false
		for _, e := range p.Config.Env {
			if e.Name == k {
				if !settable(e.Settable, "value") {
					return fmt.Errorf("env %q is not settable", k)
				}
				found = true
			}
		}
		if !found {
			return fmt.Errorf("setting %q not found in the plugin configuration", k)
		}
		p.Settings.Env = setEnv(p.Settings.Env, k, v)
	}
	return s.save(p)
}

func settable(list []string, field string) bool {
	for _, f := range list {
		if f == field {
			return true
		}
	}
	return false
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// spec is the OCI config a plugin runs with: minirun's defaults, the
// plugin's entrypoint, args, environment and capabilities, its socket
// directory at /run/docker/plugins and its propagated mount (rshared, so
// the plugin's mounts reach the host; the root is rshared too, as moby's
// InitSpec makes it, or the bind could not propagate out of it).
func (s *Store) spec(p *plugin.Plugin) *specs.Spec {
	sp := runtime.DefaultSpec()
	sp.Root.Path = filepath.Join(s.dir(p.ID), "rootfs")
	sp.Hostname = ""
	sp.Process.Terminal = false
	sp.Process.Args = append(append([]string{}, p.Config.Entrypoint...), p.Settings.Args...)
	sp.Process.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, p.Settings.Env...)
	sp.Process.Cwd = "/"
	if p.Config.WorkDir != "" {
		sp.Process.Cwd = p.Config.WorkDir
	}
	c := sp.Process.Capabilities
	for _, cp := range p.Config.Linux.Capabilities {
		c.Bounding, c.Effective, c.Permitted = append(c.Bounding, cp), append(c.Effective, cp), append(c.Permitted, cp)
	}
	if p.Config.Network.Type == "host" {
		var ns []specs.LinuxNamespace
		for _, n := range sp.Linux.Namespaces {
			if n.Type != specs.NetworkNamespace {
				ns = append(ns, n)
			}
		}
		sp.Linux.Namespaces = ns
	}
	sp.Mounts = append(sp.Mounts, specs.Mount{Destination: "/run/docker/plugins", Type: "bind",
		Source: s.sockDir(p), Options: []string{"rbind", "rprivate"}})
	for _, m := range p.Settings.Mounts {
		if m.Source == nil || *m.Source == "" {
			continue
		}
		sp.Mounts = append(sp.Mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: *m.Source, Options: append([]string{"rbind"}, m.Options...)})
	}
	if p.Config.PropagatedMount != "" {
		sp.Mounts = append(sp.Mounts, specs.Mount{Destination: p.Config.PropagatedMount, Type: "bind",
			Source: s.propagated(p), Options: []string{"rbind", "rw", "rshared"}})
		sp.Linux.RootfsPropagation = "rshared"
	}
	sp.Linux.CgroupsPath = ""
	return sp
}

func (s *Store) propagated(p *plugin.Plugin) string {
	return filepath.Join(s.dir(p.ID), "propagated-mount")
}

// Enable starts the plugin (`docker plugin enable`), in this order: its
// socket directory, the propagated mount made a shared mount point on the
// host, the OCI container created and started, its socket awaited and
// activated (the handshake must list what Interface.Types promised), the
// discovery link. Each step's undo is registered as it succeeds: a plugin
// that does not start leaves nothing running or mounted.
func (s *Store) Enable(ref string) (retErr error) {
	p, unlock, err := s.lockedGet(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if p.Enabled {
		return fmt.Errorf("plugin %s is already enabled", p.Name)
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	sockDir := s.sockDir(p)
	if err := s.Tracer.Do(explain.Step{
		ID: "plugin-enable", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "plugin enable: cria a pasta do socket de " + p.Name, EN: "plugin enable: make " + p.Name + "'s socket directory"},
		Why: explain.Text{PT: "O plugin cria o seu socket em /run/docker/plugins, que é esta pasta do host montada dentro dele.",
			EN: "The plugin makes its socket in /run/docker/plugins, which is this host directory bound inside it."},
		Shell: "mkdir -p " + sockDir,
		Do:    func() error { return os.MkdirAll(sockDir, 0o700) },
		Undo:  func() error { return os.RemoveAll(sockDir) },
	}, &undo); err != nil {
		return err
	}
	if p.Config.PropagatedMount != "" {
		pm := s.propagated(p)
		if err := s.Tracer.Do(explain.Step{
			ID: "plugin-propagated-mount", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Torna " + pm + " um ponto de montagem rshared", EN: "Make " + pm + " an rshared mount point"},
			Why: explain.Text{PT: "O que o plugin montar em " + p.Config.PropagatedMount + " tem de aparecer no host (mount_namespaces(7), propagação): o bind no contêiner é rshared, e a origem no host precisa ser shared também.",
				EN: "What the plugin mounts at " + p.Config.PropagatedMount + " must appear on the host (mount_namespaces(7), propagation): the bind in the container is rshared, and its host source must be shared too."},
			Shell:     fmt.Sprintf("mkdir -p %s && mount --bind %s %s && mount --make-rshared %s", pm, pm, pm, pm),
			UndoShell: "umount -l " + pm,
			Do: func() error {
				if err := os.MkdirAll(pm, 0o700); err != nil {
					return err
				}
				if err := unix.Mount(pm, pm, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("bind %s: %w", pm, err)
				}
				if err := unix.Mount("", pm, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
					unix.Unmount(pm, unix.MNT_DETACH)
					return fmt.Errorf("make %s rshared: %w", pm, err)
				}
				return nil
			},
			Undo: func() error { return unix.Unmount(pm, unix.MNT_DETACH) },
		}, &undo); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(filepath.Join(s.dir(p.ID), "plugin.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	rid := runtimeID(p.ID)
	ctr, err := runtime.Create(runtime.CreateOpts{Root: s.StateRoot, ID: rid, Bundle: s.dir(p.ID), Spec: s.spec(p),
		Stdin: devnull, Stdout: logf, Stderr: logf, Tracer: s.Tracer})
	if err != nil {
		return fmt.Errorf("plugin %s: %w", p.Name, err)
	}
	undo.Add("plugin-container", func() error { return runtime.DeleteByID(s.StateRoot, rid, true, nil) })
	if err := ctr.Start(s.Tracer); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Name, err)
	}
	sock := filepath.Join(sockDir, p.Config.Interface.Socket)
	if err := waitSocket(sock, ctr, socketWait); err != nil {
		b, _ := os.ReadFile(filepath.Join(s.dir(p.ID), "plugin.log"))
		return fmt.Errorf("plugin %s: %w (its log: %s)", p.Name, err, OneLine(string(b)))
	}
	c := NewClient(p.Name, Addr{Network: "unix", Address: sock})
	if err := c.Activate(); err != nil {
		return err
	}
	for _, t := range p.Config.Interface.Types {
		if !implements(c.Implements, t) {
			return fmt.Errorf("plugin %s: config promises %s, /Plugin.Activate answered %v", p.Name, t, c.Implements)
		}
	}
	link := filepath.Join(s.Sockets, p.Name+".sock")
	if err := s.Tracer.Do(explain.Step{
		ID: "plugin-link", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Liga " + link + " ao socket do plugin", EN: "Link " + link + " to the plugin's socket"},
		Why: explain.Text{PT: "Assim a descoberta acha o plugin pelo nome, como acha um plugin que não é gerenciado.",
			EN: "So discovery finds the plugin by its name, as it finds one that is not managed."},
		Shell:     fmt.Sprintf("ln -s %s %s", sock, link),
		UndoShell: "rm " + link,
		Do:        func() error { return os.Symlink(sock, link) },
		Undo:      func() error { return os.Remove(link) },
	}, &undo); err != nil {
		return err
	}
	p.Enabled = true
	if err := s.save(p); err != nil {
		return err
	}
	undo.Release()
	return nil
}

// implements reports whether an Activate answer covers a config type:
// "docker.volumedriver/1.0" is answered as "VolumeDriver", and so on
// (moby's plugin/v2 Plugin.Implements).
func implements(got []string, typ plugin.CapabilityID) bool {
	want := map[string]string{"volumedriver": "VolumeDriver", "networkdriver": "NetworkDriver",
		"ipamdriver": "IpamDriver", "authz": "authz", "logdriver": "LogDriver"}[typ.Capability]
	for _, g := range got {
		if strings.EqualFold(g, want) || strings.EqualFold(g, typ.Capability) {
			return true
		}
	}
	return false
}

// waitSocket waits for the plugin to listen on sock, giving up early when
// its process has already ended.
func waitSocket(sock string, ctr *runtime.Container, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if st, err := os.Stat(sock); err == nil && st.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		if unix.Kill(ctr.Pid(), 0) != nil { //minirun:nostep signal 0 only asks whether the plugin process still exists; nothing is sent
			return fmt.Errorf("it exited before listening on %s", sock)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("it did not listen on %s within %s", sock, timeout)
		}
	}
}

// Disable stops the plugin (`docker plugin disable`): SIGTERM, up to 10 s,
// then SIGKILL, as dockerd's shutdown of a plugin; then the link, the
// container, the propagated mount and the socket directory go. A plugin in
// use (InUse) is refused unless forced.
func (s *Store) Disable(ref string, force bool) error {
	p, unlock, err := s.lockedGet(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if !p.Enabled {
		return fmt.Errorf("plugin %s is already disabled", p.Name)
	}
	if err := s.inUse(p, force); err != nil {
		return err
	}
	if err := s.stop(p); err != nil {
		return err
	}
	p.Enabled = false
	return s.save(p)
}

func (s *Store) stop(p *plugin.Plugin) error {
	link := filepath.Join(s.Sockets, p.Name+".sock")
	if err := s.Tracer.Do(explain.Step{
		ID: "plugin-link", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Apaga o link " + link, EN: "Remove link " + link},
		Why: explain.Text{PT: "Primeiro o nome some da descoberta: ninguém mais acha o plugin que vai parar.",
			EN: "First the name leaves discovery: nobody finds the plugin that is about to stop."},
		Shell: "rm -f " + link,
		Do: func() error {
			if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		},
	}, nil); err != nil {
		return err
	}
	rid := runtimeID(p.ID)
	if ctr, err := runtime.Load(s.StateRoot, rid); err == nil {
		if ctr.Status() == runtime.Running {
			ctr.Signal(unix.SIGTERM, s.Tracer)
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctr.Status() == runtime.Running; {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err := runtime.DeleteByID(s.StateRoot, rid, true, s.Tracer); err != nil {
			return fmt.Errorf("plugin %s: %w", p.Name, err)
		}
	}
	if p.Config.PropagatedMount != "" {
		pm := s.propagated(p)
		if err := s.Tracer.Do(explain.Step{
			ID: "plugin-propagated-mount", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Desmonta " + pm, EN: "Unmount " + pm},
			Why: explain.Text{PT: "O plugin parou: o ponto de montagem rshared que o enable criou sai do host.",
				EN: "The plugin stopped: the rshared mount point enable made leaves the host."},
			Shell: "umount -l " + pm,
			Do: func() error {
				if err := unix.Unmount(pm, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
					return fmt.Errorf("umount %s: %w", pm, err)
				}
				return nil
			},
		}, nil); err != nil {
			return err
		}
	}
	return os.RemoveAll(s.sockDir(p))
}

// Remove deletes a disabled plugin (`docker plugin rm`); force disables
// an enabled one first.
func (s *Store) Remove(ref string, force bool) error {
	p, unlock, err := s.lockedGet(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.inUse(p, force); err != nil {
		return err
	}
	if p.Enabled {
		if !force {
			return fmt.Errorf("plugin %s is enabled: disable it first, or use --force", p.Name)
		}
		if err := s.stop(p); err != nil {
			return err
		}
	}
	dir := s.dir(p.ID)
	if mounted, err := mountPoint(s.propagated(p)); err != nil || mounted {
		// Deleting through a mount would delete the volumes' data.
		return fmt.Errorf("plugin %s: %s is still mounted (%v): not removing", p.Name, s.propagated(p), err)
	}
	return s.Tracer.Do(explain.Step{
		ID: "plugin-remove", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "plugin rm: apaga " + dir, EN: "plugin rm: delete " + dir},
		Why:   explain.Text{PT: "Sem contêiner e sem montagens, o plugin é só a sua pasta.", EN: "With no container and no mounts left, the plugin is just its directory."},
		Shell: "rm -rf " + dir,
		Do:    func() error { return os.RemoveAll(dir) },
	}, nil)
}

// ScopedPath turns a path a managed plugin answered (a volume's
// Mountpoint, seen in the plugin's own mount namespace) into the host's
// path of the same directory (moby's Plugin.ScopedPath): under the
// propagated mount when it lies in the config's PropagatedMount, else
// under the plugin's rootfs. The answer is never taken as a host path,
// and it is resolved inside that base as the plugin's root would resolve
// it (securejoin): a plugin that answers /etc, or links a directory of its
// propagated mount to /, names a directory of its own, not the host's.
// managed is false when name is no enabled managed plugin (a plugin
// running on the host answers host paths, as in Docker).
func (s *Store) ScopedPath(name, path string) (scoped string, managed bool, err error) {
	p, err := s.Get(name)
	if err != nil || !p.Enabled {
		return "", false, nil
	}
	base, rel := filepath.Join(s.dir(p.ID), "rootfs"), filepath.Clean("/"+path)
	if pm := p.Config.PropagatedMount; pm != "" {
		if r, err := filepath.Rel(pm, rel); err == nil && r != ".." && !strings.HasPrefix(r, "../") {
			base, rel = s.propagated(p), r
		}
	}
	scoped, err = securejoin.SecureJoin(base, rel)
	if err != nil {
		return "", true, fmt.Errorf("plugin %s: mountpoint %s: %w", name, path, err)
	}
	return scoped, true, nil
}

// mountPoint reports whether /proc/self/mountinfo lists path as a mount
// point (a bind of a directory onto itself keeps its device number, so
// stat(2) cannot tell; proc(5) field 5 is the mount point).
func mountPoint(path string) (bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && mountinfo.Unescape(f[4]) == path {
			return true, nil
		}
	}
	return false, nil
}
