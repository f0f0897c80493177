package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The NFS check tells the three kernels apart: client registered, client
// as a module only, no client at all (this host's).
func TestReadNFS(t *testing.T) {
	kernel := ReadNFS(t.TempDir()).Kernel
	for _, c := range []struct {
		name  string
		files map[string]string
		pt    string
		en    string
	}{
		{"no client", map[string]string{"proc/filesystems": "nodev\tsysfs\n\text4\n"}, "nfs ausente de /proc/filesystems", "this kernel cannot mount NFS"},
		{"module only", map[string]string{"proc/filesystems": "\text4\n",
			"lib/modules/" + kernel + "/modules.dep": "kernel/fs/nfs_common/grace.ko:\nkernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko\n"},
			"o módulo existe (kernel/fs/nfs/nfs.ko)", "the first mount -t nfs loads it"},
		{"registered", map[string]string{"proc/filesystems": "\text4\nnodev\tnfs\nnodev\tnfs4\n"}, "tem nfs, nfs4", "this kernel mounts NFS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for p, v := range c.files {
				p = filepath.Join(root, p)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			txt := ReadNFS(root).Text()
			if !strings.Contains(txt.PT, c.pt) || !strings.Contains(txt.EN, c.en) {
				t.Errorf("text %+v, want %q / %q", txt, c.pt, c.en)
			}
		})
	}
}
