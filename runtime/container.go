package runtime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/crashpoint"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where minirun keeps the state of containers, like runc's
// /run/runc: a tmpfs, so a reboot forgets containers that cannot survive it.
const DefaultRoot = "/run/minirun"

// CreateOpts are the inputs of Create.
type CreateOpts struct {
	// Root is the state directory (--root); DefaultRoot when empty.
	Root string
	// ID names the container; see ValidateID.
	ID string
	// Bundle is the directory holding config.json.
	Bundle string
	// Spec, when set, is used instead of reading Bundle/config.json (the
	// caller validated it).
	Spec *specs.Spec
	// PidFile, when set, receives the init's pid once created.
	PidFile string
	// ConsoleSocket receives the pty master when process.terminal is true.
	// When empty the master is kept in Container.Console (run -t).
	ConsoleSocket string
	// Stdin, Stdout and Stderr become the container's stdio; nil means
	// the caller's own.
	Stdin, Stdout, Stderr *os.File
	// Tracer narrates the steps; nil runs them silently.
	Tracer *explain.Tracer
	// Self is the executable to re-run as init; /proc/self/exe when empty
	// (tests set their own test binary).
	Self string
	// Pdeathsig, when set, is sent to the init if the thread that started
	// it dies: a shim sets SIGKILL so its container cannot outlive it.
	// (The signal belongs to the parent *thread*, go.dev/issue/27505: the
	// caller must start the container from a thread that lives as long
	// as it does, e.g. its locked main goroutine.)
	Pdeathsig syscall.Signal
	// AfterClone, when set, runs once the init exists in its namespaces
	// and its cgroup, at the same time as the init starts up (a Go
	// program's start is tens of milliseconds, the network's setup from
	// outside about as long: a shim plugs the container's network in
	// here). Create returns only once it has returned, and fails, rolling
	// back, when it fails.
	AfterClone func(pid int) error
}

// DryRunID is the id of a dry run's container: a shell variable, for what
// only a real run knows.
const DryRunID = "$ID"

// Container is a container known to minirun.
type Container struct {
	ID     string
	Bundle string
	dir    string
	st     *savedState

	// Set only in the process that created the container:
	cmd     *exec.Cmd
	conn    *syncConn
	relay   chan struct{}
	Console *os.File // pty master, for run -t without a console socket
}

// Create prepares a container and leaves its init waiting for Start.
// On failure at any step the steps that succeeded are undone in reverse
// order, so nothing is left half-made on the host.
func Create(o CreateOpts) (c *Container, retErr error) {
	if o.Root == "" {
		o.Root = DefaultRoot
	}
	// A dry run's id is the shell variable $ID: its paths then read as
	// the lines a student types (/sys/fs/cgroup/pids/minirun/$ID).
	if !(o.ID == DryRunID && o.Tracer.DryRun()) {
		if err := ValidateID(o.ID); err != nil {
			return nil, err
		}
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	spec := o.Spec
	if spec == nil {
		if spec, err = LoadSpec(bundle); err != nil {
			return nil, err
		}
	}
	// A spec handed in (not read by LoadSpec) gets the user check too.
	if err := ValidateUser(spec.Process.User); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if spec.Process.Terminal && o.ConsoleSocket != "" {
		if _, err := os.Stat(o.ConsoleSocket); err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if !o.Tracer.DryRun() {
		if err := os.MkdirAll(o.Root, 0o711); err != nil {
			return nil, fmt.Errorf("create state root %s: %w", o.Root, err)
		}
	}
	cr := &creator{
		o: o, spec: spec, bundle: bundle, rootfs: rootfs,
		dir: filepath.Join(o.Root, o.ID),
		tr:  o.Tracer,
	}
	// The cgroup's path is known (and checked) before anything is made:
	// the first state.json names it, so that whatever kills create later
	// leaves a cgroup that delete can find.
	if cr.cgroup, err = cgroups.New(spec.Linux.CgroupsPath, o.ID, o.Tracer); err != nil {
		return nil, err
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	cr.undo = &undo
	// AfterClone's result; joined before Create returns, and before a
	// failed Create rolls back (this defer runs before the one above).
	var hook chan error
	join := func() error {
		if hook == nil {
			return nil
		}
		err := <-hook
		hook = nil
		return err
	}
	defer func() {
		if retErr != nil {
			join()
		}
	}()
	startHook := func() error {
		if o.AfterClone == nil || cr.cmd == nil || cr.tr.DryRun() {
			return nil
		}
		hook = make(chan error, 1)
		pid := cr.cmd.Process.Pid
		go func() { hook <- o.AfterClone(pid) }()
		return nil
	}
	for _, phase := range []func() error{
		func() error { return cr.tr.Run(cr.prepPlan(), &undo) },
		cr.createCgroup,
		cr.watchHostMounts,
		func() error { return cr.tr.Run(cr.clonePlan(), &undo) },
		cr.applyCgroup,
		startHook,
		func() error { crashpoint.At("create-after-cgroup"); return nil },
		func() error { return cr.tr.Run(cr.configPlan(), &undo) },
		cr.recordHostMounts,
		join,
	} {
		if err := phase(); err != nil {
			return nil, err
		}
	}
	if cr.tr.DryRun() {
		return nil, nil
	}
	undo.Release() // state.json is saved: Delete now owns the teardown
	c = &Container{ID: o.ID, Bundle: bundle, dir: cr.dir, st: cr.st, cmd: cr.cmd, conn: cr.conn, Console: cr.console}
	if cr.tr.Sink() != nil {
		// Keep narrating the init's last steps (after start) until it
		// execs and the socket closes.
		c.relay = make(chan struct{})
		go func() {
			defer close(c.relay)
			cr.serve(false)
		}()
	} else {
		cr.conn.close()
		c.conn = nil
	}
	return c, nil
}

// creator holds what the steps of Create share.
type creator struct {
	o       CreateOpts
	spec    *specs.Spec
	bundle  string
	rootfs  string
	dir     string
	tr      *explain.Tracer
	undo    *cleanup.Stack
	fifo    *os.File // O_PATH handle passed to the child
	conn    *syncConn
	child   *os.File
	cmd     *exec.Cmd
	console *os.File
	st      *savedState
	cgroup  cgroups.Manager
	// hostMountsBefore: without a mount namespace, the mounts under the
	// rootfs before the init ran (hostmounts.go).
	hostMountsBefore map[string]int
}

// create's work is a series of explain steps (moby's queueStep): the same
// steps run for real, are narrated with --explain and are printed by
// --dry-run. They come in phases because the cgroup steps between them
// are traced by package cgroups itself.
//
// prepPlan makes the state directory, the exec FIFO and the sync socket.
func (cr *creator) prepPlan() explain.Plan {
	return explain.Plan{{
		ID: "lifecycle-state-dir", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Cria o diretório de estado " + cr.dir + " e um state.json 'creating'",
			EN: "Create the state directory " + cr.dir + " and a 'creating' state.json"},
		Why: explain.Text{PT: "Cada contêiner tem o seu; criá-lo é atômico, e um id repetido falha aqui. O state.json, gravado de forma atômica antes de qualquer cgroup ou processo, diz o que o create fará: se ele for morto no meio, delete sabe o que remover.",
			EN: "Each container has its own; creating it is atomic, so a duplicate id fails here. state.json, written atomically before any cgroup or process exists, says what create will make: if create is killed halfway, delete knows what to remove."},
		Shell: "mkdir " + cr.dir + " && echo '{\"creating\": true, ...}' > " + filepath.Join(cr.dir, stateFile) + ".tmp && mv " + filepath.Join(cr.dir, stateFile) + ".tmp " + filepath.Join(cr.dir, stateFile),
		Do: func() error {
			if err := os.Mkdir(cr.dir, 0o711); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%w: %s", ErrExist, cr.o.ID)
				}
				return fmt.Errorf("create state dir %s: %w", cr.dir, err)
			}
			crashpoint.At("create-after-state-dir")
			if err := cr.saveCreating(); err != nil {
				os.RemoveAll(cr.dir)
				return err
			}
			crashpoint.At("create-after-creating")
			return nil
		},
		Undo: func() error { return os.RemoveAll(cr.dir) },
	}, {
		ID: "lifecycle-exec-fifo", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Cria o FIFO exec.fifo", EN: "Create the exec.fifo FIFO"},
		Why: explain.Text{PT: "O init vai bloquear abrindo este FIFO até o `start`: é o que separa create de start.",
			EN: "The init will block opening this FIFO until `start`: it is what splits create from start."},
		Shell: "mkfifo -m 0622 " + filepath.Join(cr.dir, fifoName),
		Do: func() error {
			path := filepath.Join(cr.dir, fifoName)
			if err := unix.Mkfifo(path, 0o622); err != nil {
				return fmt.Errorf("mkfifo %s: %w", path, err)
			}
			// mkfifo obeys the umask; and in a user namespace the init is
			// not host root, so the FIFO belongs to the uid its root maps
			// to (runc does the same).
			if err := os.Chmod(path, 0o622); err != nil {
				return err
			}
			if err := os.Chown(path, hostID(cr.spec.Linux.UIDMappings), hostID(cr.spec.Linux.GIDMappings)); err != nil {
				return fmt.Errorf("chown %s: %w", path, err)
			}
			// An O_PATH handle: the child reopens it through
			// /proc/self/fd after pivot_root hides the path.
			fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", path, err)
			}
			cr.fifo = os.NewFile(uintptr(fd), path)
			return nil
		},
		Undo: func() error { cr.fifo.Close(); return nil },
	}, {
		ID: "lifecycle-sync-socket", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Cria o socketpair de sincronização", EN: "Create the sync socketpair"},
		Why: explain.Text{PT: "Por ele o pai envia a configuração e o filho avisa cada passo, erro ou 'pronto'.",
			EN: "The parent sends the config over it; the child reports each step, error or 'ready'."},
		Shell: "socat UNIX-... # socketpair(AF_UNIX, SOCK_SEQPACKET)",
		Do: func() (err error) {
			cr.conn, cr.child, err = newSyncPair()
			return err
		},
		Undo: func() error { cr.child.Close(); return cr.conn.close() },
	}}
}

// clonePlan starts the init in its namespaces.
func (cr *creator) clonePlan() explain.Plan {
	names, unshareArgs := newNSList(cr.spec.Linux.Namespaces)
	var p explain.Plan
	for _, ns := range cr.spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		ns := ns
		p = append(p, explain.Step{
			ID: "ns-join", Chapter: explain.ChapterNamespaces,
			Title: explain.Text{PT: "Entra no namespace " + string(ns.Type) + " existente " + ns.Path, EN: "Join the existing " + string(ns.Type) + " namespace " + ns.Path},
			Why: explain.Text{PT: "setns(2) numa thread só para isso; o clone feito dela já nasce dentro desse namespace.",
				EN: "setns(2) on a thread of its own; the clone made from it is born inside that namespace."},
			Shell: "nsenter --" + nsFlags[ns.Type].file + "=" + ns.Path,
			// The setns itself runs in startInit, on the thread that
			// clones (onJoinedThread): a namespace belongs to a thread.
			// Here minirun checks that the path is a namespace of that type.
			Do: func() error { return checkNSPath(ns) },
			Evidence: func() string {
				l, _ := os.Readlink(ns.Path)
				return ns.Path + " → " + l
			},
		})
	}
	p = append(p, explain.Step{
		ID: "ns-clone", Chapter: explain.ChapterNamespaces,
		Title: explain.Text{PT: "Cria o processo init em namespaces novos: " + strings.Join(names, " "),
			EN: "Start the init process in new namespaces: " + strings.Join(names, " ")},
		Why: explain.Text{PT: "clone(2) com as flags CLONE_NEW*: o init (o minirun-init, embutido no minirun) já nasce isolado.",
			EN: "clone(2) with the CLONE_NEW* flags: the init (minirun-init, embedded in minirun) is born isolated."},
		Shell: "unshare " + strings.Join(unshareArgs, " ") + " --fork minirun init",
		// The init is pid 1 of its pid namespace: from the host only
		// SIGKILL is sure to end it (pid_namespaces(7)).
		UndoShell: "kill -KILL $PID",
		Do:        cr.startInit,
		Undo: func() error {
			cr.cmd.Process.Kill()
			cr.cmd.Wait()
			return nil
		},
		Evidence: func() string { return nsEvidence(cr.cmd.Process.Pid, cr.spec.Linux.Namespaces) },
	})
	if cr.o.Self == "" {
		p = append(p, explain.Step{
			ID: "security-sealed-binary", Chapter: explain.ChapterSecurity,
			Title: explain.Text{PT: "Confere que o binário do init não pode ser alterado (CVE-2019-5736)", EN: "Check that the init's binary cannot be changed (CVE-2019-5736)"},
			Why: explain.Text{PT: "O init roda o minirun-init, programa pequeno embutido no minirun, extraído uma vez para o diretório de estado e visto por uma montagem somente leitura (ou de uma cópia selada em memória, memfd): de dentro do contêiner, /proc/1/exe não pode ser sobrescrito.",
				EN: "The init runs minirun-init, a small program embedded in minirun, extracted once into the state directory and reached through a read-only mount (or from a sealed in-memory copy, a memfd): from inside the container, /proc/1/exe cannot be overwritten."},
			Shell: "mount --bind $INIT $INIT && mount -o remount,bind,ro $INIT   # num namespace privado / in a private namespace; INIT=/run/minirun/.init/minirun-init-*",
			Do:    func() error { return checkProtectedExe(cr.cmd.Process.Pid) },
			Evidence: func() string {
				l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cr.cmd.Process.Pid))
				return "/proc/<init>/exe → " + l + " (" + exeProtection(cr.cmd.Process.Pid) + ")"
			},
		})
	}
	if hasNS(cr.spec, specs.UserNamespace) {
		p = append(p, explain.Step{
			ID: "ns-userns-map", Chapter: explain.ChapterNamespaces,
			Title: explain.Text{PT: "Mapeia uids e gids do namespace user", EN: "Map the user namespace's uids and gids"},
			Why: explain.Text{PT: "Root (0) dentro corresponde a um uid sem privilégios fora; escrito entre o clone e o exec.",
				EN: "Root (0) inside maps to an unprivileged uid outside; written between clone and exec."},
			Shell: "printf '" + idMapLines(cr.spec.Linux.UIDMappings) + "' > /proc/$PID/uid_map; printf '" + idMapLines(cr.spec.Linux.GIDMappings) + "' > /proc/$PID/gid_map",
			// Go's syscall package writes uid_map and gid_map in the
			// window between clone and exec (SysProcAttr.UidMappings);
			// this step shows the result.
			Evidence: func() string {
				u, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", cr.cmd.Process.Pid))
				g, _ := os.ReadFile(fmt.Sprintf("/proc/%d/gid_map", cr.cmd.Process.Pid))
				return "uid_map: " + strings.Join(strings.Fields(string(u)), " ") + "; gid_map: " + strings.Join(strings.Fields(string(g)), " ")
			},
		})
	}
	return p
}

// configPlan hands the init its config, follows its setup and saves the
// state once it is ready.
func (cr *creator) configPlan() explain.Plan {
	p := explain.Plan{{
		ID: "lifecycle-sync-socket", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Envia a configuração ao init e acompanha seus passos", EN: "Send the config to the init and follow its steps"},
		Why: explain.Text{PT: "Só agora o init pode começar: ele já está nos seus namespaces e cgroups.",
			EN: "Only now may the init begin: it is already in its namespaces and cgroups."},
		Shell: "# msgConfig → init; ← msgReady",
		Do: func() error {
			if err := cr.conn.send(message{Type: msgConfig, Config: &initConfig{
				ID: cr.o.ID, Spec: cr.spec, Rootfs: cr.rootfs, Bundle: cr.bundle, Trace: cr.tr.Sink() != nil,
				Pdeathsig: int(cr.o.Pdeathsig),
			}}); err != nil {
				return err
			}
			return cr.serve(true)
		},
	}}
	if cr.tr.DryRun() {
		// Show the init's own steps where they happen.
		in := &initState{cfg: &initConfig{ID: cr.o.ID, Rootfs: cr.rootfs}, spec: cr.spec}
		p = append(p, in.setupPlan()...)
	}
	p = append(p, explain.Step{
		ID: "lifecycle-save-state", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Grava state.json: status created", EN: "Save state.json: status created"},
		Why: explain.Text{PT: "Com o pid e o horário de início do processo, para não confundir um pid reaproveitado.",
			EN: "With the pid and the process start time, so a reused pid is not mistaken for the container."},
		Shell: "cat " + filepath.Join(cr.dir, stateFile) + " " + filepath.Join(cr.dir, configFile),
		Do:    cr.saveState,
		Evidence: func() string {
			return string(stateJSON(cr.o.ID, Created, cr.st.Pid, cr.bundle, cr.spec.Annotations))
		},
	})
	if cr.tr.DryRun() {
		in := &initState{cfg: &initConfig{ID: cr.o.ID, Rootfs: cr.rootfs}, spec: cr.spec}
		p = append(p, startStep(cr.dir))
		p = append(p, in.finalPlan()...)
	}
	return p
}

// createCgroup makes the container's cgroups before the init exists, so
// the rollback order is right: kill the init first, then remove its cgroup.
func (cr *creator) createCgroup() error {
	if err := cr.cgroup.Create(); err != nil {
		return err
	}
	cr.undo.Add("remove cgroup", cr.cgroup.Destroy)
	return nil
}

// applyCgroup puts the init in its cgroups and sets the limits. The init is
// still waiting for its config, so no code of the user's runs before it is
// inside its limits.
func (cr *creator) applyCgroup() error {
	pid := 0
	if cr.cmd != nil {
		pid = cr.cmd.Process.Pid
	}
	if err := cr.cgroup.Apply(pid); err != nil {
		return err
	}
	if r := cr.spec.Linux.Resources; r != nil {
		return cr.cgroup.Set(withDeviceNodes(r, cr.spec.Linux.Devices))
	}
	return nil
}

// withDeviceNodes adds, after the config's own device rules, a rule for
// every node the init creates in /dev, because minirun writes the rules
// before the init makes its /dev (runc writes them after): a deny-all list
// must not stop the init's own mknod. The defaults (/dev/null, /dev/zero…)
// get "rwm", as runc's AllowedDevices do. The config's linux.devices get
// only "m": whether the container may read or write one is the config's
// own rules' call (docker run --device /dev/sdb:/dev/xvdb:r gives "r" and
// no more; the spec's linux.devices only asks for the node, runtime-spec
// config-linux.md#devices). Only block and character devices get a rule:
// the devices controller knows types a, b and c (cgroup-v1/devices.rst),
// "u" (unbuffered) is a character device, and a FIFO ("p") is made by
// mknod with no device number, which the controller does not check.
func withDeviceNodes(r *specs.LinuxResources, extra []specs.LinuxDevice) *specs.LinuxResources {
	if len(r.Devices) == 0 {
		return r
	}
	out := *r
	out.Devices = append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	add := func(devs []specs.LinuxDevice, access string) {
		for _, d := range devs {
			typ := d.Type
			switch typ {
			case "c", "b":
			case "u":
				typ = "c"
			default:
				continue
			}
			major, minor := d.Major, d.Minor
			out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: access})
		}
	}
	add(defaultDevices, "rwm")
	add(extra, "m")
	return &out
}

// startInit starts the container's init (minirun-init, or minirun itself
// in a build without it: initExe) in new namespaces.
func (cr *creator) startInit() error {
	cmd := initCmd()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = orStd(cr.o.Stdin, os.Stdin), orStd(cr.o.Stdout, os.Stdout), orStd(cr.o.Stderr, os.Stderr)
	cmd.ExtraFiles = []*os.File{cr.child, cr.fifo} // fd 3 and fd 4
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 cloneFlags(cr.spec.Linux.Namespaces),
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  cr.o.Pdeathsig,
	}
	if hasNS(cr.spec, specs.UserNamespace) {
		// Become root of the new user namespace before exec: otherwise the
		// init would be an unmapped uid there, and execve would drop every
		// capability it needs to set up mounts (user_namespaces(7)).
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	for _, m := range cr.spec.Linux.UIDMappings {
		cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for _, m := range cr.spec.Linux.GIDMappings {
		cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	// On the thread that forks: protect the binary the init runs from
	// (CVE-2019-5736, see selfexe.go), then start it.
	start := func() error {
		// A read-only bind of the init's file (roBind) unshares a new
		// mount namespace on this thread, which the init would inherit:
		// only when the init gets a new mount namespace anyway. With
		// none (the host's), or one to join by path, the init would land
		// in a copy: a sealed memfd then.
		roOK := hasNS(cr.spec, specs.MountNamespace) && nsPath(cr.spec, specs.MountNamespace) == ""
		path, err := initExe(cr.o.Self, cr.o.Root, roOK, hasNS(cr.spec, specs.UserNamespace))
		if err != nil {
			return err
		}
		cmd.Path = path
		return cmd.Start()
	}
	err := onJoinedThread(cr.spec.Linux.Namespaces, cr.o.Pdeathsig != 0, true, start)
	// The child has its copies of fd 3 and 4 now (or failed to start).
	cr.child.Close()
	if err != nil {
		return fmt.Errorf("start container init: %w", err)
	}
	cr.cmd = cmd
	return nil
}

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// serve answers the init's messages until it is ready (untilReady), or
// until EOF (the relay of the last steps, after start).
func (cr *creator) serve(untilReady bool) error {
	relay := cr.tr.Relay()
	for {
		m, fds, err := cr.conn.recv()
		if err == io.EOF {
			if !untilReady {
				// The socket closes at execve: the last step happened.
				if c, ok := relay.(explain.Closer); ok {
					c.Close("")
				}
				return nil
			}
			return fmt.Errorf("container init exited during setup%s", cr.exitHint())
		}
		if err != nil {
			return err
		}
		switch m.Type {
		case msgStepBegin:
			if relay != nil {
				if err := relay.Begin(m.Event); err != nil {
					return err
				}
			}
			if err := cr.conn.send(message{Type: msgAck}); err != nil && untilReady {
				return err
			}
		case msgStepEnd:
			if relay != nil {
				relay.End(m.Event)
			}
		case msgHooks:
			if err := cr.createRuntimeHooks(); err != nil {
				cr.conn.send(message{Type: msgError, Error: err.Error()})
				return err
			}
			if err := cr.conn.send(message{Type: msgAck}); err != nil {
				return err
			}
		case msgConsole:
			if len(fds) != 1 {
				return fmt.Errorf("console message without a file descriptor")
			}
			cr.console = os.NewFile(uintptr(fds[0]), "pty-master")
			if cr.o.ConsoleSocket != "" {
				err := sendConsole(cr.o.ConsoleSocket, cr.console)
				cr.console.Close()
				cr.console = nil
				if err != nil {
					return err
				}
			}
		case msgReady:
			if untilReady {
				return nil
			}
		case msgError:
			e := fmt.Errorf("container init: %s", m.Error)
			if m.Code != 0 {
				return &ExitError{Code: m.Code, Err: e}
			}
			return e
		default:
			return fmt.Errorf("protocol: unexpected %s", m.Type)
		}
	}
}

// exitHint reaps the dead init and says how it ended.
func (cr *creator) exitHint() string {
	if cr.cmd == nil {
		return ""
	}
	if err := cr.cmd.Wait(); err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

func (cr *creator) createRuntimeHooks() error {
	h := cr.spec.Hooks
	state := stateJSON(cr.o.ID, Creating, cr.cmd.Process.Pid, cr.bundle, cr.spec.Annotations)
	if err := runHooks(h.Prestart, state, "prestart"); err != nil {
		return err
	}
	return runHooks(h.CreateRuntime, state, "createRuntime")
}

// saveCreating writes the first state.json, with config.json beside it:
// status creating, this process as the creator, and the cgroup create is
// about to make.
func (cr *creator) saveCreating() error {
	self, err := readProcStat(os.Getpid())
	if err != nil {
		return fmt.Errorf("read own start time: %w", err)
	}
	st := &savedState{
		ID: cr.o.ID, Bundle: cr.bundle, Created: time.Now().UTC(), Annotations: cr.spec.Annotations,
		Config: cr.spec, CgroupPath: cr.cgroup.Path(),
		Creating: true, Creator: os.Getpid(), CreatorStart: self.StartTime,
	}
	return st.save(cr.dir)
}

// saveState replaces the 'creating' state.json with the created one: the
// init's pid and start time. config.json was written with the first one.
func (cr *creator) saveState() error {
	pid := cr.cmd.Process.Pid
	ps, err := readProcStat(pid)
	if err != nil {
		return fmt.Errorf("read start time of init %d: %w", pid, err)
	}
	st := savedState{
		ID: cr.o.ID, Bundle: cr.bundle, Pid: pid, StartTime: ps.StartTime,
		Created: time.Now().UTC(), Annotations: cr.spec.Annotations,
		CgroupPath: cr.cgroup.Path(),
	}
	if err := st.save(cr.dir); err != nil {
		return err
	}
	st.Config = cr.spec
	cr.st = &st
	if cr.o.PidFile != "" {
		if err := writeFileAtomic(cr.o.PidFile, []byte(strconv.Itoa(pid))); err != nil {
			return fmt.Errorf("write pid file: %w", err)
		}
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Load finds an existing container by id.
func Load(root, id string) (*Container, error) {
	return load(root, id, true)
}

// StatusOf is Load(root, id).Status() for callers that need only the
// status, such as `ps` over many containers: it reads state.json alone,
// not the spec in config.json.
func StatusOf(root, id string) (Status, error) {
	c, err := load(root, id, false)
	if err != nil {
		return Stopped, err
	}
	return c.Status(), nil
}

// load reads a container's state; the spec too when withConfig (without
// it, c.st.Config is nil and only the status may be asked).
func load(root, id string, withConfig bool) (*Container, error) {
	if root == "" {
		root = DefaultRoot
	}
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	st, err := loadState(dir, withConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err != nil {
		return nil, err
	}
	return &Container{ID: id, Bundle: st.Bundle, dir: dir, st: st}, nil
}

// List returns the containers under root, sorted by id.
func List(root string) ([]*Container, error) {
	if root == "" {
		root = DefaultRoot
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, e := range ents {
		if c, err := Load(root, e.Name()); err == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Status asks the kernel where the container is in its lifecycle.
func (c *Container) Status() Status { return statusOf(c.dir, c.st) }

// Pid is the init's pid on the host.
func (c *Container) Pid() int { return c.st.Pid }

// Created is when create finished.
func (c *Container) Created() time.Time { return c.st.Created }

// Spec is the configuration the container was created with.
func (c *Container) Spec() *specs.Spec { return c.st.Config }

// State is the OCI state (runtime.md "State"); a stopped container's pid
// is reported as 0, as runc does.
func (c *Container) State() specs.State {
	st := c.Status()
	pid := c.st.Pid
	if st == Stopped {
		pid = 0
	}
	return specs.State{Version: specs.Version, ID: c.ID, Status: specs.ContainerState(st),
		Pid: pid, Bundle: c.st.Bundle, Annotations: c.st.Annotations}
}

// startStep is the step that releases the init: open the FIFO's read end.
func startStep(dir string) explain.Step {
	return explain.Step{
		ID: "lifecycle-start", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "start: abre exec.fifo para leitura", EN: "start: open exec.fifo for reading"},
		Why: explain.Text{PT: "O init, bloqueado na escrita, é liberado e executa o programa do usuário.",
			EN: "The init, blocked on the write side, is released and runs the user's program."},
		Shell: "cat " + filepath.Join(dir, fifoName),
	}
}

// Start releases the init of a created container, which then execs the
// user's program, and runs the poststart hooks.
func (c *Container) Start(tr *explain.Tracer) error {
	if st := c.Status(); !canStart(st) {
		return &TransitionError{Op: "start", Status: st}
	}
	s := startStep(c.dir)
	fifo := -1
	s.Do = func() (err error) {
		fifo, err = c.releaseInit()
		return err
	}
	if err := tr.Do(s, nil); err != nil {
		return err
	}
	if fifo >= 0 {
		c.waitExec(fifo)
		unix.Close(fifo)
	}
	if h := c.st.Config.Hooks; h != nil && len(h.Poststart) > 0 {
		// Poststart failures are warnings (config.md "Poststart").
		warnHooks(os.Stderr, h.Poststart, stateJSON(c.ID, Running, c.st.Pid, c.st.Bundle, c.st.Annotations), "poststart")
	}
	return nil
}

// releaseInit opens the FIFO without blocking (the init may have died),
// waits for its byte, then removes it: from now on the container is running.
// It returns the FIFO's read end, for waitExec.
func (c *Container) releaseInit() (int, error) {
	path := filepath.Join(c.dir, fifoName)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1)
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			break
		}
		if err == nil || errors.Is(err, unix.EAGAIN) {
			err = nil
			if ps, perr := readProcStat(c.st.Pid); perr != nil || ps.State == 'Z' || ps.StartTime != c.st.StartTime {
				err = fmt.Errorf("container init %d died before start", c.st.Pid)
			} else if time.Now().After(deadline) {
				err = fmt.Errorf("timed out waiting for container init %d", c.st.Pid)
			}
		} else {
			err = fmt.Errorf("read %s: %w", path, err)
		}
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 50)
	}
	if err := os.Remove(path); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("remove %s: %w", path, err)
	}
	return fd, nil
}

// waitExec waits until the user's program is executed. The init keeps its
// write end of the FIFO open (close-on-exec) until that execve: end of file
// on the read end means the program runs (or the init died), the moment the
// poststart hooks wait for (config.md "Poststart", init.go).
func (c *Container) waitExec(fd int) {
	buf := make([]byte, 1)
	for {
		n, err := unix.Read(fd, buf)
		if n == 0 && err == nil {
			return
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return
		}
		if ps, err := readProcStat(c.st.Pid); err != nil || ps.State == 'Z' || ps.StartTime != c.st.StartTime {
			return // gone: its end is closed, or about to be
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 50)
	}
}

// ParseSignal accepts "KILL", "SIGKILL" or "9".
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

// Signal sends sig to the container's init.
func (c *Container) Signal(sig unix.Signal, tr *explain.Tracer) error {
	if st := c.Status(); !canKill(st) {
		return &TransitionError{Op: "kill", Status: st}
	}
	return tr.Do(explain.Step{
		ID: "lifecycle-kill", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Envia " + unix.SignalName(sig) + " ao init", EN: "Send " + unix.SignalName(sig) + " to the init"},
		Why: explain.Text{PT: "Como PID 1 do namespace, o init só recebe sinais que ele mesmo trata (exceto KILL e STOP).",
			EN: "As PID 1 of its namespace, the init only gets signals it handles (except KILL and STOP)."},
		Shell: fmt.Sprintf("kill -%s %d", strings.TrimPrefix(unix.SignalName(sig), "SIG"), c.st.Pid),
		Do: func() error {
			if err := unix.Kill(c.st.Pid, sig); err != nil {
				return fmt.Errorf("signal init %d: %w", c.st.Pid, err)
			}
			return nil
		},
	}, nil)
}

// SignalAll sends sig to every process of the container's cgroup, the
// init last (`runc kill --all`): a container whose init is not alone in
// a pid namespace of its own (or that ignores sig as PID 1) has its other
// processes reached too. Processes that are gone meanwhile are no error.
func (c *Container) SignalAll(sig unix.Signal, tr *explain.Tracer) error {
	if st := c.Status(); !canKill(st) {
		return &TransitionError{Op: "kill", Status: st}
	}
	name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
	return tr.Do(explain.Step{
		ID: "lifecycle-kill", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Envia " + unix.SignalName(sig) + " a todos os processos do contêiner", EN: "Send " + unix.SignalName(sig) + " to every process of the container"},
		Why: explain.Text{PT: "kill --all: os processos do cgroup do contêiner recebem o sinal, não só o init.",
			EN: "kill --all: the processes of the container's cgroup get the signal, not only the init."},
		// cgroup v2's path; on v1 the same path under each controller.
		Shell: fmt.Sprintf("kill -%s $(cat /sys/fs/cgroup%s/cgroup.procs)", name, c.st.CgroupPath),
		Do: func() error {
			var pids []int
			if c.st.CgroupPath != "" {
				mgr, err := c.cgroup(tr)
				if err != nil {
					return err
				}
				if pids, err = mgr.Procs(); err != nil {
					return err
				}
			}
			for _, pid := range pids {
				if pid == c.st.Pid {
					continue
				}
				if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
					return fmt.Errorf("signal %d: %w", pid, err)
				}
			}
			if err := unix.Kill(c.st.Pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("signal init %d: %w", c.st.Pid, err)
			}
			return nil
		},
	}, nil)
}

// Wait waits for the init to exit and returns its exit code (128+signal
// for a killed process, as shells report it). Only the process that
// created the container can wait for it.
func (c *Container) Wait() (int, error) {
	if c.cmd == nil {
		return -1, fmt.Errorf("wait %s: not created by this process", c.ID)
	}
	code, err := waitCode(c.cmd)
	if c.relay != nil {
		<-c.relay
		c.conn.close()
	}
	return code, err
}

// Delete removes a stopped container: poststop hooks, then the state
// directory. With force, a created or running container is killed first,
// and so is the process still creating one (its create is ended as if it
// had been killed). Each removal treats "already gone" as success, so Delete can be retried.
func (c *Container) Delete(force bool, tr *explain.Tracer) error {
	st := c.Status()
	if st == Creating && force {
		// Its create is still at work (a shim, a `create` the user gave
		// up on): force ends it first, as for a create that was killed,
		// and then removes what it left like any dead create's.
		if err := tr.Do(explain.Step{
			ID: "lifecycle-kill", Chapter: explain.ChapterLifecycle,
			Title: explain.Text{PT: fmt.Sprintf("delete --force: mata o create ainda em curso (pid %d)", c.st.Creator),
				EN: fmt.Sprintf("delete --force: kill the create still at work (pid %d)", c.st.Creator)},
			Why: explain.Text{PT: "Quem cria o contêiner ainda está vivo: --force o encerra como se tivesse morrido, e remove o que ficou.",
				EN: "Whoever creates the container is still alive: --force ends it as if it had died, and removes what it left."},
			Shell: fmt.Sprintf("kill -KILL %d", c.st.Creator),
			Do:    func() error { return c.killCreator(10 * time.Second) },
		}, nil); err != nil {
			return err
		}
		// It may have saved the init's pid before it died: read again.
		fresh, err := loadState(c.dir, true)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // its rollback removed everything
		}
		if err != nil {
			return err
		}
		c.st = fresh
		st = c.Status()
	}
	if st == Creating || (!canDelete(st) && c.st.Pid <= 0) {
		// Without force a create at work owns its rollback; and never
		// kill(0): that would signal this whole process group.
		return &TransitionError{Op: "delete", Status: st}
	}
	if !canDelete(st) {
		if !force {
			return &TransitionError{Op: "delete", Status: st}
		}
		if st == Paused {
			// A frozen task (v1 freezer) handles SIGKILL only once thawed.
			if err := c.Resume(tr); err != nil {
				return err
			}
		}
		// delete --force kills the init first (runc's destroy does the
		// same): a narrated step of its own, so the student sees why a
		// running container stopped.
		if err := tr.Do(explain.Step{
			ID: "lifecycle-kill", Chapter: explain.ChapterLifecycle,
			Title: explain.Text{PT: fmt.Sprintf("delete --force: envia SIGKILL ao init %d", c.st.Pid),
				EN: fmt.Sprintf("delete --force: send SIGKILL to the init %d", c.st.Pid)},
			Why: explain.Text{PT: "Um contêiner vivo não pode ser removido: --force o mata antes e espera o fim.",
				EN: "A live container cannot be removed: --force kills it first and waits for its end."},
			Shell: fmt.Sprintf("kill -KILL %d", c.st.Pid),
			Do: func() error {
				if err := unix.Kill(c.st.Pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
					return fmt.Errorf("kill init %d: %w", c.st.Pid, err)
				}
				return c.waitStopped(10 * time.Second)
			},
		}, nil); err != nil {
			return err
		}
	}
	return tr.Do(explain.Step{
		ID: "lifecycle-delete", Chapter: explain.ChapterLifecycle,
		Title: explain.Text{PT: "Remove o contêiner " + c.ID, EN: "Delete container " + c.ID},
		Why: explain.Text{PT: "Cgroups e diretório de estado saem, depois rodam os hooks poststop: nada do contêiner fica no host.",
			EN: "Cgroups and the state directory go, then the poststop hooks run: nothing of the container stays on the host."},
		Shell: "rm -rf " + c.dir,
		Do: func() error {
			if c.st.CgroupPath != "" {
				mgr, err := cgroups.LoadTraced(c.st.CgroupPath, tr)
				if err != nil {
					return err
				}
				// What is still in the cgroup dies first, as runc's destroy
				// signals every process of it: the init of a create that
				// was killed before it saved the pid (no pid to kill but
				// this way), or the children of an init that had no pid
				// namespace of its own. rmdir then waits for them to go.
				if pids, err := mgr.Procs(); err == nil {
					for _, pid := range pids {
						unix.Kill(pid, unix.SIGKILL)
					}
				}
				if err := mgr.Destroy(); err != nil {
					return err
				}
			}
			if err := unmountHostMounts(c.dir); err != nil {
				return err
			}
			if err := os.RemoveAll(c.dir); err != nil {
				return fmt.Errorf("remove state dir %s: %w", c.dir, err)
			}
			// Poststop hooks run once the container is gone (runtime.md,
			// lifecycle steps 12-13); their failures are only warnings.
			if h := c.st.Config.Hooks; h != nil && len(h.Poststop) > 0 {
				warnHooks(os.Stderr, h.Poststop, stateJSON(c.ID, Stopped, 0, c.st.Bundle, c.st.Annotations), "poststop")
			}
			return nil
		},
	}, nil)
}

// DeleteByID is `delete [--force] ID`. With force it also removes what a
// create killed before its first state.json left: a state directory with
// no state.json, hence no cgroup or process yet (state.json is written
// before either). runc's delete does the same for "an aborted start".
func DeleteByID(root, id string, force bool, tr *explain.Tracer) error {
	c, err := Load(root, id)
	if err == nil {
		return c.Delete(force, tr)
	}
	if !force || !errors.Is(err, ErrNotExist) {
		return err
	}
	if root == "" {
		root = DefaultRoot
	}
	dir := filepath.Join(root, id)
	if _, serr := os.Lstat(dir); serr != nil {
		return err // nothing there at all
	}
	if rerr := os.RemoveAll(dir); rerr != nil {
		return fmt.Errorf("remove partial state dir %s: %w", dir, rerr)
	}
	return nil
}

// killCreator kills the process that is creating the container and waits
// until it is gone. The pid comes from state.json, so it is checked
// through a pidfd (pidfd_open(2)): the start time is compared after the
// pidfd is open, so the signal (pidfd_send_signal(2)) can only reach the
// process that wrote the state, never one that reused its pid. The
// pidfd turns readable when the process exits.
func (c *Container) killCreator(timeout time.Duration) error {
	pid := c.st.Creator
	if pid <= 0 || pid == os.Getpid() {
		return &TransitionError{Op: "delete", Status: Creating}
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // it died meanwhile
	}
	if err != nil {
		return fmt.Errorf("container %s: open creator %d: %w", c.ID, pid, err)
	}
	defer unix.Close(fd)
	if !alive(pid, c.st.CreatorStart) {
		return nil // gone, or the pid is another process's now
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("container %s: kill creator %d: %w", c.ID, pid, err)
	}
	deadline := time.Now().Add(timeout)
	for alive(pid, c.st.CreatorStart) {
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s: creator %d did not die", c.ID, pid)
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
	}
	return nil
}

// waitStopped waits until the kernel says the init is gone. A container
// killed by another process is reaped by its parent (or by pid 1), so this
// process cannot wait(2) for it; a pidfd (pidfd_open(2)) becomes readable
// the moment it exits, with no polling.
func (c *Container) waitStopped(timeout time.Duration) error {
	if c.cmd != nil {
		c.cmd.Wait()
	}
	deadline := time.Now().Add(timeout)
	if fd, err := unix.PidfdOpen(c.st.Pid, 0); err == nil {
		defer unix.Close(fd)
		for c.Status() != Stopped && time.Now().Before(deadline) {
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
		}
	}
	for c.Status() != Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s: init %d did not die", c.ID, c.st.Pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// hostID is the host id that id 0 of the container maps to (0 without a
// user namespace).
func hostID(m []specs.LinuxIDMapping) int {
	for _, e := range m {
		if e.ContainerID == 0 {
			return int(e.HostID)
		}
	}
	return 0
}

// idMapLines renders ID mappings as printf(1)'s format for uid_map's
// lines, "INSIDE OUTSIDE COUNT\n" per mapping (user_namespaces(7)): the
// kernel takes the whole map in one write.
func idMapLines(ms []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\\n", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}
