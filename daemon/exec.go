package daemon

// docker exec through the daemon: POST /containers/{name}/exec keeps an
// exec instance (moby's daemon/exec.go ExecConfig), POST /exec/{id}/start
// runs it with Manager.Exec — what `minirun exec` calls — on the hijacked
// connection, GET /exec/{id}/json reports Running and ExitCode (the
// client reads the exit code there after the stream ends), POST
// /exec/{id}/resize sets its terminal's size.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/runtime"
	"github.com/moby/moby/api/types/common"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execInstance is one exec: created, then started once.
type execInstance struct {
	id, containerID string
	req             ctypes.ExecCreateRequest

	mu      sync.Mutex
	started bool
	running bool
	pid     int
	code    *int
	console *os.File // the pty master while a terminal exec runs
}

// execs are the daemon's exec instances, by id. They live as long as the
// daemon (dockerd drops them with their container; minirun's are small).
type execs struct {
	mu sync.Mutex
	m  map[string]*execInstance
}

func (e *execs) get(id string) (*execInstance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[id]; x != nil {
		return x, nil
	}
	return nil, fmt.Errorf("no such exec instance: %s: %w", id, container.ErrNotFound)
}

func (e *execs) add(x *execInstance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]*execInstance{}
	}
	e.m[x.id] = x
}

// execCreate is POST /containers/{name}/exec: `docker exec`'s first call.
func (d *Daemon) execCreate(w http.ResponseWriter, r *http.Request) {
	var req ctypes.ExecCreateRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if len(req.Cmd) == 0 {
		fail(w, badRequest{errors.New("no exec command specified")})
		return
	}
	if !running(meta) {
		fail(w, conflict{fmt.Errorf("container %s is not running", meta.ID)})
		return
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		fail(w, err)
		return
	}
	x := &execInstance{id: hex.EncodeToString(b), containerID: meta.ID, req: req}
	d.execs.add(x)
	d.emitContainer(meta, execAction(events.ActionExecCreate, req.Cmd), map[string]string{"execID": x.id})
	writeJSON(w, http.StatusCreated, common.IDResponse{ID: x.id})
}

// execStart is POST /exec/{id}/start. Detached, the process gets
// /dev/null and the answer comes at once; otherwise the connection is
// hijacked as for attach, and closed after the exit code is recorded, so
// the client's GET /exec/{id}/json that follows finds it.
func (d *Daemon) execStart(w http.ResponseWriter, r *http.Request) {
	var req ctypes.ExecStartRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	x, err := d.execs.get(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	x.mu.Lock()
	if x.started {
		x.mu.Unlock()
		fail(w, conflict{fmt.Errorf("exec %s has already been started", x.id)})
		return
	}
	x.started = true
	x.mu.Unlock()
	meta, err := d.m.Get(x.containerID)
	if err != nil {
		fail(w, err)
		return
	}
	p := &specs.Process{Args: x.req.Cmd, Terminal: x.req.Tty || req.Tty, Cwd: x.req.WorkingDir}
	p.Env = append(append([]string{}, meta.Config.Env...), x.req.Env...)
	if x.req.User != "" {
		if p.User, err = d.m.ResolveUser(meta, x.req.User); err != nil {
			fail(w, badRequest{err})
			return
		}
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fail(w, err)
		return
	}
	defer devnull.Close()
	if req.Detach {
		proc, err := d.m.Exec(meta.ID, p, container.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull}, nil)
		if err != nil {
			fail(w, err)
			return
		}
		x.begin(proc)
		d.emitContainer(meta, execAction(events.ActionExecStart, x.req.Cmd), map[string]string{"execID": x.id})
		go func() {
			x.finish(proc)
			d.execDied(x)
		}()
		w.WriteHeader(http.StatusOK)
		return
	}
	conn, rw, err := hijackStream(w, r, p.Terminal)
	if err != nil {
		return
	}
	defer conn.Close()
	ow, ew := outputs(conn, nil, p.Terminal, x.req.AttachStdout, x.req.AttachStderr)
	in := stdinReader{rw.Reader, conn}

	// Pipes for the process's stdio; the daemon closes its copies of the
	// child's ends once it runs, so the outputs end when the process (and
	// whatever it left behind holding them) is gone.
	var stdio container.IO
	var copies sync.WaitGroup
	var childEnds []*os.File
	if p.Terminal {
		stdio = container.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull}
	} else {
		stdio.Stdin = devnull
		if x.req.AttachStdin {
			pr, pw, err := os.Pipe()
			if err != nil {
				ew.Write([]byte("minirun: " + err.Error() + "\n"))
				return
			}
			defer pw.Close()
			stdio.Stdin, childEnds = pr, append(childEnds, pr)
			go func() { io.Copy(pw, in); pw.Close() }()
		}
		for _, s := range []struct {
			f  **os.File
			to io.Writer
		}{{&stdio.Stdout, ow}, {&stdio.Stderr, ew}} {
			pr, pw, err := os.Pipe()
			if err != nil {
				ew.Write([]byte("minirun: " + err.Error() + "\n"))
				return
			}
			*s.f, childEnds = pw, append(childEnds, pw)
			copies.Add(1)
			go func(pr *os.File, to io.Writer) { defer copies.Done(); io.Copy(to, pr); pr.Close() }(pr, s.to)
		}
	}
	proc, err := d.m.Exec(meta.ID, p, stdio, nil)
	for _, f := range childEnds {
		f.Close()
	}
	if err != nil {
		copies.Wait()
		ew.Write([]byte("minirun: " + oneLine(err.Error()) + "\n"))
		x.end(126) // dockerd: the command could not be run
		d.execDied(x)
		return
	}
	x.begin(proc)
	d.emitContainer(meta, execAction(events.ActionExecStart, x.req.Cmd), map[string]string{"execID": x.id})
	if proc.Console != nil {
		if cs := x.req.ConsoleSize; cs != nil {
			runtime.SetWinsize(proc.Console, runtime.Winsize{Rows: uint16(cs[0]), Cols: uint16(cs[1])})
		}
		copies.Add(1)
		go func() { defer copies.Done(); io.Copy(ow, proc.Console) }() // EIO once the process is gone
		if x.req.AttachStdin {
			go io.Copy(proc.Console, in)
		}
	}
	code, _ := proc.Wait()
	copies.Wait()
	x.end(code)
	d.execDied(x)
}

// execAction is exec_create's or exec_start's action: the prefix, ": ",
// and the command, as dockerd writes it (the event filter matches the
// prefix alone, eventFilter.matchEvent).
func execAction(prefix events.Action, cmd []string) events.Action {
	return events.Action(string(prefix) + ": " + strings.Join(cmd, " "))
}

// execDied emits exec_die with the exec's exit code.
func (d *Daemon) execDied(x *execInstance) {
	x.mu.Lock()
	attrs := map[string]string{"execID": x.id}
	if x.code != nil {
		attrs["exitCode"] = strconv.Itoa(*x.code)
	}
	x.mu.Unlock()
	d.emitContainerRef(x.containerID, events.ActionExecDie, attrs)
}

// begin marks x running as proc.
func (x *execInstance) begin(proc *runtime.Process) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.running, x.pid, x.console = true, proc.Pid(), proc.Console
}

// finish waits for a detached exec.
func (x *execInstance) finish(proc *runtime.Process) {
	code, _ := proc.Wait()
	x.end(code)
}

// end records the exit code; the terminal is closed with it.
func (x *execInstance) end(code int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.running, x.code = false, &code
	if x.console != nil {
		x.console.Close()
		x.console = nil
	}
}

// execInspect is GET /exec/{id}/json.
func (d *Daemon) execInspect(w http.ResponseWriter, r *http.Request) {
	x, err := d.execs.get(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	resp := ctypes.ExecInspectResponse{
		ID: x.id, Running: x.running, ExitCode: x.code, ContainerID: x.containerID, Pid: x.pid,
		OpenStdin: x.req.AttachStdin, OpenStdout: x.req.AttachStdout, OpenStderr: x.req.AttachStderr,
		ProcessConfig: &ctypes.ExecProcessConfig{Tty: x.req.Tty, Entrypoint: x.req.Cmd[0], Arguments: x.req.Cmd[1:], User: x.req.User},
	}
	writeJSON(w, http.StatusOK, resp)
}

// execResize is POST /exec/{id}/resize?h=ROWS&w=COLS: TIOCSWINSZ on the
// exec's pty, as `minirun exec -t` does on SIGWINCH.
func (d *Daemon) execResize(w http.ResponseWriter, r *http.Request) {
	x, err := d.execs.get(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	h, herr := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, werr := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if herr != nil || werr != nil {
		fail(w, badRequest{errors.New("resize: h and w must be numbers of rows and columns")})
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.console == nil {
		fail(w, conflict{fmt.Errorf("exec %s has no running terminal", x.id)})
		return
	}
	if err := runtime.SetWinsize(x.console, runtime.Winsize{Rows: uint16(h), Cols: uint16(wd)}); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
