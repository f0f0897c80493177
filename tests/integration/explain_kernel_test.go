//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/cgroups"
)

// eventOf returns the first event of step id, or fails.
func eventOf(t *testing.T, evs []explainEvent, id string) explainEvent {
	t.Helper()
	for _, ev := range evs {
		if ev.Step.ID == id && !ev.Undo {
			if ev.Error != "" {
				t.Fatalf("step %s failed: %s", id, ev.Error)
			}
			return ev
		}
	}
	t.Fatalf("no step %s in %v", id, ids(evs))
	return explainEvent{}
}

// The cgroups chapter caps reads from the disk of the data root, a real
// block device, and reads the cap back from the cgroup file: "MAJ:MIN
// 10485760" in v1's blkio.throttle.read_bps_device, "MAJ:MIN rbps=10485760"
// in v2's io.max. A data root with no block device gets no cap.
func TestExplainCgroupsThrottlesTheDataRootDisk(t *testing.T) {
	d, hasDisk, err := cgroups.DiskOf(dataRoot)
	if err != nil {
		t.Fatal(err)
	}
	evs := explainEvents(t, "cgroups")
	if !hasDisk {
		for _, ev := range evs {
			if ev.Step.ID == "cgroups-io-throttle" {
				t.Fatalf("a cap on a disk the data root %s does not have: %q", dataRoot, ev.Evidence)
			}
		}
		t.Skipf("the data root %s has no block device: no cap to show", dataRoot)
	}
	ev := eventOf(t, evs, "cgroups-io-throttle")
	t.Logf("cgroups-io-throttle on %s (%s): %s", d, d.Name, ev.Evidence)
	v1, v2 := d.String()+" 10485760", d.String()+" rbps=10485760"
	if !strings.Contains(ev.Evidence, v1) && !strings.Contains(ev.Evidence, v2) {
		t.Fatalf("evidence %q: want the cap on %s (%s) read back", ev.Evidence, d, d.Name)
	}
}

// A --network host container's step network-host shows the host's own
// network namespace, the same the container itself reads.
func TestNetworkHostStepShowsTheHostNamespace(t *testing.T) {
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	r := mr(t, "run", "--rm", "--explain=json", "--network", "host", "busybox", "readlink", "/proc/self/ns/net")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := strings.TrimSpace(r.stdout); got != host {
		t.Fatalf("the container is in %s, the host in %s", got, host)
	}
	var evs []explainEvent
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var ev explainEvent
		if json.Unmarshal([]byte(l), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	ev := eventOf(t, evs, "network-host")
	t.Logf("network-host: %s", ev.Evidence)
	if want := "net: host " + host + " = container " + host; ev.Evidence != want {
		t.Fatalf("evidence %q, want %q", ev.Evidence, want)
	}
	for _, ev := range evs {
		if ev.Step.ID == "network-veth" {
			t.Fatal("a veth for a container on the host network")
		}
	}
}

// The security chapter says what this kernel's LSMs are, and says "not
// enabled" for a module that is off; the volumes chapter says whether
// this kernel mounts NFS.
func TestExplainKernelChecksAreHonest(t *testing.T) {
	lsm := eventOf(t, explainEvents(t, "security"), "security-lsm")
	t.Logf("security-lsm: %s", lsm.Evidence)
	b, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if aa := strings.TrimSpace(string(b)) == "Y"; aa == strings.Contains(lsm.Evidence, "AppArmor: não habilitado neste kernel") {
		t.Errorf("AppArmor enabled=%v, evidence %q", aa, lsm.Evidence)
	}
	_, err := os.Stat("/sys/fs/selinux/enforce")
	if se := err == nil; se == strings.Contains(lsm.Evidence, "SELinux: não habilitado neste kernel") {
		t.Errorf("SELinux enabled=%v, evidence %q", se, lsm.Evidence)
	}
	nfs := eventOf(t, explainEvents(t, "volumes"), "volumes-nfs-check")
	t.Logf("volumes-nfs-check: %s", nfs.Evidence)
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	has := strings.Contains(string(fss), "\tnfs\n") || strings.Contains(string(fss), "\tnfs4\n")
	if has != strings.Contains(nfs.Evidence, "/proc/filesystems tem nfs") {
		t.Errorf("nfs registered=%v, evidence %q", has, nfs.Evidence)
	}
}

// The namespaces chapter shows the user namespace when asked to (the data
// root then serves one range, so it is opt-in): live and dry run list the
// same steps, and ns-userns-map's evidence is the mapping the kernel holds
// for the init (the same range as TestUsernsRemap: one data root, one
// range).
func TestExplainNamespacesWithUserns(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "subid")
	if err := os.WriteFile(sub, []byte("aluno:300000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MINIRUN_SUBUID", sub)
	t.Setenv("MINIRUN_SUBGID", sub)
	dry := ids(explainEvents(t, "namespaces", "--userns-remap", "aluno", "--dry-run"))
	evs := explainEvents(t, "namespaces", "--userns-remap", "aluno")
	if strings.Join(dry, " ") != strings.Join(ids(evs), " ") {
		t.Fatalf("dry run and live run differ:\n dry:  %v\n live: %v", dry, ids(evs))
	}
	ev := eventOf(t, evs, "ns-userns-map")
	if want := "uid_map: 0 300000 65536; gid_map: 0 300000 65536"; ev.Evidence != want {
		t.Fatalf("evidence %q, want %q", ev.Evidence, want)
	}
	fails(t, "for the namespaces chapter", "explain", "cgroups", "--userns-remap", "aluno", "--dry-run")
}
