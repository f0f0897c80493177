package cgroups

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the processes the root tests put in a cgroup
// (runc's trick): started with helperEnv set, TestMain runs the helper
// instead of the tests. Each helper first waits for one line on stdin, so
// the test can move it into the cgroup before it does anything that the
// cgroup should limit.
const helperEnv = "MINIRUN_CGROUPS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(helperEnv+"_ARG")))
	}
	os.Exit(m.Run())
}

func runHelper(mode, arg string) int {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "helper: no go signal:", err)
		return 2
	}
	switch mode {
	case "alloc":
		// Allocate arg MiB and touch every page, so the memory is really
		// charged, then report and stay alive until stdin closes.
		mb, _ := strconv.Atoi(arg)
		buf := make([]byte, mb<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		fmt.Println("allocated", len(buf))
		io.Copy(io.Discard, in)
		runtime.KeepAlive(buf) // the memory stays charged until now
		return 0
	case "open":
		// Open each comma-separated path read-write and report the result.
		for _, p := range strings.Split(arg, ",") {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				fmt.Printf("%s: %v\n", p, err)
				continue
			}
			f.Close()
			fmt.Printf("%s: ok\n", p)
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
	return 2
}

// helper is a started helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHelper(t *testing.T, mode, arg string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_ARG="+arg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return h
}

// start releases the helper (it is in its cgroup by now).
func (h *helper) start(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// startShell runs script with /bin/sh, which first waits for a line on
// stdin ("read go"). Output goes to files, not pipes, so background
// children cannot hold Wait up.
func startShell(t *testing.T, script string) (*exec.Cmd, io.WriteCloser, *os.File) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "read go; "+script)
	cmd.Stdout, cmd.Stderr = errf, errf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, stdin, errf
}

// cpuTicks reads a process's user+system time in clock ticks from
// /proc/<pid>/stat (proc(5): fields 14 and 15).
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from its ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return utime + stime
}

// killAll SIGKILLs every process left in the cgroup, so that Destroy can
// remove it: the tests' own processes, never anyone else's.
func killAll(t *testing.T, m Manager) {
	t.Helper()
	for i := 0; i < 50; i++ {
		pids, err := m.Procs()
		if err != nil || len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomID(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "test-" + hex.EncodeToString(b)
}
