package container

// `top`: the container's processes as the host sees them, for the CLI's
// `minirun top` and the daemon's GET /containers/{id}/top.

import (
	"os"
	"strconv"
	"strings"
)

// TopTitles are the columns of Top's rows.
var TopTitles = []string{"UID", "PID", "PPID", "CMD"}

// Top lists the processes in the container's cgroup (cgroup.procs), one
// row of TopTitles each, read from /proc (proc(5): status, cmdline).
func (m *Manager) Top(ref string) ([][]string, error) {
	_, ctr, err := m.Runtime(ref)
	if err != nil {
		return nil, err
	}
	pids, err := ctr.Procs()
	if err != nil {
		return nil, err
	}
	rows := make([][]string, 0, len(pids))
	for _, pid := range pids {
		rows = append(rows, procRow(pid))
	}
	return rows, nil
}

// procRow reads uid, ppid and the command line of pid from /proc.
func procRow(pid int) []string {
	p := "/proc/" + strconv.Itoa(pid)
	status, _ := os.ReadFile(p + "/status")
	uid, ppid := "?", "?"
	for _, l := range strings.Split(string(status), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "Uid:" {
			uid = f[1]
		}
		if len(f) > 1 && f[0] == "PPid:" {
			ppid = f[1]
		}
	}
	cmd, _ := os.ReadFile(p + "/cmdline")
	return []string{uid, strconv.Itoa(pid), ppid, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))}
}
