package diagram

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/minirun/minirun/internal/mountinfo"
)

// Kinds are the seven namespaces a container gets (namespaces(7)), in the
// order the diagram lists them.
var Kinds = []string{"pid", "net", "mnt", "uts", "ipc", "user", "cgroup"}

// NetReader reads links and their addresses: the host's and those inside a
// process's network namespace. The live one speaks rtnetlink (Netlink);
// tests use recorded ones.
type NetReader interface {
	HostLinks() ([]Link, error)
	Links(pid int) ([]Link, error)
}

// Probe reads a container's state from the host. Every path is a field so
// that tests can point it at recorded files; Live returns the real ones.
// A Probe only reads: nothing on the host changes.
type Probe struct {
	Proc       string // /proc
	Self       string // the narrating process in Proc: "self"
	CgroupRoot string // /sys/fs/cgroup
	StateRoot  string // /run/minirun (runtime state: <id>/state.json)
	DataRoot   string // /var/lib/minirun (containers/<id>/merged)
	Net        NetReader
	// Rules returns the text of `nft list table ip minirun` ("" when the
	// table does not exist). Nil: no rules shown.
	Rules func() (string, error)
	// LayerSize measures a lower layer; nil walks it (dirSize). A layer
	// is measured once per probe: layers never change.
	LayerSize func(dir string) int64

	mu          sync.Mutex
	baseline    map[string]bool
	netBaseline map[string]bool  // network ids
	sizes       map[string]int64 // layer dir -> size; layers never change
}

// Live returns a probe of this host's real files and netlink.
func Live(stateRoot, dataRoot string) *Probe {
	return &Probe{Proc: "/proc", Self: "self", CgroupRoot: "/sys/fs/cgroup",
		StateRoot: stateRoot, DataRoot: dataRoot, Net: Netlink{}, Rules: NftRules}
}

// Baseline records the containers and networks that exist now; Read shows
// only those that appear later (and the networks that hold a later
// container), so that the diagram is the narration's container and not
// every other one on the machine.
func (p *Probe) Baseline() {
	ids := p.ids()
	nets := map[string]bool{}
	for id := range p.networks() {
		nets[id] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.baseline, p.netBaseline = ids, nets
}

// ids finds minirun's containers by the three marks a container leaves
// on the host as it is made: its state directory, its overlay mount and
// its cgroup. Any one is enough, so the diagram shows a container from the
// first step that made something of it.
func (p *Probe) ids() map[string]bool {
	ids := map[string]bool{}
	if ents, err := os.ReadDir(p.StateRoot); err == nil {
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				ids[e.Name()] = true
			}
		}
	}
	for id := range p.overlays() {
		ids[id] = true
	}
	for _, dir := range []string{"minirun", "pids/minirun", "memory/minirun"} {
		ents, err := os.ReadDir(filepath.Join(p.CgroupRoot, dir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				ids[e.Name()] = true
			}
		}
	}
	return ids
}

// Read reads the host's state. Parts that cannot be read (a container
// that just exited, no permission) are left out rather than failing the
// whole picture: the narration must go on.
func (p *Probe) Read() *State {
	s := &State{HostNS: p.namespaces(p.Self)}
	if p.Net != nil {
		if l, err := p.Net.HostLinks(); err == nil {
			s.HostLinks = l
		}
	}
	if p.Rules != nil {
		if txt, err := p.Rules(); err == nil {
			s.Rules = ParseRules(txt)
		}
	}
	p.mu.Lock()
	base := p.baseline
	p.mu.Unlock()
	ovs := p.overlays()
	var ids []string
	for id := range p.ids() {
		if !base[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		s.Containers = append(s.Containers, p.container(id, ovs[id]))
	}
	p.readComponents(s)
	s.DNS = p.dnsServers(s)
	return s
}

func (p *Probe) container(id string, ov *Overlay) Container {
	c := Container{ID: id}
	var st struct {
		Pid        int    `json:"pid"`
		CgroupPath string `json:"cgroupPath"`
	}
	if b, err := os.ReadFile(filepath.Join(p.StateRoot, id, "state.json")); err == nil {
		json.Unmarshal(b, &st) // a state being rewritten reads as empty: the cgroup still names the pid
	}
	if st.CgroupPath == "" {
		st.CgroupPath = "/minirun/" + id
	}
	c.Cgroup = p.cgroup(st.CgroupPath)
	c.Pid = st.Pid
	if c.Pid == 0 || !exists(filepath.Join(p.Proc, strconv.Itoa(c.Pid))) {
		// Before create saves the pid, the init is already in its cgroup
		// (minirun adds it before it sends the config).
		c.Pid = p.firstProc(st.CgroupPath)
	}
	if ov != nil {
		p.fillOverlay(ov)
		c.Overlay = ov
	}
	if c.Pid > 0 {
		c.NS = p.namespaces(strconv.Itoa(c.Pid))
		if p.Net != nil {
			if l, err := p.Net.Links(c.Pid); err == nil {
				c.Links = l
			}
		}
	}
	return c
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// namespaces reads the inode of each of a process's namespaces from the
// links in /proc/PID/ns ("net:[4026531840]"): two processes share a
// namespace exactly when these numbers are equal.
func (p *Probe) namespaces(pid string) map[string]uint64 {
	ns := map[string]uint64{}
	for _, k := range Kinds {
		l, err := os.Readlink(filepath.Join(p.Proc, pid, "ns", k))
		if err != nil {
			continue
		}
		if n, ok := nsInode(l); ok {
			ns[k] = n
		}
	}
	if len(ns) == 0 {
		return nil
	}
	return ns
}

// nsInode parses a namespace link's target, "net:[4026531840]".
func nsInode(link string) (uint64, bool) {
	i, j := strings.IndexByte(link, '['), strings.IndexByte(link, ']')
	if i < 0 || j < i {
		return 0, false
	}
	n, err := strconv.ParseUint(link[i+1:j], 10, 64)
	return n, err == nil
}

// overlays finds minirun's overlay mounts in the narrating process's
// mountinfo (proc(5)): those whose mount point is
// DataRoot/containers/<id>/merged. Field 5 is the mount point; after the
// "-" separator come the type, the source and the super options, where
// overlayfs lists lowerdir=, upperdir= and workdir=.
func (p *Probe) overlays() map[string]*Overlay {
	out := map[string]*Overlay{}
	f, err := os.Open(filepath.Join(p.Proc, p.Self, "mountinfo"))
	if err != nil {
		return out
	}
	defer f.Close()
	prefix := filepath.Join(p.DataRoot, "containers") + "/"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20) // many layers make long lines
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 || fields[sep+1] != "overlay" {
			continue
		}
		mp := mountinfo.Unescape(fields[4])
		rest, ok := strings.CutPrefix(mp, prefix)
		if !ok {
			continue
		}
		id, tail, _ := strings.Cut(rest, "/")
		if tail != "merged" {
			continue
		}
		ov := &Overlay{Merged: mp}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			k, v, _ := strings.Cut(opt, "=")
			v = mountinfo.Unescape(v)
			switch k {
			case "lowerdir":
				for _, d := range strings.Split(v, ":") {
					ov.Lower = append(ov.Lower, Layer{Dir: d, ID: layerID(d)})
				}
			case "upperdir":
				ov.Upper = v
			case "workdir":
				ov.Work = v
			}
		}
		out[id] = ov
	}
	return out
}

// layerID names a layer by its directory: minirun keeps layers in
// …/layers/sha256/<hex>/diff, and shows the first 12 hex digits as docker
// does.
func layerID(dir string) string {
	d := filepath.Clean(dir)
	if filepath.Base(d) == "diff" {
		d = filepath.Dir(d)
	}
	id := filepath.Base(d)
	if filepath.Base(filepath.Dir(d)) == "sha256" && len(id) > 12 {
		return "sha256:" + id[:12]
	}
	return id
}

// maxUpperFiles is how many files of the upper dir the diagram lists.
const maxUpperFiles = 6

// fillOverlay adds the layers' sizes (walked once: a layer never changes)
// and what the upper dir holds.
func (p *Probe) fillOverlay(ov *Overlay) {
	p.mu.Lock()
	if p.sizes == nil {
		p.sizes = map[string]int64{}
	}
	p.mu.Unlock()
	for i := range ov.Lower {
		d := ov.Lower[i].Dir
		p.mu.Lock()
		sz, ok := p.sizes[d]
		p.mu.Unlock()
		if !ok {
			measure := p.LayerSize
			if measure == nil {
				measure = dirSize
			}
			sz = measure(d)
			p.mu.Lock()
			p.sizes[d] = sz
			p.mu.Unlock()
		}
		ov.Lower[i].Size = sz
	}
	if ov.Upper == "" {
		return
	}
	errStop := errors.New("enough")
	filepath.WalkDir(ov.Upper, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == ov.Upper {
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(ov.Upper, path)
		name := "/" + rel
		// A whiteout is a 0/0 character device (overlayfs.rst,
		// "whiteouts and opaque directories"): the file was deleted.
		if d.Type()&fs.ModeCharDevice != 0 {
			name = "-" + name
		}
		ov.UpperFiles = append(ov.UpperFiles, name)
		if len(ov.UpperFiles) >= maxUpperFiles {
			return errStop
		}
		return nil
	})
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// cgroupVersion is 2 when the unified hierarchy is mounted at the root
// (cgroup.controllers exists there), 1 otherwise.
func (p *Probe) cgroupVersion() int {
	if exists(filepath.Join(p.CgroupRoot, "cgroup.controllers")) {
		return 2
	}
	return 1
}

// cgroupFile is where a controller's file of the group lives: one tree on
// v2, one hierarchy per controller on v1.
func (p *Probe) cgroupFile(v int, ctrl, path, file string) string {
	if v == 2 {
		return filepath.Join(p.CgroupRoot, path, file)
	}
	return filepath.Join(p.CgroupRoot, ctrl, path, file)
}

func (p *Probe) readCg(v int, ctrl, path, file string) (string, string, bool) {
	f := p.cgroupFile(v, ctrl, path, file)
	b, err := os.ReadFile(f)
	if err != nil {
		return f, "", false
	}
	return f, strings.TrimSpace(string(b)), true
}

// firstProc is the first pid in the group's cgroup.procs.
func (p *Probe) firstProc(path string) int {
	v := p.cgroupVersion()
	_, txt, ok := p.readCg(v, "pids", path, "cgroup.procs")
	if !ok && v == 1 {
		_, txt, ok = p.readCg(v, "memory", path, "cgroup.procs")
	}
	if !ok {
		return 0
	}
	first, _, _ := strings.Cut(txt, "\n")
	n, _ := strconv.Atoi(strings.TrimSpace(first))
	return n
}

// cgroup reads the limits and usages of memory, pids and cpu. The files
// differ between the versions (cgroups(7); Documentation/admin-guide/
// cgroup-v2.rst): memory.max/memory.current vs memory.limit_in_bytes/
// memory.usage_in_bytes, cpu.max vs cpu.cfs_quota_us/cpu.cfs_period_us,
// cpu.stat's usage_usec vs cpuacct.usage (ns). pids.max and pids.current
// are the same in both.
func (p *Probe) cgroup(path string) *Cgroup {
	v := p.cgroupVersion()
	dir := p.cgroupFile(v, "pids", path, "")
	if v == 1 && !exists(dir) {
		dir = p.cgroupFile(v, "memory", path, "")
	}
	if !exists(dir) {
		return nil
	}
	cg := &Cgroup{Path: path, Version: v}
	for _, sf := range statsOf[v] {
		fl, l, ok1 := p.readCg(v, sf.ctrl, path, sf.limit)
		fu, u, ok2 := p.readCg(v, sf.ctrl, path, sf.usage)
		if ok1 || ok2 {
			limit, usage := sf.show(l, u)
			cg.Stats = append(cg.Stats, Stat{Resource: sf.res, Limit: limit, Usage: usage, Files: []string{fl, fu}})
		}
	}
	if v == 1 {
		// v1's cpu takes three files in two hierarchies: the quota and
		// the period (cpu), the usage in ns (cpuacct).
		fq, q, ok1 := p.readCg(v, "cpu", path, "cpu.cfs_quota_us")
		fp, per, _ := p.readCg(v, "cpu", path, "cpu.cfs_period_us")
		fu, u, ok2 := p.readCg(v, "cpuacct", path, "cpuacct.usage")
		if ok1 || ok2 {
			ns, _ := strconv.ParseInt(u, 10, 64)
			cg.Stats = append(cg.Stats, Stat{Resource: "cpu", Limit: cpuLimit(q, per),
				Usage: usecText(strconv.FormatInt(ns/1000, 10)), Files: []string{fq, fp, fu}})
		}
	}
	return cg
}

// statFiles names one resource's limit file and usage file in one
// version's layout (ctrl: the v1 hierarchy they live in), and how to show
// what they hold.
type statFiles struct {
	res, ctrl, limit, usage string
	show                    func(limit, usage string) (string, string)
}

func showBytes(l, u string) (string, string) { return bytesLimit(l), bytesText(u) }

func showAsIs(l, u string) (string, string) { return l, u }

// showCPU2 reads cpu.max ("QUOTA PERIOD") and cpu.stat's usage_usec.
func showCPU2(l, u string) (string, string) {
	q, per, _ := strings.Cut(l, " ")
	return cpuLimit(q, per), usecText(statField(u, "usage_usec"))
}

// statsOf lists, per cgroup version, the resources read as a (limit,
// usage) pair of files.
var statsOf = map[int][]statFiles{
	2: {
		{"memory", "", "memory.max", "memory.current", showBytes},
		{"pids", "", "pids.max", "pids.current", showAsIs},
		{"cpu", "", "cpu.max", "cpu.stat", showCPU2},
	},
	1: {
		{"memory", "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", showBytes},
		{"pids", "pids", "pids.max", "pids.current", showAsIs},
	},
}

func statField(stat, key string) string {
	for _, l := range strings.Split(stat, "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == key {
			return v
		}
	}
	return ""
}

// bytesLimit shows a memory limit: "max" (v2) and v1's "no limit"
// (PAGE_COUNTER_MAX pages, a number near 2^63) both read as max.
func bytesLimit(s string) string {
	if s == "max" {
		return "max"
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	if n >= 1<<62 {
		return "max"
	}
	return bytesText(s)
}

// bytesText shows a byte count in KiB/MiB/GiB, as free -h does.
func bytesText(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	return HumanBytes(n)
}

// HumanBytes formats n bytes with a binary unit.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// cpuLimit shows quota/period as a number of CPUs ("0.5 CPU"); no quota
// ("max" on v2, -1 on v1) is max.
func cpuLimit(quota, period string) string {
	q, err1 := strconv.ParseFloat(quota, 64)
	per, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || per <= 0 {
		if quota == "" {
			return ""
		}
		return "max"
	}
	return strconv.FormatFloat(q/per, 'f', -1, 64) + " CPU"
}

// usecText shows CPU time used, in ms.
func usecText(us string) string {
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return us
	}
	return fmt.Sprintf("%d ms", n/1000)
}

// ParseRules reads the text of `nft list table ip minirun`: each rule is
// one line inside a chain block; minirun tags every rule with a comment.
func ParseRules(txt string) []Rule {
	var out []Rule
	chain := ""
	for _, line := range strings.Split(txt, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "chain "):
			chain = strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(l, "chain ")), "{")
			chain = strings.TrimSpace(chain)
		case l == "}" || l == "" || strings.HasPrefix(l, "table ") || strings.HasPrefix(l, "type ") || chain == "":
		default:
			r := Rule{Chain: chain, Text: l}
			if i := strings.Index(l, ` comment "`); i >= 0 {
				r.Owner = strings.TrimSuffix(l[i+len(` comment "`):], `"`)
				r.Text = strings.TrimSpace(l[:i])
			}
			out = append(out, r)
		}
	}
	return out
}
