//go:build integration

// Package integration runs minirun end to end, as root, the way a student
// does: the real binary, real namespaces, mounts and images. Every test
// uses the suite's own state and data roots under a temp dir, and the suite
// ends with a leak check that fails the run if a mount, link, network
// namespace, cgroup or firewall table that looks like minirun's is left.
package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	"github.com/minirun/minirun/network"
)

var (
	binary     string // the minirun binary under test
	stateRoot  string // --root
	dataRoot   string // --data-root
	busyboxTar string
	before     hostSnapshot
)

func TestMain(m *testing.M) {
	if os.Getenv(testutil.RootEnv) != "1" || os.Geteuid() != 0 {
		fmt.Println("integration: skipped (needs root and MINIRUN_TEST_ROOT=1)")
		os.Exit(0)
	}
	// No test may reach a registry on the internet: a missing image fails.
	os.Setenv("MINIRUN_PULL", "never")
	// The suite's default network is its own, so it never meets the mr0 of
	// the machine's /var/lib/minirun (a demo run before the tests).
	os.Setenv(network.EnvBridgeName, "mrtest0")
	os.Setenv(network.EnvBridgeSubnet, "10.76.0.0/16")
	// mrtest0 is this suite's own bridge: one already there was left by a
	// run that was killed before its reset, and its route would make every
	// network of this run overlap. Remove it (the lock that serialises
	// root suites means no other run is using it).
	if err := exec.Command("ip", "link", "show", "mrtest0").Run(); err == nil {
		fmt.Fprintln(os.Stderr, "integration: removing mrtest0 left by an earlier, aborted run")
		exec.Command("ip", "link", "del", "mrtest0").Run()
	}
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration setup:", err)
		os.Exit(1)
	}
	// What looks like minirun's before the suite starts is not checked
	// below (a demo's mr0, another suite running): name it, so a leak an
	// earlier, aborted run left is not silently accepted.
	if pre := before.leaksSince(hostSnapshot{}); len(pre) > 0 {
		fmt.Fprintf(os.Stderr, "leak check: already on the host before the suite, not checked: %s\n", strings.Join(pre, ", "))
	}
	if code == 0 {
		code = m.Run()
	}
	// Containers a test forgot: name them, so the leak below can be traced.
	if out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Image}} {{.Command}}").Output(); err == nil && len(out) > 0 {
		fmt.Fprintf(os.Stderr, "containers left by the tests:\n%s", out)
	}
	// The default bridge and minirun's firewall table stay between runs, as
	// docker0 does; the suite removes them like the end of a class would.
	if nm, err := network.Open(dataRoot, nil); err == nil {
		if err := nm.Reset(); err != nil {
			fmt.Fprintln(os.Stderr, "network reset:", err)
			out, _ := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "network", "inspect", "bridge").CombinedOutput()
			fmt.Fprintln(os.Stderr, string(out))
		}
	}
	os.RemoveAll(filepath.Dir(stateRoot))
	if leaks := snapshot().leaksSince(before); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED: the suite left host objects behind:")
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		code = 1
	} else {
		fmt.Println("leak check: nothing left behind")
	}
	os.Exit(code)
}

func setup() (int, error) {
	before = snapshot()
	top, err := os.MkdirTemp("", "minirun-it-")
	if err != nil {
		return 1, err
	}
	// 0711: a container whose root is a remapped uid must still reach its
	// rootfs under here (MkdirTemp makes 0700).
	os.Chmod(top, 0o711)
	stateRoot, dataRoot = filepath.Join(top, "run"), filepath.Join(top, "lib")
	// In the cgroup v2 VM there is no Go toolchain: the test command ships
	// a prebuilt binary and busybox tar and names them here.
	binary, busyboxTar = os.Getenv("MINIRUN_BINARY"), os.Getenv("MINIRUN_BUSYBOX_TAR")
	if binary == "" {
		binary = filepath.Join(top, "minirun")
		// As it ships, with minirun-init embedded (scripts/build.sh):
		// TestRuncEscapeBlocked checks that the init runs it.
		build := exec.Command("bash", repoPath("scripts/build.sh"), binary)
		if out, err := build.CombinedOutput(); err != nil {
			return 1, fmt.Errorf("build minirun: %v: %s", err, out)
		}
	}
	if busyboxTar == "" {
		busyboxTar = filepath.Join(top, "busybox.tar")
		mk := exec.Command("bash", repoPath("scripts/mkbusybox.sh"), busyboxTar)
		if out, err := mk.CombinedOutput(); err != nil {
			return 1, fmt.Errorf("mkbusybox: %v: %s", err, out)
		}
	}
	if out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "image", "import", "--change", `CMD ["sh"]`, busyboxTar, "busybox").CombinedOutput(); err != nil {
		return 1, fmt.Errorf("import busybox: %v: %s", err, out)
	}
	return 0, nil
}

// repoPath finds a file of the repository from this package's directory.
func repoPath(rel string) string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..", rel)
}

// result is one finished minirun command.
type result struct {
	stdout, stderr string
	code           int
}

// mr runs minirun with the suite's roots.
func mr(t *testing.T, args ...string) result {
	t.Helper()
	return mrIn(t, "", nil, args...)
}

func mrIn(t *testing.T, dir string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--root", stateRoot, "--data-root", dataRoot}, args...)...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	// Files, not pipes: after `create` the container's init keeps the
	// stdio it was given, and a pipe would hold this call open until the
	// container dies.
	o, err := os.CreateTemp("", "minirun-out-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(o.Name())
	defer o.Close()
	e, err := os.CreateTemp("", "minirun-err-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(e.Name())
	defer e.Close()
	cmd.Stdout, cmd.Stderr = o, e
	err = cmd.Run()
	ob, _ := os.ReadFile(o.Name())
	eb, _ := os.ReadFile(e.Name())
	r := result{stdout: string(ob), stderr: string(eb)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run minirun %v: %v", args, err)
	}
	return r
}

// startLogged starts cmd with its stdout and stderr in a new file at log,
// which it returns; when the test ends, cmd is stopped (SIGTERM, then
// waited for) and the file closed.
func startLogged(t *testing.T, cmd *exec.Cmd, log string) *os.File {
	t.Helper()
	logf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	})
	return logf
}

// startPiped starts cmd with a pipe to its stdin and one from its stdout,
// its stderr going to stderr: for a test that talks to a process while it
// runs.
func startPiped(t *testing.T, cmd *exec.Cmd, stderr io.Writer) (stdin io.WriteCloser, stdout io.ReadCloser) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdin, stdout
}

// ok runs minirun and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := mr(t, args...)
	if r.code != 0 {
		t.Fatalf("minirun %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs minirun, wants a non-zero exit and a one-line error that
// contains want.
func fails(t *testing.T, want string, args ...string) result {
	t.Helper()
	r := mr(t, args...)
	if r.code == 0 {
		t.Fatalf("minirun %s succeeded; want an error containing %q", strings.Join(args, " "), want)
	}
	msg := strings.TrimSpace(r.stderr)
	if !strings.Contains(msg, want) {
		t.Fatalf("minirun %s: stderr %q, want %q", strings.Join(args, " "), msg, want)
	}
	if strings.Count(msg, "\n") > 0 {
		t.Fatalf("minirun %s: error is not one line: %q", strings.Join(args, " "), msg)
	}
	return r
}

// inspect returns `minirun inspect NAME`'s first object.
func inspect(t *testing.T, name string) map[string]interface{} {
	t.Helper()
	var out []map[string]interface{}
	if err := json.Unmarshal([]byte(ok(t, "inspect", name)), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return out[0]
}

// rm removes containers at the end of a test.
func rmAtEnd(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			mr(t, "rm", "-f", n)
		}
	})
}
