package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// fsOps are the two operations whose behaviour on cgroupfs differs from a
// plain directory: mkdir makes the kernel fill the new group with control
// files, and rmdir removes a group with those files still in it, but only
// once no process and no child group is left (EBUSY before that). Unit tests
// swap them for a fake kernel working on a temp dir; everything else (reads
// and writes of control files) is plain file I/O and needs no fake.
type fsOps struct {
	mkdir func(dir string) error
	rmdir func(dir string) error
}

// kernelFS is the real cgroupfs.
var kernelFS = fsOps{
	mkdir: func(dir string) error { return unix.Mkdir(dir, 0o755) },
	rmdir: unix.Rmdir,
}

// writeFile writes value to a control file in one write(2), as cgroupfs
// expects: each write is parsed on its own, so a value must never be split.
// The file is not created when missing: a missing control file means the
// controller or the kernel feature is absent, and that must be an error.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// readFile reads a control file, without the trailing newline.
func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// exists reports whether a control file exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// available reports whether the kernel offers the control file name in
// the cgroup dir. When dir does not exist yet (a dry run narrates a cgroup
// it never created) it looks in the hierarchy's root instead, which has
// most of the same files.
func available(dir, root, name string) bool {
	if exists(dir) {
		return exists(filepath.Join(dir, name))
	}
	return exists(filepath.Join(root, name))
}

// readLimit reads a limit file: "max" (v2) is -1, and so is any value of
// 2^62 bytes or more, which is how v1 shows "no limit"
// (9223372036854771712: the largest page count times the page size).
func readLimit(path string) (int64, error) {
	s, err := readFile(path)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return -1, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %q is not a number", path, s)
	}
	if v >= 1<<62 {
		return -1, nil
	}
	return int64(v), nil
}

// readUint reads a file holding one unsigned number.
func readUint(path string) (uint64, error) {
	s, err := readFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %q is not a number", path, s)
	}
	return v, nil
}

// readKeyed reads a flat-keyed file ("key value" per line: memory.events,
// cgroup.events, cpu.stat, memory.oom_control) and returns one key's value,
// with ok=false when the key is absent.
func readKeyed(path, key string) (v uint64, ok bool, err error) {
	s, err := readFile(path)
	if err != nil {
		return 0, false, err
	}
	for _, line := range strings.Split(s, "\n") {
		k, val, found := strings.Cut(line, " ")
		if !found || k != key {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("read %s: %s %q is not a number", path, key, val)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// readPids reads cgroup.procs: one pid per line.
func readPids(path string) ([]int, error) {
	s, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %q is not a pid", path, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// mkdirAll creates the cgroup p (an absolute cgroup path) and its missing
// ancestors under the hierarchy mounted at root, top-down, and returns the
// directories it created, in creation order. EEXIST is success: Create is
// idempotent, and the shared /minirun parent is usually there already.
//
// NOTE: another container's Destroy may remove an empty /minirun between
// our mkdir of /minirun and our mkdir of /minirun/<id>, which then fails
// with ENOENT; the walk is simply started again.
func mkdirAll(ops fsOps, root, p string) ([]string, error) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var created []string
	for i, restarts := 0, 0; i < len(parts); i++ {
		dir := filepath.Join(append([]string{root}, parts[:i+1]...)...)
		err := ops.mkdir(dir)
		switch {
		case err == nil:
			created = append(created, dir)
		case errors.Is(err, unix.EEXIST):
		case errors.Is(err, unix.ENOENT) && i > 0 && restarts < 3:
			restarts++
			i = -1 // the parent vanished: walk again from the top
		default:
			return created, fmt.Errorf("mkdir %s: %w", dir, err)
		}
	}
	return created, nil
}

// removeDirs removes directories deepest first (the reverse of the order
// mkdirAll created them in); a directory already gone is fine.
func removeDirs(ops fsOps, dirs []string) error {
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := ops.rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// rmdirTimeout bounds how long Destroy waits for a group to empty.
var rmdirTimeout = 5 * time.Second

// rmdirRetry removes one cgroup directory. ENOENT is success (Destroy is
// idempotent). EBUSY means a process or a child group is still in it: a
// killed process leaves its cgroup a moment after the signal (once it has
// exited and been reaped), so the rmdir is retried with a growing delay, as
// runc does. Nothing is killed here: the caller decides the processes' fate.
func rmdirRetry(ops fsOps, dir string) error {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(rmdirTimeout)
	for {
		err := ops.rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("rmdir %s: %w (processes or child cgroups are still in it)", dir, err)
			}
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// removeOwnedAncestors removes, deepest first, the ancestors of p that are
// minirun's own (see ownedAncestors) once they are empty. A group still
// holding other containers answers EBUSY (or ENOTEMPTY), and that is where
// the climb stops: those are left alone, whoever they belong to.
func removeOwnedAncestors(ops fsOps, root, p string) error {
	for _, a := range ownedAncestors(p) {
		dir := filepath.Join(root, a)
		err := ops.rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EBUSY), errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
			return nil
		default:
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
	return nil
}

// waitFor polls cond every few milliseconds until it holds or timeout
// passes. The freezer has no blocking interface on v1, and on v2 a poll of
// cgroup.events is simpler than inotify for the handful of milliseconds a
// freeze takes.
func waitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
