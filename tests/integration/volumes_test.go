//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A bind mount marked :ro cannot be written; a relative host path is
// resolved against the current directory, like the course's ./redis-data.
func TestBindMountReadOnly(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "entrada"), []byte("do host\n"), 0o644)
	r := mrIn(t, dir, nil, "run", "--rm", "-v", "./:/host:ro", "busybox", "sh", "-c", "cat /host/entrada; echo x > /host/novo")
	if !strings.Contains(r.stdout, "do host") || !strings.Contains(r.stderr, "Read-only file system") {
		t.Fatalf("ro bind: %q %q", r.stdout, r.stderr)
	}
	r = mrIn(t, dir, nil, "run", "--rm", "-v", "./dados:/dados", "busybox", "sh", "-c", "echo gravado > /dados/f")
	if b, err := os.ReadFile(filepath.Join(dir, "dados", "f")); err != nil || string(b) != "gravado\n" {
		t.Fatalf("rw bind of a relative path: %q %v (%q)", b, err, r.stderr)
	}
}

// A named volume survives rm of its container, is shared by two
// containers, is never inside the container's layer, and cannot be
// removed while a container uses it.
func TestNamedVolume(t *testing.T) {
	ok(t, "volume", "create", "compartilhado")
	t.Cleanup(func() { mr(t, "volume", "rm", "compartilhado") })
	runD(t, "escritor", "-v", "compartilhado:/dados", "busybox", "sh", "-c", "echo 1 > /dados/n; sleep 60")
	eventually(t, "the write", 5e9, func() bool {
		r := mr(t, "run", "--rm", "-v", "compartilhado:/ler", "busybox", "cat", "/ler/n")
		return strings.TrimSpace(r.stdout) == "1"
	})
	upper := inspect(t, "escritor")["GraphDriver"].(map[string]interface{})["Data"].(map[string]interface{})["UpperDir"].(string)
	if _, err := os.Stat(filepath.Join(upper, "dados", "n")); err == nil {
		t.Fatal("the volume's file landed in the container's upper dir")
	}
	fails(t, "in use", "volume", "rm", "compartilhado")
	ok(t, "rm", "-f", "escritor")
	if out := ok(t, "run", "--rm", "-v", "compartilhado:/d", "busybox", "cat", "/d/n"); strings.TrimSpace(out) != "1" {
		t.Fatalf("the volume lost its data with the container: %q", out)
	}
	var mp string
	for _, l := range strings.Split(ok(t, "volume", "inspect", "compartilhado"), "\n") {
		if strings.Contains(l, "Mountpoint") {
			mp = strings.Trim(strings.TrimSpace(strings.SplitN(l, ":", 2)[1]), `",`)
		}
	}
	if b, err := os.ReadFile(filepath.Join(mp, "n")); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("Mountpoint %q: %q %v", mp, b, err)
	}
	if !strings.Contains(ok(t, "volume", "ls"), "compartilhado") {
		t.Fatal("volume ls")
	}
}

// An anonymous volume goes with rm -v; a tmpfs is in memory; the image's
// content is copied into a new named volume.
func TestAnonymousVolumeAndTmpfs(t *testing.T) {
	ok(t, "run", "--name", "anon", "-v", "/dados", "--tmpfs", "/rapido", "busybox", "sh", "-c", "echo x > /dados/f; grep -E ' /rapido ' /proc/self/mountinfo")
	mounts := inspect(t, "anon")["Mounts"].([]interface{})
	var vol string
	for _, m := range mounts {
		mm := m.(map[string]interface{})
		if mm["Destination"] == "/dados" {
			vol = mm["Name"].(string)
		}
	}
	if vol == "" {
		t.Fatalf("no anonymous volume in Mounts: %v", mounts)
	}
	ok(t, "rm", "-v", "anon")
	if strings.Contains(ok(t, "volume", "ls"), vol) {
		t.Fatal("rm -v kept the anonymous volume")
	}
	// The busybox image has files in /etc: a new named volume there starts with them.
	out := ok(t, "run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc")
	t.Cleanup(func() { mr(t, "volume", "rm", "etcvol") })
	if !strings.Contains(out, "passwd") {
		t.Fatalf("the image's /etc was not copied into the new volume: %q", out)
	}
}

func TestVolumesFrom(t *testing.T) {
	runD(t, "fonte", "-v", "fromvol:/compartilhado", "busybox", "sh", "-c", "echo de-la > /compartilhado/f; sleep 60")
	t.Cleanup(func() { mr(t, "volume", "rm", "fromvol") })
	eventually(t, "the file", 5e9, func() bool {
		return strings.TrimSpace(mr(t, "run", "--rm", "--volumes-from", "fonte", "busybox", "cat", "/compartilhado/f").stdout) == "de-la"
	})
}

// A volume with driver options is mounted while a container uses it. Its
// shim, SIGKILLed with the container's init, cannot release it: whoever
// next sees the container dead unmounts it (ps here; rm would too),
// without `volume rm` (issue #13).
func TestVolumeUnmountedAfterShimKilled(t *testing.T) {
	ok(t, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=8m", "semdono")
	t.Cleanup(func() { mr(t, "volume", "rm", "semdono") })
	runD(t, "semshim", "-v", "semdono:/dados", "busybox", "sleep", "600")
	mp := filepath.Join(dataRoot, "volumes", "semdono", "_data")
	if !mountedAt(t, mp) {
		t.Fatalf("%s is not mounted while the container runs", mp)
	}
	pid := int(inspect(t, "semshim")["State"].(map[string]interface{})["Pid"].(float64))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var shim int
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			shim, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", shim)); !strings.Contains(string(cmd), "shim") {
		t.Fatalf("the init's parent %d is %q, not the shim", shim, cmd)
	}
	syscall.Kill(shim, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	eventually(t, "the shim and the init to die", 10*time.Second, func() bool {
		return syscall.Kill(shim, 0) != nil && syscall.Kill(pid, 0) != nil
	})
	ok(t, "ps", "-a")
	if mountedAt(t, mp) {
		t.Errorf("%s still mounted after ps found the container dead", mp)
	}
	ok(t, "rm", "semshim")
	if mountedAt(t, mp) {
		t.Errorf("%s still mounted after rm", mp)
	}
}

// mountedAt reports whether something is mounted at path, per this
// process's /proc/self/mountinfo (field 5 is the mount point).
func mountedAt(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
