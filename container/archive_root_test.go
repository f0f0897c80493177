package container

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestExtractKeepsNestedBinds: an archive whose file replaces a directory
// of a running container (PUT archive without noOverwriteDirNonDir) must
// neither empty nor detach a directory bind-mounted below it. The bind is
// made in a mount namespace of its own (unshare -m, private propagation)
// and reached through /proc/<pid>/root, as a running container is: there
// rmdir(2) does not answer EBUSY for it, and it shares st_dev with the
// directory it is mounted in, which the old check compared. Root: it
// bind-mounts one temp dir onto another, in that namespace only.
func TestExtractKeepsNestedBinds(t *testing.T) {
	testutil.RequireRoot(t)
	_, root, host := fakeRoot(t)
	src := filepath.Join(host, "hostdir")
	must(t, os.MkdirAll(src+"/sub", 0o755))
	must(t, os.WriteFile(src+"/keep", []byte("host\n"), 0o644))
	must(t, os.WriteFile(src+"/sub/keep2", []byte("host\n"), 0o644))
	// full: the image has files where the bind is mounted; empty: it has not.
	full, empty := root+"/tmp/d/full", root+"/tmp/e/empty"
	must(t, os.MkdirAll(full, 0o755))
	must(t, os.MkdirAll(empty, 0o755))
	must(t, os.WriteFile(full+"/under", []byte("image\n"), 0o644))
	var a, b unix.Stat_t
	must(t, unix.Stat(full, &a))
	must(t, unix.Stat(src, &b))
	if a.Dev != b.Dev {
		t.Skipf("the temp dirs are on two filesystems: this test needs one")
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" "$2" && mount --bind "$1" "$3" && echo ok && exec sleep 60`, "sh", src, full, empty)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ok\n" {
		t.Fatalf("bind mounts in a new namespace: %q", l)
	}
	proc := "/proc/" + strconv.Itoa(cmd.Process.Pid)
	fd, err := unix.Open(proc+"/root"+root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	cfs := &ContainerFS{Meta: &Meta{Name: "t"}, root: fd, rootPath: proc + "/root" + root, Running: true}
	defer cfs.Close()
	for _, d := range []string{"d", "e"} {
		err := cfs.Extract(bytes.NewReader(tarBytes(t, reg(d, "f"))), "/tmp", ExtractOpts{}, nil)
		if !errors.Is(err, unix.EBUSY) {
			t.Errorf("replace /tmp/%s, which holds a bind mount: %v, want EBUSY", d, err)
		}
	}
	for _, f := range []string{src + "/keep", src + "/sub/keep2"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the bind's source lost %s: %v", f, err)
		}
	}
	mi, err := os.ReadFile(proc + "/mountinfo")
	must(t, err)
	for _, m := range []string{full, empty} {
		if !strings.Contains(string(mi), " "+m+" ") {
			t.Errorf("the bind at %s is gone from the namespace", m)
		}
	}
}
