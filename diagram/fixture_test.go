package diagram

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordedNet replays links recorded with Netlink (testdata/*/netlink.json).
type recordedNet struct {
	Host []Link            `json:"host"`
	Pids map[string][]Link `json:"pids"`
}

func (r *recordedNet) HostLinks() ([]Link, error) { return r.Host, nil }

func (r *recordedNet) Links(pid int) ([]Link, error) {
	l, ok := r.Pids[fmt.Sprint(pid)]
	if !ok {
		return nil, fmt.Errorf("no netns recorded for pid %d", pid)
	}
	return l, nil
}

// v1Probe reads testdata/v1: recorded on a cgroup v1 Debian 12 host from
// `minirun run -d -p 127.0.0.1:18080:80 -m 64m --cpus 0.5 --pids-limit 64
// busybox sh -c 'echo escrito > /novo-arquivo; rm -f /bin/vi; sleep 60'`
// (the namespace links, the overlay's mountinfo line, the cgroup files,
// state.json, the links as Netlink read them and `nft list table ip
// minirun`, with another helper's network beside it).
func v1Probe(t *testing.T) *Probe {
	t.Helper()
	dir := filepath.Join("testdata", "v1")
	var net recordedNet
	b, err := os.ReadFile(filepath.Join(dir, "netlink.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &net); err != nil {
		t.Fatal(err)
	}
	nft, err := os.ReadFile(filepath.Join(dir, "nft.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return &Probe{
		Proc: filepath.Join(dir, "proc"), Self: "self", CgroupRoot: filepath.Join(dir, "cgroup"),
		StateRoot: filepath.Join(dir, "run"), DataRoot: "/tmp/h21web-data",
		Net: &net, Rules: func() (string, error) { return string(nft), nil },
		LayerSize: func(string) int64 { return 1234567 },
	}
}

const v1ID = "6934324900d41801cc5c32f61b6481a61ec809157955e372d8b1dc25efff5ecb"

// writeV2 lays out a cgroup v2 host in dir, in the middle of a create: the
// state says creating (no pid yet), the init is already in its cgroup, the
// container shares the host's user and cgroup namespaces, and it wrote a
// file and deleted one (a whiteout is a device node: it needs root, so
// only the file is laid out here).
func writeV2(t *testing.T, dir string) *Probe {
	t.Helper()
	id := "c0ffee" + strings.Repeat("0", 58)
	data := filepath.Join(dir, "data")
	upper := filepath.Join(data, "containers", id, "diff")
	files := map[string]string{
		"run/" + id + "/state.json":                                             `{"id":"` + id + `","pid":0,"creating":true,"cgroupPath":"/minirun/` + id + `"}`,
		"cgroup/cgroup.controllers":                                             "cpuset cpu io memory hugetlb pids rdma misc\n",
		"cgroup/minirun/" + id + "/cgroup.procs":                                "4242\n",
		"cgroup/minirun/" + id + "/memory.max":                                  "max\n",
		"cgroup/minirun/" + id + "/memory.current":                              "2240512\n",
		"cgroup/minirun/" + id + "/pids.max":                                    "64\n",
		"cgroup/minirun/" + id + "/pids.current":                                "2\n",
		"cgroup/minirun/" + id + "/cpu.max":                                     "50000 100000\n",
		"cgroup/minirun/" + id + "/cpu.stat":                                    "usage_usec 12500\nuser_usec 9000\nsystem_usec 3500\n",
		"data/containers/" + id + "/diff/novo-arquivo":                          "escrito\n",
		"data/image/layers/sha256/" + strings.Repeat("ab", 32) + "/diff/bin/sh": "01234567",
		"data/image/layers/sha256/" + strings.Repeat("cd", 32) + "/diff/etc/x":  "0123",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(data, "containers", id, "work"), 0o755)
	os.MkdirAll(filepath.Join(data, "containers", id, "merged"), 0o755)
	host := map[string]string{"pid": "4026531836", "net": "4026531840", "mnt": "4026531841", "uts": "4026531838", "ipc": "4026531839", "user": "4026531837", "cgroup": "4026531835"}
	ctr := map[string]string{"pid": "4026532301", "net": "4026532304", "mnt": "4026532299", "uts": "4026532300", "ipc": "4026532302", "user": "4026531837", "cgroup": "4026531835"}
	for k := range host {
		for pid, m := range map[string]map[string]string{"self": host, "4242": ctr} {
			d := filepath.Join(dir, "proc", pid, "ns")
			os.MkdirAll(d, 0o755)
			if err := os.Symlink(k+":["+m[k]+"]", filepath.Join(d, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	l1 := filepath.Join(data, "image/layers/sha256", strings.Repeat("ab", 32), "diff")
	l2 := filepath.Join(data, "image/layers/sha256", strings.Repeat("cd", 32), "diff")
	mi := "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
		"50 26 0:41 / " + filepath.Join(data, "containers", id, "merged") + " rw,relatime - overlay overlay rw,lowerdir=" + l1 + ":" + l2 +
		",upperdir=" + upper + ",workdir=" + filepath.Join(data, "containers", id, "work") + ",uuid=on\n" +
		// Not minirun's: another runtime's overlay, and a bind of ours.
		"51 26 0:42 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c\n"
	os.MkdirAll(filepath.Join(dir, "proc", "4242"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "proc", "self", "mountinfo"), []byte(mi), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Probe{Proc: filepath.Join(dir, "proc"), Self: "self", CgroupRoot: filepath.Join(dir, "cgroup"),
		StateRoot: filepath.Join(dir, "run"), DataRoot: data}
}
