package container

// Detached containers: the shim, and the commands that talk to it or to
// the container it watches (stop, kill, wait, logs, start, rename, prune).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image/layer"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/prunefilter"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Socket is the shim's attach socket. It lives under the state root with a
// short name: a unix socket path may not pass 107 bytes (unix(7)). Its
// directory's name starts with a dot, which no container id may (see
// runtime.ValidateID): an OCI container may be called "shims" without
// meeting the sockets.
func (m *Manager) Socket(id string) string {
	return filepath.Join(m.StateRoot, ShimsDir, id[:12]+".sock")
}

// ShimsDir is the directory of the state root that holds the shims'
// sockets: minirun's only entry there that is not a container.
const ShimsDir = ".shims"

// RunDetached prepares a container and hands it to a new shim; it returns
// once the container runs (`docker run -d`).
//
// With attachFirst the shim waits, after create, for a client to attach
// before it starts the container: the attached `run` uses it.
func (m *Manager) RunDetached(o RunOpts, attachFirst bool, tr *explain.Tracer) (meta *Meta, retErr error) {
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = fullDisk(m.DataRoot, errors.Join(retErr, undo.Run()))
		}
	}()
	// ORDER: the shim is started first, with the id its container will
	// have, and told to go once prepare has made the container: the
	// shim's start-up (the Go runtime and every package's initialiser,
	// ~19 ms) then runs beside prepare's image lookup, overlay mount and
	// bundle, instead of after them.
	o.id = newID()
	sh, err := m.startShim(o.id, attachFirst, tr)
	if err != nil {
		return nil, err
	}
	meta, _, err = m.prepare(o, tr, &undo)
	if err != nil {
		return nil, errors.Join(err, sh.abort())
	}
	// The shim creates the container and rolls its create back when
	// create fails; but a shim killed half way (SIGKILL, OOM) rolls back
	// nothing, and its runtime state and cgroups would outlive the
	// container's directory, with no name left to remove them by. Force
	// deletes them, killing the shim first if it is still creating.
	id := meta.ID // meta, the result, is nil by the time undo runs
	undo.Add("delete runtime state", func() error {
		if err := runtime.DeleteByID(m.StateRoot, id, true, nil); err != nil && !errors.Is(err, runtime.ErrNotExist) {
			return err
		}
		return nil
	})
	if err := sh.run(); err != nil {
		return nil, err
	}
	undo.Release()
	return meta, nil
}

// envShimExplain names, in the shim's environment, the descriptor on
// which it narrates the network steps it takes for the container (one JSON
// event a line), for the `run -d` that started it to pass on to its own
// tracer: the address, the veth, the published ports happen in the shim,
// since only the shim knows the init's pid.
const envShimExplain = "MINIRUN_SHIM_EXPLAIN_FD"

// envShimGo names, in the shim's environment, the descriptor on which a
// shim started before its container existed waits for the word to go:
// the container's id once it is made; end of file instead means "nothing
// to run", and the shim exits.
const envShimGo = "MINIRUN_SHIM_GO_FD"

// WaitForGo is the start of a shim started by startShim, before its
// container was made: it waits on the descriptor envShimGo names for its
// id, the word to go (ok is false when the pipe closes without it: the
// run failed, there is nothing to do), then points its stdout and stderr
// at the container's shim.log, where a shim's messages and a Go panic
// belong. A shim started any other way goes at once.
func (m *Manager) WaitForGo(id string) (ok bool, err error) {
	v, set := os.LookupEnv(envShimGo)
	if !set {
		return true, nil
	}
	os.Unsetenv(envShimGo)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return false, fmt.Errorf("shim: %s=%q names no descriptor", envShimGo, v)
	}
	f := os.NewFile(uintptr(fd), "shim-go")
	line, err := bufio.NewReader(f).ReadString('\n')
	f.Close()
	if err != nil {
		return false, nil // end of file: no container
	}
	if got := strings.TrimSpace(line); got != id {
		return false, fmt.Errorf("shim %s: told to go for %q", id, got)
	}
	logf, err := os.OpenFile(filepath.Join(m.dir(id), "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	for _, std := range []int{1, 2} {
		if err := unix.Dup3(int(logf.Fd()), std, 0); err != nil {
			return false, fmt.Errorf("shim: stdout and stderr to %s: %w", logf.Name(), err)
		}
	}
	return true, nil
}

// startingShim is `minirun shim ID` started, in a session of its own,
// before its container was made (or mounted, for a start): it waits for
// run (go), which then waits for its word, "ok" once the container runs
// or the error, or for abort (no container). When tr narrates, the
// shim's network steps are relayed to it.
type startingShim struct {
	m       *Manager
	id      string   // the container's id
	ready   *os.File // the shim's word: "ok" or the error
	goW     *os.File // the word to go (the id) is written here
	relayed chan struct{}
	exited  chan struct{}
	went    bool // told to go: from then on the shim rolls back itself
}

// startShim starts `minirun shim ID`, which boots and then waits for the
// word to go on a pipe.
func (m *Manager) startShim(id string, attachFirst bool, tr *explain.Tracer) (_ *startingShim, retErr error) {
	// The shim's ends of the pipes are closed here once it has its copies
	// (or failed to start); ours only when this fails.
	var ours, theirs []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	defer func() {
		closeAll(theirs)
		if retErr != nil {
			closeAll(ours)
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ours, theirs = append(ours, r), append(theirs, w)
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ours, theirs = append(ours, goW), append(theirs, goR)
	// NOTE: re-executing /proc/self/exe is how runc was exploited in
	// CVE-2019-5736; the security chapter shows the fix for the init.
	cmd := exec.Command("/proc/self/exe", "--root", m.StateRoot, "--data-root", m.DataRoot, "shim", id)
	if attachFirst {
		cmd.Args = append(cmd.Args[:len(cmd.Args)-1], "--attach-first", id)
	}
	cmd.Args[0] = "minirun-shim"
	// The Go runtime reads this before any package initialiser runs: a
	// shim idles for the container's whole life, and one container's
	// stdio needs no parallelism (one P, fewer threads). The garbage
	// collector keeps Go's default (GOGC=100) while the shim starts the
	// container: its start-up heap stays under the first collection's
	// 4 MB goal, where GOGC=20 ran four collections, on the critical path
	// of every run (`GODEBUG=gctrace=1`); ReleaseIdleMemory lowers it to
	// 20% once the container runs. The container's init does not inherit
	// the environment: runtime.Create gives it only its own two
	// variables (runtime.initCmd).
	//
	// Its stdout and stderr are /dev/null until it knows its container:
	// then it sends them to the container's shim.log (cmd/minirun's shim
	// command).
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", envShimGo+"=4")
	cmd.ExtraFiles = []*os.File{w, goR} // fd 3 and fd 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sh := &startingShim{m: m, id: id, ready: r, goW: goW, exited: make(chan struct{})}
	if relay := tr.Relay(); relay != nil {
		nr, nw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		theirs = append(theirs, nw)
		cmd.ExtraFiles = append(cmd.ExtraFiles, nw)
		cmd.Env = append(cmd.Env, envShimExplain+"=5")
		sh.relayed = make(chan struct{})
		go func() {
			defer close(sh.relayed)
			defer nr.Close()
			relayEvents(nr, relay)
		}()
	}
	if err := cmd.Start(); err != nil {
		if sh.relayed != nil {
			// Its write end closed, the relay reads end of file and ends.
			closeAll(theirs)
			theirs = nil
			<-sh.relayed
		}
		return nil, fmt.Errorf("start shim: %w", err)
	}
	// Reap the shim when it ends. A `run -d` exits long before (the shim
	// then belongs to init), but a daemon lives on: without a wait, every
	// container it ran would leave a zombie minirun-shim among its
	// children (wait(2)), 200 after 200 `docker run --rm`.
	go func() {
		cmd.Wait()
		close(sh.exited)
	}()
	return sh, nil
}

// abort tells a shim that there is no container (its id pipe closes) and
// waits for it to exit: a failed run leaves no process behind.
func (sh *startingShim) abort() error {
	if sh.went {
		return nil
	}
	sh.goW.Close()
	sh.ready.Close()
	if sh.relayed != nil {
		<-sh.relayed
	}
	select {
	case <-sh.exited:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("the shim did not exit after its container's creation failed")
	}
}

// run tells the shim to go, then waits for its word.
func (sh *startingShim) run() error {
	id := sh.id
	defer sh.ready.Close()
	// The state root first, 0711 as runtime.Create makes it: the init of
	// a container with a user namespace runs as a remapped uid and must
	// get through it to the minirun-init extracted there
	// (runtime/selfexe.go). MkdirAll would give it the sockets' 0700.
	if err := os.MkdirAll(sh.m.StateRoot, 0o711); err != nil {
		return errors.Join(err, sh.abort())
	}
	if err := os.MkdirAll(filepath.Dir(sh.m.Socket(id)), 0o700); err != nil {
		return errors.Join(err, sh.abort())
	}
	_, err := sh.goW.WriteString(id + "\n")
	if err != nil {
		return errors.Join(fmt.Errorf("start shim: %w", err), sh.abort())
	}
	sh.goW.Close()
	sh.went = true
	line, _ := bufio.NewReader(sh.ready).ReadString('\n')
	line = strings.TrimSpace(line)
	if sh.relayed != nil {
		// The shim closes its end once the container is plugged in (or
		// when it exits): every network step is told before run returns.
		<-sh.relayed
	}
	switch {
	case line == "ok":
		return nil
	case strings.HasPrefix(line, "error "):
		codeStr, msg, _ := strings.Cut(strings.TrimPrefix(line, "error "), " ")
		code, err := strconv.Atoi(codeStr)
		if err != nil || code == 1 {
			return errors.New(msg)
		}
		return &runtime.ExitError{Code: code, Err: errors.New(msg)}
	}
	// Say what the shim said, not where: the caller's rollback removes
	// the container's directory, shim.log with it.
	return fmt.Errorf("the shim died before the container started: %s", lastLine(filepath.Join(sh.m.dir(id), "shim.log")))
}

// lastLine is the last non-empty line of a small log file, or a note
// that it has none.
func lastLine(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("no log (%v)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return "it wrote nothing"
}

// ShimConfig is what `minirun shim ID` needs to run the container.
func (m *Manager) ShimConfig(id string, ready *os.File) (shim.Config, error) {
	meta, err := loadMeta(m.dir(id))
	if err != nil {
		return shim.Config{}, err
	}
	spec, err := runtime.LoadSpec(m.dir(id))
	if err != nil {
		return shim.Config{}, err
	}
	ev := &shimEvents{m: m, id: id}
	if fd, err := strconv.Atoi(os.Getenv(envShimExplain)); err == nil && fd > 2 {
		os.Unsetenv(envShimExplain)
		// Close on exec: the container's init must not hold the CLI's
		// pipe open.
		unix.CloseOnExec(fd)
		ev.narration = os.NewFile(uintptr(fd), "explain")
		ev.tr = explain.New(&explain.JSONSink{W: ev.narration})
	}
	return shim.Config{
		ID: id, Bundle: m.dir(id), StateRoot: m.StateRoot, Spec: spec,
		LogPath: meta.LogPath, Socket: m.Socket(id), Restart: meta.HostConfig.RestartPolicy,
		Interactive: meta.Config.OpenStdin, Ready: ready, Events: ev, Tracer: ev.tr,
	}, nil
}

// relayEvents passes the JSON events a shim narrates on r to relay, until
// the shim closes its end.
func relayEvents(r io.Reader, relay explain.Sink) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev explain.Event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		end := ev // Begin renumbers ev; End finds it by the shim's number
		if relay.Begin(&ev) == nil {
			relay.End(&end)
		}
	}
}

// shimEvents records what the shim reports in the container's meta.json.
type shimEvents struct {
	m  *Manager
	id string
	ep *network.Endpoint
	// tr narrates the network steps of the first start to the `run -d`
	// that spawned the shim, over narration; nil once that is done.
	tr        *explain.Tracer
	narration *os.File
	// detached carries the result of the network's removal after the
	// last exit, which runs beside Finished's unmount and removal.
	detached chan error
}

// doneNarrating closes the narration: the `run -d` waiting for it goes on.
func (e *shimEvents) doneNarrating() {
	if e.narration != nil {
		e.narration.Close()
		e.narration, e.tr = nil, nil
	}
}

func (e *shimEvents) BeforeCreate() error {
	meta, err := loadMeta(e.m.dir(e.id))
	if err != nil {
		return err
	}
	// What a crashed run may have left goes first.
	e.m.detachNetworks(e.id)
	ep, _, err := e.m.reserveNetwork(meta, e.tr)
	e.ep = ep
	if err != nil {
		e.doneNarrating()
	}
	return err
}

func (e *shimEvents) Created(pid int) error {
	err := e.m.attachNetwork(e.ep, pid, e.tr)
	e.doneNarrating()
	if err != nil {
		e.m.detachNetworks(e.id)
		return err
	}
	return e.update(func(meta *Meta) {
		meta.NetworkSettings.Networks = map[string]*network.Endpoint{e.ep.NetworkName: e.ep}
	})
}

func (e *shimEvents) update(fn func(*Meta)) error {
	unlock, err := e.m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	meta, err := loadMeta(e.m.dir(e.id))
	if err != nil {
		return err
	}
	fn(meta)
	return meta.save(e.m.dir(e.id))
}

func (e *shimEvents) Started(pid, restarts int) error {
	return e.update(func(meta *Meta) {
		meta.State = State{Status: "running", Running: true, Pid: pid, StartedAt: time.Now().UTC(), FinishedAt: meta.State.FinishedAt}
		meta.RestartCount = restarts
	})
}

func (e *shimEvents) Exited(code int, oom, restarting bool) error {
	var derr error
	if restarting {
		// The next BeforeCreate reserves the address again.
		derr = e.m.detachNetworks(e.id)
	} else {
		// The last exit: the veth's deletion (the kernel waits for RCU
		// grace periods before a device is gone: several ms) runs
		// beside Finished's unmount and removal, which touch neither
		// the network store nor the links. Finished waits for
		// it, so the shim still ends (and run --rm, stop and wait
		// return) only once both are done.
		e.detached = make(chan error, 1)
		go func() { e.detached <- e.m.detachNetworks(e.id) }()
	}
	return errors.Join(derr, e.update(func(meta *Meta) {
		meta.NetworkSettings.Networks = nil
		st := State{Status: "exited", ExitCode: code, OOMKilled: oom, StartedAt: meta.State.StartedAt, FinishedAt: time.Now().UTC()}
		if restarting {
			st.Status, st.Restarting = "restarting", true
		}
		meta.State = st
	}))
}

// StopRequested reports a container being removed: rm renamed its
// directory away. (stop and kill tell the shim themselves, over its
// socket; rm does too, but a full disk or a dead client must not make the
// policy start a container whose directory is gone.)
func (e *shimEvents) StopRequested() bool {
	_, err := os.Stat(e.m.dir(e.id))
	return errors.Is(err, fs.ErrNotExist)
}

// Finished unmounts the rootfs (the upper dir stays for `start`), and
// removes the container when it was run with --rm; it returns once the
// network's removal that Exited began is over too.
func (e *shimEvents) Finished() error {
	err := e.finish()
	if e.detached != nil {
		err = errors.Join(<-e.detached, err)
		e.detached = nil
	}
	return err
}

func (e *shimEvents) finish() error {
	meta, err := loadMeta(e.m.dir(e.id))
	if err != nil {
		return err
	}
	// e.tr is nil by now (the CLI stopped listening once the container
	// started): the step runs silently, but through the same code.
	if err := e.tr.Do(overlay.UnmountStep(meta.Rootfs()), nil); err != nil {
		return err
	}
	if err := e.m.releaseVolumes(meta, nil); err != nil {
		return err
	}
	if meta.HostConfig.AutoRemove {
		// --rm removes the anonymous volumes too, as Docker does.
		if err := e.m.discard(e.id); err != nil {
			return err
		}
		return e.m.removeAnonymousVolumes(meta)
	}
	return nil
}

// Start starts an exited (or created) container again, on the same
// rootfs: `docker start`.
func (m *Manager) Start(ref string, attachFirst bool) (*Meta, error) {
	return m.StartExplained(ref, attachFirst, nil)
}

// StartExplained is Start narrated to tr: the rootfs mount, the shim's
// create (cgroups, namespaces) and its network steps. The daemon's
// POST /containers/{id}/start passes its request trace (`explain api`).
func (m *Manager) StartExplained(ref string, attachFirst bool, tr *explain.Tracer) (*Meta, error) {
	meta, err := m.Get(ref)
	if err != nil {
		return nil, err
	}
	switch meta.State.Status {
	case "running", "restarting":
		return meta, nil // Docker: starting a running container is a no-op
	}
	// A data root closed since (secureDataRoot) must let the remapped
	// root through again.
	if r := meta.HostConfig.UsernsRemap; r != nil {
		if err := m.allowRemappedRoot(meta.ID, r.GID, nil); err != nil {
			return nil, err
		}
	}
	// The previous shim may still be finishing (unmounting, removing its
	// socket): a new one must not start under its feet. A container made
	// by Create has had no shim: it would wait in vain for an exit.
	if meta.State.Status != "created" {
		if _, err := m.Wait(meta.ID, 10*time.Second); err != nil {
			return nil, err
		}
	}
	// As in RunDetached: the shim starts up beside the mount (it makes
	// nothing, not even its socket, before the word to go).
	sh, err := m.startShim(meta.ID, attachFirst, tr)
	if err != nil {
		return nil, err
	}
	meta, err = m.startPrepared(meta, sh, tr)
	if err != nil {
		return nil, errors.Join(err, sh.abort())
	}
	return meta, nil
}

// startPrepared mounts a container's rootfs and takes its volumes for a
// start, then tells the shim to go.
func (m *Manager) startPrepared(meta *Meta, sh *startingShim, tr *explain.Tracer) (*Meta, error) {
	img, err := m.Images.Get(meta.Image)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", meta.Name, err)
	}
	layers, err := m.Images.LayerDirs(img)
	if err != nil {
		return nil, err
	}
	// Whatever a crash left of the runtime's state goes first.
	if c, err := runtime.Load(m.StateRoot, meta.ID); err == nil {
		c.Delete(true, nil)
	}
	dir := m.dir(meta.ID)
	ov := overlay.Options{Lower: layers, Upper: filepath.Join(dir, "diff"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "merged")}
	// start mounts through the same step as run, with its undo on the
	// stack; a nil tr runs it silently.
	var undo cleanup.Stack
	if meta.GraphDriver.Name != "vfs" {
		if mounted, _ := overlay.Mounted(ov.Target); !mounted {
			if err := tr.Do(overlay.MountStep(ov), &undo); err != nil {
				return nil, err
			}
		}
	}
	if err := m.acquireVolumes(meta, nil); err != nil {
		return nil, errors.Join(err, undo.Run())
	}
	if err := sh.run(); err != nil {
		return nil, errors.Join(err, undo.Run())
	}
	undo.Release()
	return m.Get(meta.ID)
}

// Kill sends a signal to the container's init (`docker kill`, default
// SIGKILL). It counts as a stop: the restart policy does not act. The
// shim sends it (control.go's kill), so the mark and the signal are one
// request; a container with no shim (run in the foreground with
// --explain) is signalled directly.
func (m *Manager) Kill(ref string, sig unix.Signal) error {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	if meta.State.Status == "restarting" {
		// Docker's answer: there is no process to signal right now.
		return fmt.Errorf("container %s is restarting, wait until the container is running", meta.Name)
	}
	err = shim.Kill(m.Socket(meta.ID), sig, false, true)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shim.ErrNotRunning):
		return fmt.Errorf("container %s is not running", meta.Name)
	case !errors.Is(err, shim.ErrNoShim) && !errors.Is(err, shim.ErrShimGone):
		return err
	}
	_, c, err := m.Runtime(meta.ID)
	if err != nil {
		return err
	}
	return c.Signal(sig, nil)
}

// Stop sends SIGTERM, waits up to timeout, then sends SIGKILL, and returns
// once the shim has recorded the exit and ended (`docker stop -t`).
func (m *Manager) Stop(ref string, timeout time.Duration) error {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	if meta.State.Status != "running" && meta.State.Status != "restarting" {
		return nil
	}
	if ok, err := m.stopViaShim(meta, timeout, false); ok {
		return err
	}
	return m.stopWithoutShim(meta, timeout)
}

// shimWait bounds how long a stop waits for a SIGKILLed container's exit
// to be recorded, and for its shim to finish (unmount, --rm removal).
const shimWait = 10 * time.Second

// stopViaShim ends a container through its shim, in this order: register
// as a waiter (so the exit cannot come before the wait), kill SIGTERM
// with the stop mark (unless killNow), wait up to timeout for the exit
// event, kill SIGKILL, wait for the exit, then for the shim's end of file
// (it has recorded the exit and unmounted; a --rm container is gone). No
// timer runs but the grace period: each wait returns the moment the shim
// writes. It reports false when no shim answers.
func (m *Manager) stopViaShim(meta *Meta, timeout time.Duration, killNow bool) (bool, error) {
	socket := m.Socket(meta.ID)
	w, err := shim.Wait(socket)
	if err != nil {
		return false, nil
	}
	defer w.Close()
	// Between two starts of a restart policy there is no init: the stop
	// mark alone ends it (the shim starts nothing more). A shim gone
	// meanwhile took its container with it (its parent-death signal).
	kill := func(sig unix.Signal) error {
		err := shim.Kill(socket, sig, false, true)
		if errors.Is(err, shim.ErrNotRunning) || errors.Is(err, shim.ErrNoShim) || errors.Is(err, shim.ErrShimGone) {
			return nil
		}
		return err
	}
	exited := false
	if !killNow {
		if err := kill(unix.SIGTERM); err != nil {
			return true, err
		}
		// -t 0 is "no grace": straight on to SIGKILL.
		if timeout > 0 {
			_, err := w.Exit(timeout)
			switch {
			case err == nil || errors.Is(err, shim.ErrShimGone):
				exited = true
			case !errors.Is(err, shim.ErrTimeout):
				return true, err
			}
		}
	}
	if !exited {
		if err := kill(unix.SIGKILL); err != nil {
			return true, err
		}
		if _, err := w.Exit(shimWait); err != nil && !errors.Is(err, shim.ErrShimGone) {
			return true, fmt.Errorf("stop %s: %w", meta.Name, err)
		}
	}
	if err := w.Done(shimWait); err != nil {
		return true, fmt.Errorf("stop %s: its shim is still finishing: %w", meta.Name, err)
	}
	return true, nil
}

// stopWithoutShim stops a container no shim looks after: one run in the
// foreground (`run --explain`), whose own process records the end, or one
// whose shim was killed. The kernel is asked directly.
func (m *Manager) stopWithoutShim(meta *Meta, timeout time.Duration) error {
	_, c, err := m.Runtime(meta.ID)
	if err != nil {
		_, err := m.Wait(meta.ID, shimWait)
		return err
	}
	// A pidfd (pidfd_open(2)) becomes readable the moment the init dies:
	// the grace period is one poll(2), not a loop of reads.
	pidfd, perr := unix.PidfdOpen(c.Pid(), 0)
	if perr == nil {
		defer unix.Close(pidfd)
	}
	if err := c.Signal(unix.SIGTERM, nil); err != nil {
		if meta, _ := m.byID(meta.ID); meta != nil && meta.State.Status == "exited" {
			return nil
		}
		return err
	}
	if timeout > 0 && perr == nil {
		waitReadable(pidfd, timeout)
	}
	if c.Status() != runtime.Stopped {
		c.Signal(unix.SIGKILL, nil)
	}
	_, err = m.Wait(meta.ID, shimWait)
	return err
}

// waitReadable waits up to timeout for fd to become readable.
func waitReadable(fd int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if n > 0 || (err != nil && err != unix.EINTR) {
			return
		}
	}
}

// Wait blocks until the container has exited for good (no restart
// follows) and its shim has recorded it and ended, and returns its exit
// code (`docker wait`); timeout 0 waits without limit. The shim tells
// (control.go's wait): no polling. Without a shim the record, checked
// against the kernel, is the answer.
func (m *Manager) Wait(ref string, timeout time.Duration) (int, error) {
	meta, err := m.Get(ref)
	if err != nil {
		return -1, err
	}
	id, name := meta.ID, meta.Name
	deadline := time.Now().Add(timeout)
	left := func() time.Duration {
		if timeout <= 0 {
			return 0 // no limit
		}
		return max(time.Until(deadline), time.Millisecond)
	}
	for {
		if w, err := shim.Wait(m.Socket(id)); err == nil {
			ex, err := w.Exit(left())
			if err == nil {
				// Return once the shim has ended: the record is final,
				// a --rm container is gone, and a start may spawn the
				// next shim.
				err = w.Done(left())
			}
			w.Close()
			switch {
			case err == nil:
				return ex.Code, nil
			case errors.Is(err, shim.ErrTimeout):
				return -1, fmt.Errorf("container %s still running after %v", name, timeout)
			case !errors.Is(err, shim.ErrShimGone):
				return -1, err
			}
			// The shim died (killed): its record, refreshed, tells.
		}
		meta, err = m.byID(id)
		if errors.Is(err, ErrNotFound) {
			// Gone from the listings is not gone from the disk: see
			// WaitRemoved. rm -f of a --rm container returns from here.
			if err := m.WaitRemoved(id, left()); err != nil {
				return -1, err
			}
			return -1, fmt.Errorf("container %s was removed", ref)
		}
		if err != nil {
			return -1, err
		}
		switch meta.State.Status {
		case "exited", "dead", "restarting":
			// No shim: nobody will restart it, nothing more will be
			// recorded.
			return meta.State.ExitCode, nil
		}
		if timeout > 0 && time.Now().After(deadline) {
			return -1, fmt.Errorf("container %s still running after %v", name, timeout)
		}
		waitNoShim(meta, left())
	}
}

// waitNoShim waits, for a container that has no shim to ask, until there
// may be news: its init's end (a pidfd, pidfd_open(2): a container run in
// the foreground with --explain, whose own process records the end), or a
// short while for a container still being made (its shim is about to
// answer).
func waitNoShim(meta *Meta, limit time.Duration) {
	const pause = 20 * time.Millisecond
	if pid := meta.State.Pid; pid > 0 && meta.State.Status == "running" {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			defer unix.Close(fd)
			if limit <= 0 {
				limit = time.Hour // and round again
			}
			waitReadable(fd, limit)
			return
		}
	}
	if limit <= 0 || limit > pause {
		limit = pause
	}
	time.Sleep(limit)
}

// WaitRemoved blocks until the shim of container id has ended (or
// timeout passes; 0 waits without limit). A --rm container's shim hides
// the directory first (discard's rename to a tombstone) and deletes it
// after, and ends only once the files are gone: the removal is over when
// the shim's connection ends (control.go's wait), not when the name
// disappears from the listings. `run --rm` that returned at the rename
// raced the shim's RemoveAll: a CI job that removes its chroot right after
// met "directory not empty", and a tombstone was left behind.
func (m *Manager) WaitRemoved(id string, timeout time.Duration) error {
	w, err := shim.Wait(m.Socket(id))
	if err != nil {
		return nil // no shim (or one that hung up): nothing is being removed
	}
	defer w.Close()
	if err := w.Done(timeout); err != nil {
		return fmt.Errorf("container %s still being removed after %v", id[:shortIDLen], timeout)
	}
	return nil
}

// Exec runs another process in a running container (`docker exec`).
func (m *Manager) Exec(ref string, p *specs.Process, stdio IO, tr *explain.Tracer) (*runtime.Process, error) {
	meta, c, err := m.Runtime(ref)
	if err != nil {
		return nil, err
	}
	if p.User.UID == 0 && p.User.GID == 0 {
		if u, err := resolveUser(meta.Rootfs(), meta.Config.User); err == nil {
			p.User = u
		}
	}
	return c.Exec(runtime.ExecOpts{Process: p, Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr, Tracer: tr})
}

// ResolveUser turns a --user value into numbers with the container's
// own /etc/passwd and /etc/group.
func (m *Manager) ResolveUser(meta *Meta, user string) (specs.User, error) {
	return resolveUser(meta.Rootfs(), user)
}

// Rename gives a container a new name.
func (m *Manager) Rename(ref, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	if other, err := m.Get(name); err == nil && other.ID != meta.ID {
		return fmt.Errorf("the container name %q is already in use", name)
	}
	meta, err = loadMeta(m.dir(meta.ID))
	if err != nil {
		return err
	}
	meta.Name = name
	return meta.save(m.dir(meta.ID))
}

// Prune removes every exited (or never started) container that f selects
// and returns their ids and the bytes their writable layers held, as
// `docker container prune` does.
func (m *Manager) Prune(f prunefilter.Filter) ([]string, uint64, error) {
	all, err := m.List()
	if err != nil {
		return nil, 0, err
	}
	var gone []string
	var freed uint64
	for _, c := range all {
		if c.State.Status != "exited" && c.State.Status != "created" {
			continue
		}
		if !f.Match(c.Config.Labels, c.Created) {
			continue
		}
		size := treeSize(m.writableDir(c))
		if err := m.Remove(c.ID, false); err != nil {
			return gone, freed, err
		}
		gone = append(gone, c.ID)
		freed += size
	}
	return gone, freed, nil
}

// writableDir is where a container's own writes are: the overlay's upper
// dir, or the vfs driver's copy.
func (m *Manager) writableDir(c *Meta) string {
	if d := c.GraphDriver.Data["UpperDir"]; d != "" {
		return d
	}
	if c.GraphDriver.Name == "vfs" {
		return c.GraphDriver.Data["Dir"]
	}
	return filepath.Join(m.dir(c.ID), "diff")
}

// treeSize is the apparent size of the files below dir (what Docker's
// SizeRw and SpaceReclaimed count); 0 when it cannot be read.
func treeSize(dir string) uint64 {
	var n uint64
	if dir == "" {
		return 0
	}
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}

// shimAlive reports whether a shim answers on the socket. A shim killed
// with SIGKILL leaves its socket file behind, with nobody listening.
func shimAlive(socket string) bool {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Export writes the container's filesystem as one tar (`docker export`):
// the merged view, not the layers. A stopped overlay container is mounted
// for the time of the export.
func (m *Manager) Export(ref string, w io.Writer) (retErr error) {
	meta, err := m.Get(ref)
	if err != nil {
		return err
	}
	root := meta.Rootfs()
	// Mounted for the time of the export only: the step's undo unmounts
	// it when WriteTar is done (tr is nil: silent).
	var tr *explain.Tracer
	var undo cleanup.Stack
	if err := m.mountStopped(meta, tr, &undo); err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, undo.Run()) }()
	return layer.WriteTar(w, root)
}
