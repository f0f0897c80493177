//go:build integration

package integration

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// With process.terminal and --console-socket, create hands the pty master
// to whoever listens on the socket (containerd's shim, or this test), the
// way runc does: SCM_RIGHTS over a unix socket.
func TestConsoleSocket(t *testing.T) {
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; echo fim"}
	})
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, _ := unix.ParseUnixRights(&msgs[0])
		got <- os.NewFile(uintptr(fds[0]), "master")
	}()
	t.Cleanup(func() { mr(t, "delete", "--force", "tty1") })
	ok(t, "create", "--bundle", dir, "--console-socket", sock, "tty1")
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no pty master arrived on the console socket")
	}
	if master == nil {
		t.Fatal("bad console message")
	}
	defer master.Close()
	ok(t, "start", "tty1")
	var out []byte
	buf := make([]byte, 1024)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(string(out), "fim") && time.Now().Before(deadline) {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !strings.Contains(string(out), "/dev/pts/0") {
		t.Fatalf("the container's stdio is not its pty: %q", out)
	}
}

// run -t gives the container a terminal even when minirun's own stdin is not one.
func TestRunWithTTY(t *testing.T) {
	r := mr(t, "run", "--rm", "-t", "busybox", "tty")
	if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/0") {
		t.Fatalf("run -t tty: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// createContainer hooks run in the container's namespaces before
// pivot_root; startContainer hooks run inside the container after start.
func TestContainerHooks(t *testing.T) {
	out := t.TempDir()
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Hooks = &specs.Hooks{
			CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "readlink /proc/self/ns/mnt > " + filepath.Join(out, "createContainer") + "; cat > " + filepath.Join(out, "state.json")}}},
			StartContainer:  []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $$ > /tmp/startContainer"}}},
		}
	})
	ok(t, "run", "--bundle", dir, "chooks")
	b, err := os.ReadFile(filepath.Join(out, "createContainer"))
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	if err != nil || len(b) == 0 || strings.TrimSpace(string(b)) == hostMnt {
		t.Fatalf("createContainer hook did not run in the container's mount namespace: %q (host %s) %v", b, hostMnt, err)
	}
	var st specs.State
	if b, _ := os.ReadFile(filepath.Join(out, "state.json")); json.Unmarshal(b, &st) != nil || st.ID != "chooks" {
		t.Fatalf("createContainer hook state: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs/tmp/startContainer")); err != nil {
		t.Fatalf("startContainer hook did not run inside the container: %v", err)
	}
}
