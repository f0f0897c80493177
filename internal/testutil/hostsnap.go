package testutil

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// HostSnapshot is the set of host objects a container runtime could leave
// behind, each as "kind: name": minirun processes (inits, shims) and any
// process in another pid namespace and a minirun cgroup, mounts whose path names minirun or a
// link, links named mr*, named network namespaces, cgroups under a minirun
// parent, nftables tables named minirun and the rules in table ip minirun
// (by chain and owner comment), and the entries of the directories given
// to SnapshotHost (a suite's state and data roots).
//
// Tests take one before acting and compare after: LeaksSince lists what is
// new. It is the same approach as tests/integration's leak check, shared
// so that the hostile suite can check after every single kill.
type HostSnapshot map[string]bool

// SnapshotHost records the host's objects; dirs are directories whose
// entries (one level, and one more under a "containers", "network" or
// "volumes" child) count as objects too.
func SnapshotHost(dirs ...string) HostSnapshot {
	s := HostSnapshot{}
	selfPidNS, _ := os.Readlink("/proc/self/ns/pid")
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			switch {
			case strings.HasPrefix(string(b), "minirun\x00init"):
				s["process: "+e.Name()+" minirun init"] = true
			case strings.HasPrefix(string(b), "minirun-shim\x00"):
				s["process: "+e.Name()+" minirun-shim"] = true
			default:
				// A container's program: a process in a pid namespace
				// that is not ours and in a cgroup of minirun's (other
				// sandboxes on the machine have their own pid namespaces).
				cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
				if !strings.Contains(string(cg), "minirun") {
					continue
				}
				if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/pid")); err == nil && ns != selfPidNS {
					s["process: "+e.Name()+" "+strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")+" (in "+ns+")"] = true
				}
			}
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && (strings.Contains(fields[4], "minirun") || strings.Contains(fields[4], "/mr")) {
				s["mount: "+fields[4]] = true
			}
		}
		f.Close()
	}
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "mr") {
				s["link: "+e.Name()] = true
			}
		}
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			s["netns: "+e.Name()] = true
		}
	}
	root := "/sys/fs/cgroup"
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Count(strings.TrimPrefix(p, root), "/") > 4 {
			return filepath.SkipDir
		}
		if strings.Contains(filepath.Base(p), "minirun") || strings.Contains(p, "/minirun/") {
			s["cgroup: "+p] = true
		}
		return nil
	})
	nftObjects(s)
	for _, d := range dirs {
		listDir(s, d, 0)
	}
	return s
}

// nftObjects adds tables named minirun (any family) and every rule of
// table ip minirun, named by chain and comment; rules with the same
// comment in one chain are numbered, so one more of them is a leak too.
func nftObjects(s HostSnapshot) {
	c, err := nftables.New()
	if err != nil {
		return
	}
	tables, err := c.ListTables()
	if err != nil {
		return
	}
	for _, t := range tables {
		if strings.Contains(t.Name, "minirun") {
			s[fmt.Sprintf("nftables: table %d %s", t.Family, t.Name)] = true
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != "minirun" {
			continue
		}
		s["nftables: chain "+ch.Name] = true
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			continue
		}
		n := map[string]int{}
		for _, r := range rules {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			n[comment]++
			s[fmt.Sprintf("nftables: rule %s %q #%d", ch.Name, comment, n[comment])] = true
		}
	}
}

func listDir(s HostSnapshot, dir string, depth int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		s["file: "+p] = true
		if depth == 0 && e.IsDir() && (e.Name() == "containers" || e.Name() == "network" || e.Name() == "volumes") {
			listDir(s, p, depth+1)
		}
	}
}

// LeaksSince lists, sorted, what exists in s and did not in before.
func (s HostSnapshot) LeaksSince(before HostSnapshot) []string {
	var out []string
	for k := range s {
		if !before[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
