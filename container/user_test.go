package container

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/minirun/minirun/runtime"
)

// (uid_t)-1 means "keep the current id" to setresuid(2): no spelling of
// an id outside 0-2147483647 may reach the spec, whether given with -u or
// read from the image's passwd and group files.
func TestResolveUserRange(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\nmenos:x:4294967295:0::/:/bin/sh\nbig:x:2147483647:2147483647::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\nmenos:x:4294967295:\n"), 0o644)
	for _, bad := range []string{"4294967295", ":4294967295", "0:4294967295", "2147483648", "-1", "0:-1", "99999999999999999999", "menos", "root:menos"} {
		u, err := resolveUser(root, bad)
		if !errors.Is(err, runtime.ErrIDRange) {
			t.Errorf("-u %s: got %+v, %v; want %v", bad, u, err, runtime.ErrIDRange)
		}
	}
	for in, want := range map[string][2]uint32{"2147483647": {2147483647, 2147483647}, ":0": {0, 0}, "big": {2147483647, 2147483647}, "0:2147483647": {0, 2147483647}, "root": {0, 0}} {
		u, err := resolveUser(root, in)
		if err != nil || u.UID != want[0] || u.GID != want[1] {
			t.Errorf("-u %s: %+v, %v; want uid %d gid %d", in, u, err, want[0], want[1])
		}
	}
}
