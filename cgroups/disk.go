package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Disk is a whole block device as the blkio/io controllers name it:
// MAJ:MIN and the kernel's name for it ("vda", "sda", "dm-0").
type Disk struct {
	Major, Minor int64
	Name         string
}

// String is the MAJ:MIN the control files take.
func (d Disk) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// sysDevBlock is where sysfs lists block devices by MAJ:MIN
// (Documentation/ABI/stable/sysfs-dev); a variable for the tests.
var sysDevBlock = "/sys/dev/block"

// DiskOf returns the whole disk that holds path (its nearest existing
// parent when path does not exist yet), for a throttle on it: the disk of
// minirun's data root is a real target on any machine without creating
// a loop device. It reports false when the file system has no block
// device (tmpfs, overlay, btrfs's anonymous devices: no entry under
// /sys/dev/block).
//
// NOTE: a throttle names a whole disk, never a partition: the kernel
// refuses a partition's MAJ:MIN (blkg_conf_open_bdev: "ENODEV"), so a
// partition ("vda1", which has a "partition" file in sysfs) is taken up
// to its parent directory, the disk.
func DiskOf(path string) (Disk, bool, error) {
	var st unix.Stat_t
	for {
		err := unix.Stat(path, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENOENT) || path == filepath.Dir(path) {
			return Disk{}, false, fmt.Errorf("stat %s: %w", path, err)
		}
		path = filepath.Dir(path)
	}
	dir := filepath.Join(sysDevBlock, fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Disk{}, false, nil
	}
	if err != nil {
		return Disk{}, false, fmt.Errorf("block device of %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		real = filepath.Dir(real)
	}
	b, err := os.ReadFile(filepath.Join(real, "dev"))
	if err != nil {
		return Disk{}, false, fmt.Errorf("block device of %s: %w", path, err)
	}
	maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	ma, err1 := strconv.ParseInt(maj, 10, 64)
	mi, err2 := strconv.ParseInt(min, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Disk{}, false, fmt.Errorf("block device of %s: bad %s/dev %q", path, real, b)
	}
	return Disk{Major: ma, Minor: mi, Name: filepath.Base(real)}, true, nil
}
