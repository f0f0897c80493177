package build_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image/build"
	"github.com/minirun/minirun/image/build/buildtest"
)

// chrootRunner is the smallest real Runner: an overlayfs mount of the
// layers and the command chrooted into it, in new mount, UTS, IPC and PID
// namespaces. It has none of a container's other isolation (cgroups,
// capabilities, network): it exists to test the builder against the
// kernel's own overlayfs — real whiteouts, real opaque directories — until
// the container manager's runner plugs into buildtest.Run.
type chrootRunner struct{ t *testing.T }

func (r chrootRunner) Run(spec build.RunSpec) (int, error) {
	merged := filepath.Join(filepath.Dir(spec.Upper), "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		return 0, err
	}
	lower := spec.Lower
	if len(lower) == 0 {
		empty := filepath.Join(filepath.Dir(spec.Upper), "empty")
		os.Mkdir(empty, 0o755)
		lower = []string{empty}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), spec.Upper, spec.Work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return 0, fmt.Errorf("mount overlay: %w", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)

	wd := spec.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if err := os.MkdirAll(filepath.Join(merged, wd), 0o755); err != nil {
		return 0, err
	}
	cmd := exec.Command(spec.Cmd[0], spec.Cmd[1:]...)
	cmd.Env = spec.Config.Env
	cmd.Dir = wd
	cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     merged,
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWPID,
	}
	if u := spec.Config.User; u != "" {
		uid, gid, err := lookupUser(merged, u)
		if err != nil {
			return 0, err
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	}
	// exec.Cmd resolves the program on the host's PATH before the chroot:
	// give it the path inside instead.
	cmd.Path = spec.Cmd[0]
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), nil
	}
	return 0, err
}

func lookupUser(root, u string) (uint32, uint32, error) {
	b, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 3 && (f[0] == u || f[2] == u) {
			uid, _ := strconv.Atoi(f[2])
			gid, _ := strconv.Atoi(f[3])
			return uint32(uid), uint32(gid), nil
		}
	}
	return 0, 0, fmt.Errorf("no user %s in the image", u)
}

func TestBuildWithChrootRunner(t *testing.T) {
	buildtest.Run(t, func(t *testing.T, dataRoot string) build.Runner { return chrootRunner{t} })
}
