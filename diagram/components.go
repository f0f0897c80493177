package diagram

// The components panel: minirun's processes as the deck's "Componentes"
// slide draws Docker's (client → daemon → containerd-shim → init), read
// from /proc (proc(5)): each process's stat (its parent and session) and
// cmdline, and, for a shim, the unix socket it listens on, found through
// its descriptors (/proc/PID/fd/N → socket:[INODE]) and /proc/net/unix
// (INODE → path).

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
)

// Proc is one process as /proc shows it.
type Proc struct {
	Pid  int `json:"pid"`
	PPid int `json:"ppid"`
	// Sid is the session (setsid(2)): a shim leads its own, so a closed
	// terminal does not take it down.
	Sid  int      `json:"sid"`
	Args []string `json:"args"`
	// StartTime is proc(5)'s field 22, in clock ticks since boot: with
	// the pid, it names the process (a pid is reused, the pair is not).
	StartTime uint64 `json:"startTime"`
	// Socket is the path of the unix socket a shim listens on
	// (attach and control).
	Socket string `json:"socket,omitempty"`
}

// shimArgv0 is how a shim names itself (container/detached.go sets
// argv[0]), so that `ps` and this probe tell it from the CLI.
const shimArgv0 = "minirun-shim"

// readProc reads /proc/PID/stat and /proc/PID/cmdline. The command name
// in stat is in parentheses and may hold spaces and ")": the fields are
// counted from the last ")".
func (p *Probe) readProc(pid int) (*Proc, bool) {
	dir := filepath.Join(p.Proc, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return nil, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return nil, false
	}
	pr := &Proc{Pid: pid}
	pr.PPid, _ = strconv.Atoi(f[1])
	pr.Sid, _ = strconv.Atoi(f[3])
	pr.StartTime, _ = strconv.ParseUint(f[19], 10, 64)
	if f[0] == "Z" {
		return nil, false // a zombie has exited: only its exit status is left
	}
	if c, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		pr.Args = strings.Split(strings.TrimRight(string(c), "\x00"), "\x00")
	}
	return pr, true
}

// client reads the narrating process: /proc/self is a link to its pid.
func (p *Probe) client() *Proc {
	l, err := os.Readlink(filepath.Join(p.Proc, p.Self))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(filepath.Base(l))
	if err != nil {
		return nil
	}
	pr, _ := p.readProc(pid)
	return pr
}

// shimID is the container id a shim's command line names
// (`minirun-shim --root R --data-root D shim [--attach-first] ID`), or "".
func shimID(args []string) string {
	if len(args) < 3 || args[0] != shimArgv0 || !slices.Contains(args, "shim") {
		return ""
	}
	return args[len(args)-1]
}

// isDaemon reports whether args are `minirun … daemon …`.
func isDaemon(args []string) bool {
	return len(args) > 1 && strings.Contains(filepath.Base(args[0]), "minirun") && slices.Contains(args[1:], "daemon")
}

// shims finds the shim of each container in ids: first as the parent of
// the container's init (one read), and for a container with no init yet
// by a walk of /proc's command lines.
func (p *Probe) shims(s *State) map[string]*Proc {
	out := map[string]*Proc{}
	missing := 0
	for _, c := range s.Containers {
		if c.Init != nil {
			if pr, ok := p.readProc(c.Init.PPid); ok && shimID(pr.Args) == c.ID {
				out[c.ID] = pr
				continue
			}
		}
		missing++
	}
	if missing > 0 {
		want := map[string]bool{}
		for _, c := range s.Containers {
			if out[c.ID] == nil {
				want[c.ID] = true
			}
		}
		ents, _ := os.ReadDir(p.Proc)
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(p.Proc, e.Name(), "cmdline"))
			if err != nil || !strings.HasPrefix(string(b), shimArgv0+"\x00") {
				continue
			}
			id := shimID(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
			if want[id] {
				if pr, ok := p.readProc(pid); ok {
					out[id] = pr
				}
			}
		}
	}
	if len(out) > 0 {
		socks := p.unixSockets()
		for id, pr := range out {
			pr.Socket = p.listening(pr.Pid, socks, "/.shims/"+short(id)+".sock")
		}
	}
	return out
}

// unixSockets maps the inode of each bound unix socket to its path, from
// /proc/net/unix (proc(5): the last two fields are Inode and Path).
func (p *Probe) unixSockets() map[string]string {
	out := map[string]string{}
	f, err := os.Open(filepath.Join(p.Proc, "net", "unix"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 8 && strings.HasPrefix(fs[7], "/") {
			out[fs[6]] = fs[7]
		}
	}
	return out
}

// listening returns the path ending in suffix of a unix socket pid holds
// open (its descriptors link to "socket:[INODE]").
func (p *Probe) listening(pid int, socks map[string]string, suffix string) string {
	dir := filepath.Join(p.Proc, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		ino, ok := strings.CutPrefix(l, "socket:[")
		if !ok {
			continue
		}
		if path := socks[strings.TrimSuffix(ino, "]")]; strings.HasSuffix(path, suffix) {
			return path
		}
	}
	return ""
}

// readComponents fills in the client, each container's init and shim, and
// the daemon when the shims are its children.
func (p *Probe) readComponents(s *State) {
	s.Client = p.client()
	for i := range s.Containers {
		if c := &s.Containers[i]; c.Pid > 0 {
			c.Init, _ = p.readProc(c.Pid)
		}
	}
	shims := p.shims(s)
	for i := range s.Containers {
		c := &s.Containers[i]
		c.Shim = shims[c.ID]
		if c.Shim != nil && s.Daemon == nil && (s.Client == nil || c.Shim.PPid != s.Client.Pid) {
			if d, ok := p.readProc(c.Shim.PPid); ok && isDaemon(d.Args) {
				s.Daemon = d
			}
		}
	}
}

// argsText shows a command line in at most n characters, the program by
// its base name (what matters is the verb after it, not /usr/local/bin).
func argsText(args []string, n int) string {
	if len(args) == 0 {
		return ""
	}
	a := append([]string{filepath.Base(args[0])}, args[1:]...)
	return clip(strings.Join(a, " "), n)
}

// componentsPanel draws client → (daemon) → shim → init, one row per
// container, an edge wherever /proc says the one is the other's parent.
func componentsPanel(s *State, l explain.Lang) Panel {
	p := newPanel(PanelComponents, l)
	col := 0
	if s.Client != nil {
		p.Nodes = append(p.Nodes, Node{ID: "cp-client", Label: word("client", l) + " " + strconv.Itoa(s.Client.Pid), Class: "host",
			Lines: []string{argsText(s.Client.Args, 120)}})
	}
	if s.Daemon != nil {
		col++
		p.Nodes = append(p.Nodes, Node{ID: "cp-daemon", Label: "daemon " + strconv.Itoa(s.Daemon.Pid), Class: "host", Col: col,
			Lines: []string{argsText(s.Daemon.Args, 120)}})
		if s.Client != nil {
			p.Edges = append(p.Edges, Edge{From: "cp-client", To: "cp-daemon", Label: "API"})
		}
	}
	parentID := func(ppid int) string {
		switch {
		case s.Client != nil && ppid == s.Client.Pid:
			return "cp-client"
		case s.Daemon != nil && ppid == s.Daemon.Pid:
			return "cp-daemon"
		}
		return ""
	}
	eachContainer(&p, s, func(c *Container) bool { return c.Init != nil || c.Shim != nil }, word("noproc", l), func(c *Container, row int) {
		initParent := ""
		if sh := c.Shim; sh != nil {
			id := "cp-shim-" + c.ID
			lines := []string{"ppid " + strconv.Itoa(sh.PPid) + " · sid " + strconv.Itoa(sh.Sid)}
			if sh.Socket != "" {
				lines = append(lines, sh.Socket)
			}
			p.Nodes = append(p.Nodes, Node{ID: id, Label: "shim " + strconv.Itoa(sh.Pid), Class: "host", Col: col + 1, Row: row, Lines: lines})
			if from := parentID(sh.PPid); from != "" {
				p.Edges = append(p.Edges, Edge{From: from, To: id, Label: "fork+exec"})
			}
			if c.Init != nil && c.Init.PPid == sh.Pid {
				initParent = id
			}
		} else if c.Init != nil {
			initParent = parentID(c.Init.PPid)
		}
		if in := c.Init; in != nil {
			id := "cp-init-" + c.ID
			p.Nodes = append(p.Nodes, Node{ID: id, Label: "init " + strconv.Itoa(in.Pid), Class: "container", Col: col + 2, Row: row,
				Lines: []string{argsText(in.Args, 120), "ppid " + strconv.Itoa(in.PPid), short(c.ID)}})
			if initParent != "" {
				p.Edges = append(p.Edges, Edge{From: initParent, To: id, Label: "wait(2)"})
			}
		}
	})
	return p
}
