package seccomp

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestSyscallTableMatchesUnix checks the generated x86_64 table against
// golang.org/x/sys/unix's compiled constants, name by name.
func TestSyscallTableMatchesUnix(t *testing.T) {
	if len(syscallsX86_64) != len(unixX86_64) {
		t.Errorf("table has %d names, unix %d", len(syscallsX86_64), len(unixX86_64))
	}
	for name, want := range unixX86_64 {
		if got, ok := syscallsX86_64[name]; !ok || int(got) != want {
			t.Errorf("%s: table %d (%v), unix.SYS_ %d", name, got, ok, want)
		}
	}
}

var nrRE = regexp.MustCompile(`^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ )?(\d+)\)?$`)

func readHeader(t *testing.T, path string) map[string]uint32 {
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no kernel headers (linux-libc-dev): %v", err)
	}
	defer f.Close()
	m := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mm := nrRE.FindStringSubmatch(sc.Text()); mm != nil {
			n, _ := strconv.ParseUint(mm[2], 10, 32)
			m[mm[1]] = uint32(n)
		}
	}
	if len(m) < 300 {
		t.Fatalf("%s: only %d syscalls parsed", path, len(m))
	}
	return m
}

// TestSyscallTablesMatchHeaders checks all three tables against the
// kernel's UAPI headers installed on this machine, a source independent of
// x/sys. The headers may be older than the tables (Debian 12 has 6.1), so
// every header entry must be in the table, not the other way round. For
// x32, a syscall the x86_64 header has and the x32 header lacks (a "64"-only
// entry that gen_syscalls.go drops) must be missing from the x32 table too.
func TestSyscallTablesMatchHeaders(t *testing.T) {
	dir := "/usr/include/x86_64-linux-gnu/asm/"
	headers := map[string]map[string]uint32{}
	for _, tc := range []struct {
		header string
		table  map[string]uint32
	}{
		{"unistd_64.h", syscallsX86_64},
		{"unistd_32.h", syscallsI386},
		{"unistd_x32.h", syscallsX32},
	} {
		h := readHeader(t, dir+tc.header)
		headers[tc.header] = h
		for name, nr := range h {
			if got, ok := tc.table[name]; !ok || got != nr {
				t.Errorf("%s: %s is %d, table has %d (%v)", tc.header, name, nr, got, ok)
			}
		}
	}
	for name := range headers["unistd_64.h"] {
		_, inHeader := headers["unistd_x32.h"][name]
		if _, inTable := syscallsX32[name]; inTable != inHeader {
			t.Errorf("x32: %s in header %v, in table %v", name, inHeader, inTable)
		}
	}
}
