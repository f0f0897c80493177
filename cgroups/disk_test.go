package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// DiskOf climbs from a partition to its disk (the kernel takes no
// partition in a throttle), from a missing path to its nearest parent, and
// says false for a file system with no block device.
func TestDiskOf(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	sys := t.TempDir()
	defer func(s string) { sysDevBlock = s }(sysDevBlock)
	sysDevBlock = filepath.Join(sys, "dev", "block")
	disk := filepath.Join(sys, "devices", "vdz")
	part := filepath.Join(disk, "vdz1")
	writeFiles(t, disk, map[string]string{"dev": "252:0\n"})
	writeFiles(t, part, map[string]string{"dev": "252:1\n", "partition": "1\n"})
	writeFiles(t, sysDevBlock, nil)

	if _, ok, err := DiskOf(dir); ok || err != nil {
		t.Fatalf("no sysfs entry: ok %v err %v, want false", ok, err)
	}
	link := filepath.Join(sysDevBlock, fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err := os.Symlink(part, link); err != nil {
		t.Fatal(err)
	}
	d, ok, err := DiskOf(filepath.Join(dir, "not", "yet"))
	if err != nil || !ok {
		t.Fatalf("DiskOf: ok %v err %v", ok, err)
	}
	if d.String() != "252:0" || d.Name != "vdz" {
		t.Errorf("DiskOf = %v (%s), want the disk 252:0 (vdz), not its partition", d, d.Name)
	}
}
