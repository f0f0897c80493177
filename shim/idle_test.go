package shim

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := `00400000-00cea000 r-xp 00000000 fe:00 9997875                            /usr/local/bin/minirun
00cea000-0167e000 r--p 008ea000 fe:00 9997875                            /usr/local/bin/minirun
0167e000-01703000 rw-p 0127e000 fe:00 9997875                            /usr/local/bin/minirun
01703000-0374e000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 fe:01 9997875                    /other/device/same/inode
7f0000002000-7f0000003000 r--s 00000000 fe:00 9997875                    /usr/local/bin/minirun
7ffedffc7000-7ffedffe8000 rw-p 00000000 00:00 0                          [stack]
`
	p := filepath.Join(t.TempDir(), "maps")
	if err := os.WriteFile(p, []byte(maps), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readOnlyMappings(p, "fe:00", 9997875)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uint64{{0x400000, 0xcea000}, {0xcea000, 0x167e000}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

// TestReleaseIdleMemory drops the test binary's own code mappings and keeps
// running: the pages come back from the page cache on the next touch.
func TestReleaseIdleMemory(t *testing.T) {
	before := exeRSS(t)
	n, err := ReleaseIdleMemory()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable was dropped")
	}
	after := exeRSS(t)
	// Code and read-only data still work after the drop.
	if got := reflect.TypeOf(t).String(); got != "*testing.T" {
		t.Fatalf("type name after drop: %q", got)
	}
	t.Logf("resident pages of the executable: %d KiB before, %d KiB after", before, after)
	if after > before*3/4 {
		t.Fatalf("RSS of the executable's mappings went from %d to %d KiB only", before, after)
	}
}

// exeRSS sums the Rss lines of the executable's read-only mappings in
// /proc/self/smaps, in KiB.
func exeRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, inExe := 0, false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			inExe = len(f) == 6 && f[5] == exe && f[1][1] != 'w'
		case inExe && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}
