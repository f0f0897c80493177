package runtime

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A task that has not executed anything since it was cloned still carries
// PF_FORKNOEXEC: every thread the Go runtime started is one. waitExeced
// must wait for such a task (and give up with a clear error), and return
// at once for one that has executed (this process's main thread).
func TestWaitExecedWaitsForTheExec(t *testing.T) {
	if err := waitExeced(os.Getpid(), time.Second); err != nil {
		t.Fatalf("main thread: %v", err)
	}
	tids := make(chan int)
	done := make(chan struct{})
	defer close(done)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		tids <- unix.Gettid()
		<-done
	}()
	tid := <-tids
	if tid == os.Getpid() {
		t.Skip("the goroutine landed on the main thread")
	}
	ps, err := readProcStat(tid)
	if err != nil || ps.Flags&pfForkNoExec == 0 {
		t.Fatalf("thread %d: flags %#x, %v: want PF_FORKNOEXEC", tid, ps.Flags, err)
	}
	err = waitExeced(tid, 30*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "has not executed") {
		t.Fatalf("waitExeced on a task that never executed: %v", err)
	}
}

// An init of another build (scripts/build.sh gave it another token) reads
// the config, then refuses it with an error that says what to do; with
// the same token it goes on to the config (here: none to set up, an
// error of another kind).
func TestInitRefusesAnotherBuild(t *testing.T) {
	defer func(old string) { buildToken = old }(buildToken)
	buildToken = "1-init"
	for _, tc := range []struct{ parent, want string }{
		{"2-minirun", "another minirun build"},
		{"1-init", "wait for config"},
	} {
		parent, child := syncPair(t)
		t.Setenv(envInitToken, tc.parent)
		if err := parent.send(message{Type: msgReady}); err != nil { // not a config
			t.Fatal(err)
		}
		started, err := initMain(child)
		if started || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parent %s: started %v, err %v: want %q", tc.parent, started, err, tc.want)
		}
	}
}

// Without a token (a plain `go build`), the embedded init is never used,
// whatever initbin holds: it may come from any earlier build.
func TestNoTokenNoEmbeddedInit(t *testing.T) {
	defer func(old string) { buildToken = old }(buildToken)
	buildToken = ""
	if hasEmbeddedInit() {
		t.Fatal("an untokened build uses the embedded init")
	}
	if _, ok := EmbeddedInit(); ok {
		t.Fatal("EmbeddedInit says yes")
	}
}

// A remapped init reaches the extracted minirun-init only through
// directories the others may search (TestUsernsInitWithClosedStateRoot
// is the live case): one 0700 directory on the way is enough to refuse.
func TestOthersCanReach(t *testing.T) {
	top := t.TempDir() // 0700, and so is its parent
	for _, d := range []string{top, filepath.Dir(top)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(top, ".init")
	file := filepath.Join(dir, "minirun-init-x")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o555); err != nil {
		t.Fatal(err)
	}
	if !othersCanReach(file) {
		t.Fatalf("%s: 0711 directories and a 0555 file, refused", file)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{top, 0o700}, {dir, 0o710}, {file, 0o550}} {
		os.Chmod(c.path, c.mode)
		if othersCanReach(file) {
			t.Errorf("%s at %o: reachable", c.path, c.mode)
		}
		os.Chmod(c.path, map[bool]os.FileMode{true: 0o555, false: 0o711}[c.path == file])
	}
}
