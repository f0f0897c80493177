//go:build hostile

// Package hostile attacks minirun the way a malicious image, a careless
// user or a crashing machine would (issue #13): escape attempts from a
// default container, races that need two containers, SIGKILL at random
// points of create, run -d, rm, network create, the shim and the init, a
// full disk, and removers racing each other. After each attack the suite
// checks that nothing was left on the host.
//
// Attack code runs ONLY inside minirun containers: the suite builds
// tests/hostile/attack as a static binary and bakes it into an image
// ("hostile") with busybox. On the host the tests only run minirun and
// look at what it left.
//
// Run as root, under the shared lock, on its own network (mrhost0,
// 10.86.0.0/16; user networks come from minirun's pool 10.78.0.0/16) so it never meets the integration suite's:
//
//	MINIRUN_TEST_ROOT=1 go test -count=1 -tags hostile ./tests/hostile
//
// MINIRUN_HOSTILE_SEED fixes the seed of the random kill points (the log
// prints the one used), so a failing run can be repeated.
package hostile

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/minirun/minirun/internal/testutil"
	"github.com/minirun/minirun/network"
)

var (
	top        string // the suite's temp dir: roots, binaries, bundles
	binary     string // the minirun binary under test
	binaryHash string // its sha256 at the start (CVE-2019-5736 check)
	stateRoot  string // --root
	dataRoot   string // --data-root
	busyboxTar string
	seed       int64
	before     testutil.HostSnapshot
)

// The image the attacks run from: busybox, /attack, and /data with
// dataDirs×dataFiles small files, so that copying /data into a new volume
// takes long enough for the copy-up race.
const (
	hostileImage = "hostile"
	dataDirs     = 24
	dataFiles    = 120
)

func TestMain(m *testing.M) {
	if os.Getenv(testutil.RootEnv) != "1" || os.Geteuid() != 0 {
		fmt.Println("hostile: skipped (needs root and MINIRUN_TEST_ROOT=1)")
		os.Exit(0)
	}
	os.Setenv("MINIRUN_PULL", "never")
	os.Setenv(network.EnvBridgeName, "mrhost0")
	os.Setenv(network.EnvBridgeSubnet, "10.86.0.0/16")
	seed = time.Now().UnixNano()
	if s := os.Getenv("MINIRUN_HOSTILE_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	fmt.Printf("hostile: random kill points from seed %d (MINIRUN_HOSTILE_SEED=%d repeats them)\n", seed, seed)
	before = testutil.SnapshotHost()
	code := 1
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "hostile setup:", err)
	} else {
		code = m.Run()
	}
	if out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "ps", "-a", "--format", "{{.Names}} {{.Status}}").Output(); err == nil && len(out) > 0 {
		fmt.Fprintf(os.Stderr, "containers left by the tests:\n%s", out)
	}
	if nm, err := network.Open(dataRoot, nil); err == nil {
		if err := nm.Reset(); err != nil {
			fmt.Fprintln(os.Stderr, "network reset:", err)
		}
	}
	leaks := testutil.SnapshotHost().LeaksSince(before)
	if len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED: the hostile suite left host objects behind:")
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		code = 1
		// Reported; now put the machine back, so the next suite (and the
		// other helpers) start clean. Only what appeared during this run.
		scrub(leaks)
	} else {
		fmt.Println("leak check: nothing left behind")
	}
	if top != "" {
		os.RemoveAll(top)
	}
	os.Exit(code)
}

func setup() error {
	var err error
	top, err = os.MkdirTemp("", "minirun-hostile-")
	if err != nil {
		return err
	}
	// 0755 like /var/lib: whatever keeps another user out of a
	// container's files must be minirun's own directories (CVE-2021-41091).
	os.Chmod(top, 0o755)
	stateRoot, dataRoot = filepath.Join(top, "run"), filepath.Join(top, "lib")
	// The data root exists before minirun runs, 0755, as it does after a
	// `mkdir -p` by an admin or a package: then only the modes minirun
	// gives its own directories protect the containers' files.
	if err := os.Mkdir(dataRoot, 0o755); err != nil {
		return err
	}
	binary, busyboxTar = os.Getenv("MINIRUN_BINARY"), os.Getenv("MINIRUN_BUSYBOX_TAR")
	if binary == "" {
		binary = filepath.Join(top, "minirun")
		// As it ships, with minirun-init embedded: the attacks meet
		// the init users get.
		if out, err := exec.Command("bash", repoPath("scripts/build.sh"), binary).CombinedOutput(); err != nil {
			return fmt.Errorf("scripts/build.sh: %v: %s", err, out)
		}
	}
	// As on a provisioned machine (scripts/setup.sh installs minirun in
	// /usr/local/bin), the binary under test is the "minirun" on PATH:
	// runtime builds the init's command as exec.Command("minirun", …).
	os.Setenv("PATH", filepath.Dir(binary)+":"+os.Getenv("PATH"))
	if binaryHash, err = sha256File(binary); err != nil {
		return err
	}
	attack := filepath.Join(top, "attack")
	if err := goBuild(attack, "github.com/minirun/minirun/tests/hostile/attack"); err != nil {
		return err
	}
	if busyboxTar == "" {
		busyboxTar = filepath.Join(top, "busybox.tar")
		if out, err := exec.Command("bash", repoPath("scripts/mkbusybox.sh"), busyboxTar).CombinedOutput(); err != nil {
			return fmt.Errorf("mkbusybox: %v: %s", err, out)
		}
	}
	if out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "image", "import", "--change", `CMD ["sh"]`, busyboxTar, "busybox").CombinedOutput(); err != nil {
		return fmt.Errorf("import busybox: %v: %s", err, out)
	}
	hostileTar := filepath.Join(top, "hostile.tar")
	if err := writeHostileTar(hostileTar, busyboxTar, attack); err != nil {
		return err
	}
	if out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "image", "import", "--change", "CMD /attack escape", hostileTar, hostileImage).CombinedOutput(); err != nil {
		return fmt.Errorf("import %s: %v: %s", hostileImage, err, out)
	}
	os.Remove(hostileTar)
	// One container and one volume first: they make the default bridge,
	// minirun's nft table and the stores' lock files, which stay (like
	// docker0), so the per-attack leak checks below do not count them.
	for _, args := range [][]string{{"run", "--rm", hostileImage, "true"}, {"volume", "create", "hostile-warm"}, {"volume", "rm", "hostile-warm"}} {
		if out, err := exec.Command(binary, append([]string{"--root", stateRoot, "--data-root", dataRoot}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v: %s", args, err, out)
		}
	}
	return nil
}

func goBuild(out, pkg string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v: %s", pkg, err, b)
	}
	return nil
}

// writeHostileTar writes the hostile image's rootfs: busybox's tar, the
// attack binary at /attack, and the /data tree.
func writeHostileTar(out, busybox, attack string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	in, err := os.Open(busybox)
	if err != nil {
		return err
	}
	defer in.Close()
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", busybox, err)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	ab, err := os.ReadFile(attack)
	if err != nil {
		return err
	}
	mtime := time.Unix(1704067200, 0)
	add := func(h *tar.Header, body []byte) error {
		h.ModTime, h.Size = mtime, int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := add(&tar.Header{Name: "./attack", Mode: 0o755, Typeflag: tar.TypeReg}, ab); err != nil {
		return err
	}
	if err := add(&tar.Header{Name: "./data/", Mode: 0o755, Typeflag: tar.TypeDir}, nil); err != nil {
		return err
	}
	body := bytes.Repeat([]byte("hostile image data\n"), 100)
	for d := 0; d < dataDirs; d++ {
		dir := fmt.Sprintf("./data/d%02d/", d)
		if err := add(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir}, nil); err != nil {
			return err
		}
		for i := 0; i < dataFiles; i++ {
			if err := add(&tar.Header{Name: fmt.Sprintf("%sf%03d", dir, i), Mode: 0o644, Typeflag: tar.TypeReg}, body); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// repoPath finds a file of the repository from this package's directory.
func repoPath(rel string) string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..", rel)
}

// scrub removes what the leak check found, after it was reported, so the
// next suite starts clean — but only what is provably the suite's own,
// since other work may run on the machine: mounts under the suite's temp
// dir, and the cgroups (with their processes) of containers whose id
// names the suite's OCI containers (hk-*) or is left in the suite's
// state or data root. Anything else stays, reported above.
func scrub(leaks []string) {
	ours := map[string]bool{}
	var mounts, cgroups []string
	for _, l := range leaks {
		kind, what, _ := strings.Cut(l, ": ")
		switch kind {
		case "mount":
			if strings.HasPrefix(what, top+"/") {
				mounts = append(mounts, what)
			}
		case "file":
			if rel, ok := strings.CutPrefix(what, top+"/"); ok {
				for _, part := range strings.Split(rel, "/") {
					ours[part] = true
				}
			}
		case "cgroup":
			cgroups = append(cgroups, what)
		}
	}
	for _, d := range []string{stateRoot, filepath.Join(dataRoot, "containers")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			ours[e.Name()] = true
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
	for i := len(cgroups) - 1; i >= 0; i-- {
		id := filepath.Base(cgroups[i])
		if !ours[id] && !strings.HasPrefix(id, "hk-") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(cgroups[i], "cgroup.procs")); err == nil {
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		eventually(2*time.Second, func() bool { return os.Remove(cgroups[i]) == nil || os.IsNotExist(os.Remove(cgroups[i])) })
	}
	// The suite's bridge, and the firewall rules its networks and
	// containers own (comment minirun:<short id>): a leaked endpoint keeps
	// network.Reset from removing them.
	for _, l := range leaks {
		if l == "link: mrhost0" {
			exec.Command("ip", "link", "del", "mrhost0").Run()
		}
	}
	if ents, err := os.ReadDir(filepath.Join(dataRoot, "network")); err == nil {
		for _, e := range ents {
			ours[e.Name()] = true
		}
	}
	deleteOwnRules(ours)
	// The minirun parents that appeared during the run, once empty.
	for _, cg := range cgroups {
		if filepath.Base(cg) == "minirun" {
			os.Remove(cg)
		}
	}
	if left := testutil.SnapshotHost().LeaksSince(before); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "scrub: still left after cleaning up what is the suite's own:\n  %s\n", strings.Join(left, "\n  "))
	}
}

// deleteOwnRules deletes the rules of table ip minirun whose comment is
// minirun:<the first 12 characters of one of ids>.
func deleteOwnRules(ids map[string]bool) {
	tags := map[string]bool{}
	for id := range ids {
		if len(id) >= 12 {
			tags["minirun:"+id[:12]] = true
		}
	}
	c, err := nftables.New()
	if err != nil {
		return
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != "minirun" {
			continue
		}
		rules, _ := c.GetRules(ch.Table, ch)
		for _, r := range rules {
			if tag, _ := userdata.GetString(r.UserData, userdata.TypeComment); tags[tag] {
				c.DelRule(r)
			}
		}
	}
	c.Flush()
}

// result is one finished minirun command.
type result struct {
	stdout, stderr string
	code           int
}

// mr runs minirun with the suite's roots.
func mr(t testing.TB, args ...string) result {
	t.Helper()
	return mrRoots(t, stateRoot, dataRoot, args...)
}

// mrRoots runs minirun with the given state and data roots. Output goes
// to files, not pipes: a container's init keeps the stdio it was given,
// and a pipe would hold this call open until the container dies.
func mrRoots(t testing.TB, state, data string, args ...string) result {
	t.Helper()
	cmd, o, e := mrCommand(t, state, data, args...)
	defer os.Remove(o.Name())
	defer os.Remove(e.Name())
	err := cmd.Run()
	return finish(t, cmd, o, e, err)
}

func mrCommand(t testing.TB, state, data string, args ...string) (*exec.Cmd, *os.File, *os.File) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--root", state, "--data-root", data}, args...)...)
	o, err := os.CreateTemp("", "minirun-hostile-out-")
	if err != nil {
		t.Fatal(err)
	}
	e, err := os.CreateTemp("", "minirun-hostile-err-")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = o, e
	return cmd, o, e
}

func finish(t testing.TB, cmd *exec.Cmd, o, e *os.File, err error) result {
	t.Helper()
	o.Close()
	e.Close()
	ob, _ := os.ReadFile(o.Name())
	eb, _ := os.ReadFile(e.Name())
	r := result{stdout: string(ob), stderr: string(eb)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run minirun %v: %v", cmd.Args, err)
	}
	return r
}

// ok runs minirun and fails the test unless it exits 0.
func ok(t testing.TB, args ...string) string {
	t.Helper()
	r := mr(t, args...)
	if r.code != 0 {
		t.Fatalf("minirun %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// inspectState returns `inspect NAME`'s Id and State, or ok=false.
func inspectState(t testing.TB, state, data, name string) (id string, st map[string]interface{}, found bool) {
	t.Helper()
	r := mrRoots(t, state, data, "inspect", name)
	if r.code != 0 {
		return "", nil, false
	}
	var out []map[string]interface{}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		return "", nil, false
	}
	id, _ = out[0]["Id"].(string)
	st, _ = out[0]["State"].(map[string]interface{})
	return id, st, true
}

// eventually polls cond until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// rmAtEnd removes containers at the end of a test.
func rmAtEnd(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			mr(t, "rm", "-f", n)
		}
	})
}

// snap is a host snapshot that includes the suite's state and data roots.
func snap() testutil.HostSnapshot { return testutil.SnapshotHost(stateRoot, dataRoot) }

// leakCheck fails the test (naming what) when the host has objects it did
// not have at base, and returns the snapshot to use as the next base, so
// one leak is reported once. It gives the host 3 seconds: a killed
// process takes a moment to be reaped by pid 1.
func leakCheck(t *testing.T, base testutil.HostSnapshot, item, what string) testutil.HostSnapshot {
	t.Helper()
	var now testutil.HostSnapshot
	eventually(3*time.Second, func() bool { now = snap(); return len(now.LeaksSince(base)) == 0 })
	if leaks := now.LeaksSince(base); len(leaks) > 0 {
		t.Errorf("%s: %s left on the host:\n  %s", item, what, strings.Join(leaks, "\n  "))
	}
	return now
}

// newRand is the suite's PRNG for one test: the suite seed plus the
// test's name, so each test's kill points repeat on their own.
func newRand(t *testing.T) *rand.Rand {
	h := sha256.Sum256([]byte(t.Name()))
	var mix int64
	for _, b := range h[:8] {
		mix = mix<<8 | int64(b)
	}
	return rand.New(rand.NewSource(seed ^ mix))
}
