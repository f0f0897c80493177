package runtime

// A container without a mount namespace of its own shares the host's: the
// mounts of its config (its /proc, its /dev tmpfs…) are made in the host's
// namespace, under the rootfs, as runc makes them. Nothing would take them
// away when the container ends, so create remembers which mounts appeared
// under the rootfs while the init set it up (a file in the state
// directory), and delete (or a failed create) unmounts exactly those.

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/mountinfo"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostMountsFile lists, one per line, the mount points the init made in
// the host's mount namespace.
const hostMountsFile = "host-mounts"

// mountsUnder counts the mounts on each mount point strictly below dir in
// this process's mount namespace (/proc/self/mountinfo, proc(5)); a path
// can carry several stacked mounts.
func mountsUnder(dir string) (map[string]int, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int{}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			if m := mountinfo.Unescape(fields[4]); strings.HasPrefix(m, prefix) {
				out[m]++
			}
		}
	}
	return out, sc.Err()
}

// newMountsUnder returns the mounts below dir that are not in before,
// one entry per mount, deepest first: the order they can be unmounted in.
func newMountsUnder(dir string, before map[string]int) ([]string, error) {
	now, err := mountsUnder(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for m, n := range now {
		for i := before[m]; i < n; i++ {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unmountAll detaches one mount per entry (MNT_DETACH, umount(2)), in the
// order given; a mount that is already gone is success.
func unmountAll(points []string) error {
	var errs []error
	for _, m := range points {
		err := unix.Unmount(m, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// watchHostMounts is create's step for a container without a mount
// namespace: it notes the mounts under the rootfs before the init starts
// and registers the undo that removes any the init adds, should create
// fail.
func (cr *creator) watchHostMounts() error {
	if hasNS(cr.spec, specs.MountNamespace) || cr.tr.DryRun() {
		return nil
	}
	before, err := mountsUnder(cr.rootfs)
	if err != nil {
		return fmt.Errorf("list mounts under %s: %w", cr.rootfs, err)
	}
	cr.hostMountsBefore = before
	// The step changes nothing yet; its Undo is what matters: it runs,
	// narrated, if create fails after the init has mounted under the
	// rootfs in the host's namespace.
	return cr.tr.Do(explain.Step{
		ID: "rootfs-chroot-host-ns", Chapter: explain.ChapterRootfs,
		Title: explain.Text{PT: "Sem namespace de montagem: anota as montagens sob " + cr.rootfs,
			EN: "No mount namespace: note the mounts under " + cr.rootfs},
		Why: explain.Text{PT: "As montagens do init ficam no namespace do host: o que aparecer sob o rootfs é do contêiner, e sai com ele.",
			EN: "The init's mounts land in the host's namespace: whatever appears under the rootfs is the container's, and goes with it."},
		Shell: "findmnt -R -n -o TARGET " + cr.rootfs,
		Do:    func() error { return nil },
		Undo: func() error {
			added, err := newMountsUnder(cr.rootfs, before)
			if err != nil {
				return err
			}
			return unmountAll(added)
		},
	}, cr.undo)
}

// recordHostMounts writes the mounts the init made in the host's
// namespace to the state directory, for delete.
func (cr *creator) recordHostMounts() error {
	if cr.hostMountsBefore == nil {
		return nil
	}
	added, err := newMountsUnder(cr.rootfs, cr.hostMountsBefore)
	if err != nil {
		return err
	}
	path := filepath.Join(cr.dir, hostMountsFile)
	if err := os.WriteFile(path, []byte(strings.Join(added, "\n")), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// unmountHostMounts is delete's side: it unmounts what create recorded.
func unmountHostMounts(stateDir string) error {
	b, err := os.ReadFile(filepath.Join(stateDir, hostMountsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			points = append(points, l)
		}
	}
	return unmountAll(points)
}
