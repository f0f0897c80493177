package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOpts are the inputs of Exec.
type ExecOpts struct {
	// Process replaces the container's process: args, env, cwd, user,
	// terminal. Capabilities, no_new_privileges and rlimits are the
	// container's when left nil.
	Process *specs.Process
	// Stdin, Stdout and Stderr of the new process; nil means minirun's.
	Stdin, Stdout, Stderr *os.File
	Tracer                *explain.Tracer
}

// Process is a process started by Exec.
type Process struct {
	cmd *exec.Cmd
	// Console is the pty master when the process has a terminal.
	Console *os.File
}

// Pid is the process's pid on the host.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the process and returns its exit code (128+signal).
func (p *Process) Wait() (int, error) { return waitCode(p.cmd) }

// execOrder is the order the parent thread joins namespaces in. The mount
// namespace is not among them: the child joins it itself (see Exec).
var execOrder = []specs.LinuxNamespaceType{
	specs.CgroupNamespace, specs.IPCNamespace, specs.UTSNamespace,
	specs.NetworkNamespace, specs.PIDNamespace, specs.TimeNamespace,
}

// Exec starts another process inside a running container, like `docker
// exec`: same namespaces, same cgroup, same limits and privileges.
//
// How it joins the namespaces without C: a Go program always has several
// threads, and setns(2) changes only the calling thread. So a goroutine is
// locked to a fresh thread, that thread setns()es into the container's
// namespaces, then starts `minirun init` from that thread: a child inherits
// its parent thread's namespaces, and the pid namespace applies to children
// exactly this way. The thread is never unlocked, so the Go runtime discards
// it afterwards. The mount namespace is joined by the child itself, on its
// locked main thread, from an fd passed as fd 4: if the parent joined it,
// the child's execve of /proc/self/exe would resolve in the container's
// /proc, where that thread's pid does not exist.
//
// A user namespace cannot be joined this way: setns(CLONE_NEWUSER) needs a
// single-threaded process. When the container has one, the thread forks a
// child that joins it before it execs (startInUserNS, forkuserns.go).
func (c *Container) Exec(o ExecOpts) (p *Process, retErr error) {
	if st := c.Status(); st != Running {
		return nil, &TransitionError{Op: "exec", Status: st}
	}
	spec := *c.st.Config
	proc := *spec.Process
	if o.Process != nil {
		q := o.Process
		proc.Args, proc.Terminal = q.Args, q.Terminal
		if q.Env != nil {
			proc.Env = q.Env
		}
		if q.Cwd != "" {
			proc.Cwd = q.Cwd
		}
		proc.User = q.User
		if q.Capabilities != nil {
			proc.Capabilities = q.Capabilities
		}
	}
	if len(proc.Args) == 0 {
		return nil, errors.New("exec: no command given")
	}
	if err := ValidateUser(proc.User); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	spec.Process = &proc
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	conn, child, err := newSyncPair()
	if err != nil {
		return nil, err
	}
	undo.Add("close sync socket", conn.close)
	// The path is chosen on the forking thread: a read-only bind of
	// minirun in a private mount namespace, or the sealed copy
	// (CVE-2019-5736: see selfexe.go).
	cmd := initCmd()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = orStd(o.Stdin, os.Stdin), orStd(o.Stdout, os.Stdout), orStd(o.Stderr, os.Stderr)
	mntns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", c.st.Pid))
	if err != nil {
		return nil, fmt.Errorf("open mount namespace of %d: %w", c.st.Pid, err)
	}
	defer mntns.Close()
	cmd.ExtraFiles = []*os.File{child, mntns} // fd 3 and fd 4
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	pid := strconv.Itoa(c.st.Pid)
	err = o.Tracer.Do(explain.Step{
		ID: "ns-join", Chapter: explain.ChapterNamespaces,
		Title: explain.Text{PT: "exec: entra nos namespaces do contêiner", EN: "exec: join the container's namespaces"},
		Why: explain.Text{PT: "setns(2) numa thread só para isso; o processo criado dela já nasce dentro do contêiner.",
			EN: "setns(2) on a thread of its own; the process started from it is born inside the container."},
		Shell: "nsenter --target " + pid + " --mount --uts --ipc --net --pid --cgroup" + userFlag(&spec),
		Do:    func() error { return startInNamespaces(filepath.Dir(c.dir), c.st.Pid, &spec, cmd) },
		Undo:  func() error { cmd.Process.Kill(); cmd.Wait(); return nil },
		Evidence: func() string {
			return "mnt: " + nsInode(pid, "mnt") + " = " + nsInode(strconv.Itoa(cmd.Process.Pid), "mnt")
		},
	}, &undo)
	child.Close()
	if err != nil {
		return nil, err
	}
	mgr, err := cgroups.LoadTraced(c.st.CgroupPath, o.Tracer)
	if err != nil {
		return nil, err
	}
	if err := mgr.Apply(cmd.Process.Pid); err != nil {
		return nil, err
	}
	cr := &creator{o: CreateOpts{ID: c.ID}, spec: &spec, conn: conn, cmd: cmd, tr: o.Tracer}
	if err := conn.send(message{Type: msgConfig, Config: &initConfig{ID: c.ID, Spec: &spec, Bundle: c.st.Bundle, Exec: true, Trace: o.Tracer.Sink() != nil}}); err != nil {
		return nil, err
	}
	if err := cr.serve(true); err != nil {
		return nil, err
	}
	undo.Release()
	p = &Process{cmd: cmd, Console: cr.console}
	if o.Tracer.Sink() != nil {
		go func() { cr.serve(false); conn.close() }()
	} else {
		conn.close()
	}
	return p, nil
}

// startInNamespaces starts cmd from a thread that joined the namespaces
// of pid that the spec gives the container; root is the state root.
func startInNamespaces(root string, pid int, spec *specs.Spec, cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is thrown away
		var err error
		if cmd.Path, err = initExe("", root, true, hasNS(spec, specs.UserNamespace)); err != nil {
			errc <- err
			return
		}
		type nsf struct {
			f    *os.File
			flag uintptr
		}
		var files []nsf
		defer func() {
			for _, n := range files {
				n.f.Close()
			}
		}()
		for _, t := range execOrder {
			if !hasNS(spec, t) {
				continue
			}
			f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, nsFlags[t].file))
			if err != nil {
				errc <- fmt.Errorf("open %s namespace of %d: %w", t, pid, err)
				return
			}
			files = append(files, nsf{f, nsFlags[t].flag})
		}
		for _, n := range files {
			if err := unix.Setns(int(n.f.Fd()), int(n.flag)); err != nil {
				errc <- fmt.Errorf("setns %s: %w", n.f.Name(), err)
				return
			}
		}
		if !hasNS(spec, specs.UserNamespace) {
			errc <- cmd.Start()
			return
		}
		userns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
		if err != nil {
			errc <- fmt.Errorf("open user namespace of %d: %w", pid, err)
			return
		}
		defer userns.Close()
		stdio := []*os.File{cmd.Stdin.(*os.File), cmd.Stdout.(*os.File), cmd.Stderr.(*os.File)}
		cmd.Process, err = startInUserNS(userns, cmd.Path, cmd.Args, cmd.Env, append(stdio, cmd.ExtraFiles...))
		errc <- err
	}()
	return <-errc
}

// userFlag is nsenter's flag for the user namespace, when there is one.
func userFlag(spec *specs.Spec) string {
	if hasNS(spec, specs.UserNamespace) {
		return " --user"
	}
	return ""
}

// waitCode waits for cmd and turns its status into a shell-style code.
func waitCode(cmd *exec.Cmd) (int, error) {
	if cmd.Process != nil {
		parkUntilExit(cmd.Process.Pid)
	}
	err := cmd.Wait()
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, err
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// parkUntilExit returns once the process pid has exited, without reaping
// it, having waited parked on the Go runtime's poller rather than inside a
// system call. The difference matters to a shim, which waits for its
// container's whole life: a goroutine blocked in waitid(2) cannot have its
// stack shrunk by the garbage collector (the runtime never moves the stack
// of a goroutine in a system call), so the stack the create path grew on
// stays resident for as long as the container runs. A pidfd
// (pidfd_open(2), Linux 5.3; PIDFD_NONBLOCK 5.10) becomes readable when
// the process exits, so the goroutine waits on epoll like a socket read,
// and the wait4 that follows (exec.Cmd.Wait) returns at once. Without
// pidfds it returns at once and Cmd.Wait blocks as before.
func parkUntilExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err != nil || n > 0
	})
}
