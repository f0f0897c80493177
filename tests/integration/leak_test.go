//go:build integration

package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// hostSnapshot is the set of host objects that minirun could leave behind.
type hostSnapshot struct {
	mounts, links, netns, cgroups, tables, procs map[string]bool
}

func snapshot() hostSnapshot {
	s := hostSnapshot{map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}}
	// Container inits and shims still alive: their command line starts
	// with "minirun init" (or any minirun role) and they are not the CLI.
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			if strings.HasPrefix(string(b), "minirun\x00init") {
				s.procs[e.Name()+" minirun init"] = true
			}
			if strings.HasPrefix(string(b), "minirun-shim\x00") {
				s.procs[e.Name()+" minirun-shim"] = true
			}
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && (strings.Contains(fields[4], "minirun") || strings.Contains(fields[4], "/mr")) {
				s.mounts[fields[4]] = true
			}
		}
		f.Close()
	}
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "mr") {
				s.links[e.Name()] = true
			}
		}
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			s.netns[e.Name()] = true
		}
	}
	for _, root := range []string{"/sys/fs/cgroup"} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(strings.TrimPrefix(p, root), "/") > 4 {
				return filepath.SkipDir
			}
			if strings.Contains(filepath.Base(p), "minirun") || strings.Contains(p, "/minirun/") {
				s.cgroups[p] = true
			}
			return nil
		})
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "minirun") {
				s.tables[strings.TrimSpace(l)] = true
			}
		}
	}
	return s
}

// leaksSince lists what exists now and did not before the suite.
func (s hostSnapshot) leaksSince(b hostSnapshot) []string {
	var out []string
	diff := func(kind string, now, then map[string]bool) {
		for k := range now {
			if !then[k] {
				out = append(out, kind+": "+k)
			}
		}
	}
	diff("mount", s.mounts, b.mounts)
	diff("link", s.links, b.links)
	diff("netns", s.netns, b.netns)
	diff("cgroup", s.cgroups, b.cgroups)
	diff("nftables", s.tables, b.tables)
	diff("process", s.procs, b.procs)
	return out
}
