//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// envPATH is the environment with PATH replaced: tools that drive a
// runtime (containerd, CI scripts) run it by its full path, with a PATH
// that does not contain it.
func envPATH(path string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PATH=") {
			env = append(env, e)
		}
	}
	return append(env, "PATH="+path)
}

// Issue #14.2: minirun re-executes itself as the container's init (and as
// exec's init) without looking "minirun" up in PATH.
func TestRunWithoutMinirunOnPATH(t *testing.T) {
	if _, err := exec.LookPath("minirun"); err == nil {
		t.Log("note: a minirun is on this PATH; the test replaces PATH anyway")
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"--root", stateRoot, "--data-root", dataRoot}, args...)...)
		cmd.Env = envPATH("/usr/bin:/bin")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("PATH=/usr/bin:/bin minirun %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("run", "--rm", "busybox", "echo", "ran"); strings.TrimSpace(out) != "ran" {
		t.Fatalf("run: %q", out)
	}
	run("run", "-d", "--name", "nopath1", "busybox", "sleep", "30")
	defer mr(t, "rm", "-f", "nopath1")
	if out := run("exec", "nopath1", "echo", "exec-ran"); strings.TrimSpace(out) != "exec-ran" {
		t.Fatalf("exec: %q", out)
	}
}

// Issue #14.2: minirun run inside a chroot, as CI build roots do. Two
// kinds of chroot: a plain directory (the root is not a mount point, so
// neither a propagation change on / nor pivot_root works as such) and a
// directory bound onto itself (the init's binary is then protected by a
// read-only bind, which create checks from /proc/<init>/exe).
func TestRunInChroot(t *testing.T) {
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Fatal("chroot(8) not found (coreutils)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare(1) not found (util-linux)")
	}
	// sharedRoot: minirun runs in a mount namespace whose root mount is
	// shared, as systemd makes / (and CI's fresh root does): a chroot into
	// a bind mount then has a shared parent, and pivot_root(2) fails with
	// EINVAL unless the init first leaves the chroot for its namespace's
	// root and makes it rslave.
	for _, tc := range []struct {
		name       string
		selfBind   bool
		sharedRoot bool
	}{{"plain-dir", false, false}, {"mount-point", true, false}, {"mount-point-shared-root", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Chmod(dir, 0o755)
			var mounts []string // to detach, in reverse
			t.Cleanup(func() {
				for i := len(mounts) - 1; i >= 0; i-- {
					if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil {
						t.Errorf("unmount %s: %v", mounts[i], err)
					}
				}
			})
			mount := func(src, dst string, flags uintptr) {
				t.Helper()
				if err := unix.Mount(src, dst, "", flags, ""); err != nil {
					t.Fatalf("mount %s on %s: %v", src, dst, err)
				}
				// Slave: nothing mounted below here reaches the host's
				// own /proc, /sys or /dev.
				if err := unix.Mount("", dst, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
					t.Fatalf("make %s rslave: %v", dst, err)
				}
			}
			if tc.selfBind {
				mount(dir, dir, unix.MS_BIND)
				mounts = append(mounts, dir)
			}
			for _, d := range []string{"proc", "sys", "dev"} {
				p := filepath.Join(dir, d)
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
				mount("/"+d, p, unix.MS_BIND|unix.MS_REC)
				mounts = append(mounts, p)
			}
			for _, f := range [][2]string{{binary, "minirun"}, {busyboxTar, "busybox.tar"}} {
				b, err := os.ReadFile(f[0])
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f[1]), b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			in := func(args ...string) (string, error) {
				argv := append([]string{chroot, dir, "/minirun", "--root", "/run/minirun", "--data-root", "/var/lib/minirun"}, args...)
				if tc.sharedRoot {
					argv = append([]string{unshare, "--mount", "--propagation", "shared"}, argv...)
				}
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Env = envPATH("/usr/bin:/bin")
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := in("image", "import", "--change", `CMD ["sh"]`, "/busybox.tar", "busybox"); err != nil {
				t.Fatalf("import in chroot: %v\n%s", err, out)
			}
			// --network none: the chroot has no nft, and the suite's
			// bridge belongs to the data root outside.
			out, err := in("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo in-chroot; ls /")
			if err != nil || !strings.Contains(out, "in-chroot") || strings.Contains(out, "minirun") {
				t.Fatalf("run in chroot: %v\n%s", err, out)
			}
			// Nothing of the container is left mounted below the chroot.
			left, err := os.ReadFile("/proc/self/mountinfo")
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(left), "\n") {
				f := strings.Fields(l)
				if len(f) > 4 && strings.HasPrefix(f[4], filepath.Join(dir, "var")) {
					t.Errorf("left mounted: %s", f[4])
				}
			}
		})
	}
}
