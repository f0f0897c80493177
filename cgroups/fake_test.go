package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
	"golang.org/x/sys/unix"
)

// fakeKernel imitates cgroupfs in a temp dir: mkdir fills the new
// directory with control files (from files, keyed by the new directory),
// and rmdir refuses (EBUSY) while the directory has a child directory or a
// pid in cgroup.procs, and otherwise removes it with its files.
type fakeKernel struct {
	files func(dir string) map[string]string
}

func (k fakeKernel) ops() fsOps {
	return fsOps{
		mkdir: func(dir string) error {
			if err := unix.Mkdir(dir, 0o755); err != nil {
				return err
			}
			for name, v := range k.files(dir) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
		rmdir: func(dir string) error {
			ents, err := os.ReadDir(dir)
			if err != nil {
				return unix.ENOENT
			}
			for _, e := range ents {
				if e.IsDir() {
					return unix.EBUSY
				}
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); strings.TrimSpace(string(b)) != "" {
				return unix.EBUSY
			}
			return os.RemoveAll(dir)
		},
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func assertGone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists (err %v)", p, err)
		}
	}
}

func assertExists(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// recorder returns a tracer that records every step.
func recorder() (*explain.Tracer, *explain.Recorder) {
	rec := &explain.Recorder{}
	return explain.New(rec), rec
}

// shells lists the Shell lines of the recorded steps with the given id.
func shells(rec *explain.Recorder, id string) []string {
	var out []string
	for _, e := range rec.Events {
		if e.Step.ID == id {
			out = append(out, e.Step.Shell)
		}
	}
	return out
}
