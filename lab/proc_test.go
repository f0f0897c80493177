package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStatusCaps(t *testing.T) {
	st, err := parseStatus(strings.NewReader("Name:\tsleep\nNSpid:\t4242\t1\nCapEff:\t00000000a80425fb\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := nsPid(st); err != nil || n != 1 {
		t.Errorf("nsPid = %d, %v; want 1", n, err)
	}
	eff, err := capMask(st, "CapEff")
	if err != nil || eff != 0xa80425fb {
		t.Fatalf("CapEff = %x, %v", eff, err)
	}
	names := capNames(eff)
	// Docker's default set: 14 capabilities, CAP_SYS_ADMIN not among them.
	if got := len(strings.Split(names, ",")); got != 14 {
		t.Errorf("capNames(%x) has %d names, want 14: %s", eff, got, names)
	}
	for _, want := range []string{"cap_chown", "cap_net_bind_service", "cap_setfcap"} {
		if !strings.Contains(names, want) {
			t.Errorf("capNames(%x) = %s, missing %s", eff, names, want)
		}
	}
	if strings.Contains(names, "cap_sys_admin") {
		t.Errorf("capNames(%x) = %s, has cap_sys_admin", eff, names)
	}
	if got := capNames(0); !strings.Contains(got, "none") {
		t.Errorf("capNames(0) = %q", got)
	}
	if got := capNames(1 << 63); got != "63" {
		t.Errorf("capNames(1<<63) = %q, want the bit number", got)
	}
	if _, err := capMask(st, "CapPrm"); err == nil {
		t.Error("capMask of a missing line: no error")
	}
	if _, err := nsPid(map[string]string{}); err == nil {
		t.Error("nsPid without NSpid: no error")
	}
}

func TestParseMountinfo(t *testing.T) {
	const mi = `106 90 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
126 106 254:0 /var/lib/minirun/volumes/dados/_data /dados rw,relatime - ext4 /dev/vda rw
127 106 254:0 /home/aluno/meu\040site /site ro,relatime shared:5 master:1 - ext4 /dev/vda rw
128 106 0:60 / /site rw,nosuid - tmpfs tmpfs rw
`
	ms, err := parseMountinfo(strings.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 {
		t.Fatalf("%d mounts, want 4", len(ms))
	}
	d, ok := mountAt(ms, "/dados")
	if !ok || d.Dev != "254:0" || d.Root != "/var/lib/minirun/volumes/dados/_data" || d.ReadOnly() || d.FSType != "ext4" {
		t.Errorf("/dados = %+v", d)
	}
	if ms[2].Root != "/home/aluno/meu site" || !ms[2].ReadOnly() || ms[2].Source != "/dev/vda" {
		t.Errorf("escaped, optional fields: %+v", ms[2])
	}
	// The later mount on /site hides the earlier one.
	if s, _ := mountAt(ms, "/site"); s.FSType != "tmpfs" {
		t.Errorf("mountAt(/site) = %+v, want the last one", s)
	}
	if _, ok := mountAt(ms, "/nada"); ok {
		t.Error("mountAt(/nada) found something")
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("a short line parsed")
	}
}

func TestParseProcCgroup(t *testing.T) {
	v1, _ := parseProcCgroup(strings.NewReader("9:name=systemd:/\n8:pids:/minirun/abc\n2:cpu,cpuacct:/minirun/abc\n4:memory:/minirun/abc\n0::/\n"))
	if v1["pids"] != "/minirun/abc" || v1["cpu"] != "/minirun/abc" || v1["cpuacct"] != "/minirun/abc" || v1[""] != "/" {
		t.Errorf("v1: %v", v1)
	}
	v2, _ := parseProcCgroup(strings.NewReader("0::/minirun/abc\n"))
	if v2[""] != "/minirun/abc" || len(v2) != 1 {
		t.Errorf("v2: %v", v2)
	}
}

func TestLimitValue(t *testing.T) {
	for in, want := range map[string]int64{"max": -1, "-1": -1, "9223372036854771712": -1, "134217728": 134217728, "50": 50} {
		if got, err := limitValue(in); err != nil || got != want {
			t.Errorf("limitValue(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := limitValue("lots"); err == nil {
		t.Error("limitValue(lots): no error")
	}
	if err := wantLimit("pids", "max", 50); err == nil || !strings.Contains(err.Error(), "no limit") {
		t.Errorf("wantLimit(max) = %v", err)
	}
	if err := wantLimit("pids", "40", 50); err == nil {
		t.Error("wantLimit(40, 50): no error")
	}
	if err := wantLimit("pids", "50", 50); err != nil {
		t.Error(err)
	}
}

// fakeCgroup builds a /proc/PID/cgroup and a cgroupfs for one process, in
// the v1 or v2 layout, with the files of the cgroups lab.
func fakeCgroup(t *testing.T, v2 bool, files map[string]string) *Env {
	t.Helper()
	dir := t.TempDir()
	e := &Env{Proc: filepath.Join(dir, "proc"), CgroupRoot: filepath.Join(dir, "cgroup")}
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if v2 {
		write(filepath.Join(e.Proc, "42", "cgroup"), "0::/minirun/abc\n")
		write(filepath.Join(e.CgroupRoot, "cgroup.controllers"), "cpu memory pids\n")
		for f, v := range files {
			write(filepath.Join(e.CgroupRoot, "minirun", "abc", f), v+"\n")
		}
	} else {
		write(filepath.Join(e.Proc, "42", "cgroup"), "8:pids:/minirun/abc\n2:cpu,cpuacct:/minirun/abc\n4:memory:/minirun/abc\n0::/\n")
		for f, v := range files {
			ctrl := strings.SplitN(f, ".", 2)[0]
			write(filepath.Join(e.CgroupRoot, ctrl, "minirun", "abc", f), v+"\n")
		}
	}
	return e
}

func TestCgroupFilesBothLayouts(t *testing.T) {
	v2 := fakeCgroup(t, true, map[string]string{"memory.max": "134217728", "cpu.max": "50000 100000", "pids.max": "50"})
	v1 := fakeCgroup(t, false, map[string]string{"memory.limit_in_bytes": "134217728", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "pids.max": "50"})
	for name, e := range map[string]*Env{"v1": v1, "v2": v2} {
		mem, err := e.cgroupFile(42, "memory", "memory.limit_in_bytes", "memory.max")
		if err != nil || wantLimit("memory", mem, labMemory) != nil {
			t.Errorf("%s: memory %q, %v", name, mem, err)
		}
		q, p, err := e.cpuQuota(42)
		if err != nil || q != labCPUQuota || p != labCPUPeriod {
			t.Errorf("%s: cpu %d/%d, %v", name, q, p, err)
		}
		pids, err := e.cgroupFile(42, "pids", "pids.max", "pids.max")
		if err != nil || pids != "50" {
			t.Errorf("%s: pids %q, %v", name, pids, err)
		}
		if _, err := e.cgroupFile(43, "pids", "pids.max", "pids.max"); err == nil {
			t.Errorf("%s: a pid without /proc entry read fine", name)
		}
	}
	unlimited := fakeCgroup(t, true, map[string]string{"cpu.max": "max 100000"})
	if q, _, err := unlimited.cpuQuota(42); err != nil || q != -1 {
		t.Errorf("cpu.max max: quota %d, %v; want -1", q, err)
	}
}

func TestWhiteoutRejectsAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vi")
	if err := whiteout(p); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("whiteout(missing) = %v", err)
	}
	os.WriteFile(p, []byte("x"), 0o644)
	if err := whiteout(p); err == nil {
		t.Error("a regular file passed for a whiteout")
	}
}

func TestParseCount(t *testing.T) {
	page := []byte("Olá! Esta página foi vista 7 vezes. (contêiner abc)\nHello! This page has been seen 7 times.\n")
	if n, err := parseCount(200, page); err != nil || n != 7 {
		t.Errorf("parseCount = %d, %v", n, err)
	}
	if _, err := parseCount(503, []byte("Não consegui falar com o Redis\n")); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("parseCount(503) = %v", err)
	}
	if _, err := parseCount(200, []byte("hello")); err == nil {
		t.Error("a page without a count parsed")
	}
}
