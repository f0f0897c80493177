package lab

import (
	"bufio"
	"fmt"
	"github.com/minirun/minirun/internal/mountinfo"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
)

// This file reads what the kernel says about a process, from proc(5):
// /proc/PID/status, /proc/PID/ns/*, /proc/PID/mountinfo and
// /proc/PID/cgroup. The parsers take an io.Reader so they are tested on
// sample text; the readers only open the file.

// parseStatus reads /proc/PID/status: one "Key:\tvalue" per line.
func parseStatus(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, sc.Err()
}

// status returns /proc/PID/status as a map.
func (e *Env) status(pid int) (map[string]string, error) {
	f, err := os.Open(filepath.Join(e.Proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	defer f.Close()
	return parseStatus(f)
}

// capMask reads a capability set of /proc/PID/status (CapEff, CapBnd...):
// 16 hex digits, one bit per capability number (capabilities(7)).
func capMask(st map[string]string, key string) (uint64, error) {
	v, ok := st[key]
	if !ok {
		return 0, fmt.Errorf("no %s line in /proc/PID/status", key)
	}
	m, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", key, v, err)
	}
	return m, nil
}

// capNames decodes a capability mask as `capsh --decode` does: the names of
// its bits, in bit order ("cap_chown,cap_dac_override,..."). A bit this
// build does not know is shown by number.
func capNames(mask uint64) string {
	known := map[int]string{}
	for _, c := range capability.ListKnown() {
		known[int(c)] = "cap_" + c.String()
	}
	var names []string
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		if n, ok := known[bit]; ok {
			names = append(names, n)
		} else {
			names = append(names, strconv.Itoa(bit))
		}
	}
	if len(names) == 0 {
		return "(nenhuma / none)"
	}
	return strings.Join(names, ",")
}

// nsPid returns the last field of NSpid: the process's pid in its own
// (innermost) pid namespace. A container's init sees itself as 1.
func nsPid(st map[string]string) (int, error) {
	f := strings.Fields(st["NSpid"])
	if len(f) == 0 {
		return 0, fmt.Errorf("no NSpid line in /proc/PID/status (Linux 4.1+)")
	}
	return strconv.Atoi(f[len(f)-1])
}

// nsLink returns the namespace a process is in, as the kernel names it:
// the target of /proc/PID/ns/KIND, "net:[4026531840]". Two processes are in
// the same namespace exactly when the links are equal (namespaces(7)).
func (e *Env) nsLink(pid string, kind string) (string, error) {
	l, err := os.Readlink(filepath.Join(e.Proc, pid, "ns", kind))
	if err != nil {
		return "", fmt.Errorf("read %s namespace of pid %s: %w", kind, pid, err)
	}
	return l, nil
}

// mount is one line of /proc/PID/mountinfo (proc(5)).
type mount struct {
	Dev        string // major:minor of the filesystem
	Root       string // the directory of that filesystem mounted here
	MountPoint string // where, in the process's view
	Options    string // per-mount options: rw or ro, nosuid...
	FSType     string
	Source     string
}

// ReadOnly reports whether the mount itself is read-only.
func (m mount) ReadOnly() bool {
	for _, o := range strings.Split(m.Options, ",") {
		if o == "ro" {
			return true
		}
	}
	return false
}

// parseMountinfo reads /proc/PID/mountinfo. A line is
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// with optional fields up to the "-" separator; paths escape space, tab,
// newline and backslash as octal (\040).
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("mountinfo: bad line %q", sc.Text())
		}
		out = append(out, mount{
			Dev: f[2], Root: mountinfo.Unescape(f[3]), MountPoint: mountinfo.Unescape(f[4]),
			Options: f[5], FSType: f[sep+1], Source: mountinfo.Unescape(f[sep+2]),
		})
	}
	return out, sc.Err()
}

// mounts returns the mount table as process pid sees it.
func (e *Env) mounts(pid int) ([]mount, error) {
	f, err := os.Open(filepath.Join(e.Proc, strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read mounts of pid %d: %w", pid, err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

// mountAt returns the mount a process sees at path: the last one listed
// there, since a later mount on the same point hides the earlier ones.
func mountAt(ms []mount, path string) (mount, bool) {
	var found mount
	ok := false
	for _, m := range ms {
		if m.MountPoint == path {
			found, ok = m, true
		}
	}
	return found, ok
}

// parseProcCgroup reads /proc/PID/cgroup: "hierarchy-ID:controllers:path"
// per line. It returns the path of each controller ("memory", "cpu"...) on
// v1 and the path of the v2 tree under the key "" (the "0::/..." line).
func parseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, sc.Err()
}
