package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// initBudget is the most heap one package initialiser may allocate. Go
// runs the initialiser of every linked package in every process, whatever
// the process is for: a `run` starts three (the CLI, the shim, the
// container's init), and each pays for all of them before main, in CPU and
// in page faults (every new heap page is one). A package that needs a big
// table, or compiles regular expressions, should do it on first use
// (sync.OnceValue); third_party/ holds two dependencies patched for that.
const initBudget = 64 << 10

// TestPackageInitIsCheap builds minirun as scripts/setup.sh does (the
// test binary links more: urfave/cli's man page writer, for one) and runs
// `minirun --version` with GODEBUG=inittrace=1, which makes the Go runtime
// print, for each package initialiser, its clock time and what it
// allocated (runtime package documentation, "GODEBUG"); it fails for any
// over initBudget. distribution/reference allocated 414 KB there (its
// regexps), go-digest 92 KB.
func TestPackageInitIsCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds minirun")
	}
	bin := filepath.Join(t.TempDir(), "minirun")
	build := exec.Command("go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	total, n := 0, 0
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		// init github.com/x/y @1.2 ms, 0.5 ms clock, 414456 bytes, 3599 allocs
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		b, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("cannot read %q: %v", sc.Text(), err)
		}
		n++
		total += b
		if b > initBudget {
			t.Errorf("package %s allocates %d bytes in its initialiser (budget %d): make it lazy", f[1], b, initBudget)
		}
	}
	if n == 0 {
		t.Fatalf("no inittrace lines in the output: %s", stderr.String())
	}
	t.Logf("%d package initialisers allocated %d bytes", n, total)
}
