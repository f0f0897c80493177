package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/internal/cleanup"
)

// The generated names are many, distinct and valid (issue #13, item 9: a
// space of 256 ran out).
func TestNameSpaceIsLarge(t *testing.T) {
	plain := len(adjectives) * len(scientists)
	if plain < 5000 {
		t.Fatalf("only %d plain names", plain)
	}
	for _, l := range [][]string{adjectives, scientists} {
		seen := map[string]bool{}
		for _, w := range l {
			if seen[w] {
				t.Errorf("%q twice", w)
			}
			seen[w] = true
		}
	}
	for i := 0; i < 1000; i++ {
		if n := randomName(i % 3); ValidateName(n) != nil {
			t.Fatalf("generated an invalid name %q", n)
		}
	}
}

// With every name taken, generateName gives an error after a bounded
// number of tries, at once: it never spins holding the lock.
func TestGenerateNameExhausted(t *testing.T) {
	calls := 0
	start := time.Now()
	_, err := generateName(newID(), func(string) bool { calls++; return true })
	if err == nil {
		t.Fatal("a name was generated with every name taken")
	}
	if calls > nameTries+1 || time.Since(start) > time.Second {
		t.Fatalf("%d tries in %v", calls, time.Since(start))
	}
	// The id's short form is the last resort, as in Docker.
	id := newID()
	n, err := generateName(id, func(n string) bool { return n != id[:12] })
	if err != nil || n != id[:12] {
		t.Fatalf("fallback: %q %v", n, err)
	}
}

// reserve finds a name even when every plain adjective_scientist name is
// held by an exited container (they keep their names): before, run spun
// forever at 100% CPU, holding the lock, past 256 containers.
func TestReserveWhenPlainNamesRunOut(t *testing.T) {
	m, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{}
	for _, a := range adjectives {
		for _, s := range scientists {
			name := a + "_" + s
			taken[name] = true
			meta := &Meta{ID: newID(), Name: name, State: State{Status: "exited"}}
			dir := m.dir(meta.ID)
			if err := os.Mkdir(dir, 0o711); err != nil {
				t.Fatal(err)
			}
			if err := meta.save(dir); err != nil {
				t.Fatal(err)
			}
		}
	}
	done := make(chan error, 1)
	var meta *Meta
	go func() {
		var undo cleanup.Stack
		var err error
		meta, err = m.reserve(RunOpts{Image: "busybox"}, &image.Image{ID: "sha256:0"}, &undo)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("reserve still looking for a name after 20s with %d names taken", len(taken))
	}
	if taken[meta.Name] || ValidateName(meta.Name) != nil {
		t.Fatalf("reserved %q", meta.Name)
	}
	// A removed container gives its name back.
	victim := adjectives[0] + "_" + scientists[0]
	all, _ := m.records()
	for _, c := range all {
		if c.Name == victim {
			os.RemoveAll(filepath.Join(m.DataRoot, "containers", c.ID))
		}
	}
	if names, _, _ := m.names(); names[victim] {
		t.Fatalf("%s is still taken after its container was removed", victim)
	}
}

// Get takes a reference as a full id first, then as an exact name, then as
// a unique id prefix, as Docker does (issue #13, item 10: a container
// named after another's full id was removed by `rm -f ID`).
func TestGetOrder(t *testing.T) {
	m, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	add := func(id, name string) {
		meta := &Meta{ID: id, Name: name, State: State{Status: "exited"}}
		if err := os.Mkdir(m.dir(id), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := meta.save(m.dir(id)); err != nil {
			t.Fatal(err)
		}
	}
	real := "f" + newID()[1:]
	// The impostor's record is read first (ids sort the directory).
	add("0"+newID()[1:], real)
	add(real, "real")
	add("abc"+newID()[3:], "other")
	add("abd"+newID()[3:], "abc") // named like the other's id prefix
	add("ab0"+newID()[3:], "x1")
	add("ab0"+newID()[3:], "x2")
	for ref, want := range map[string]string{real: "real", "abc": "abc", "real": "real", "abd": "abc", real[:5]: "real"} {
		got, err := m.Get(ref)
		if err != nil {
			t.Errorf("Get(%.12s…): %v", ref, err)
		} else if got.Name != want {
			t.Errorf("Get(%.12s…) found %.12s…, want %s", ref, got.Name, want)
		}
	}
	if _, err := m.Get("ab0"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("an ambiguous prefix: %v", err)
	}
	if _, err := m.Get("ab"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a 2-digit prefix: %v", err)
	}
}

// A name in the form of a full id is refused.
func TestValidateNameRefusesIDs(t *testing.T) {
	if err := ValidateName(newID()); err == nil {
		t.Fatal("a 64-hex name was accepted")
	}
	for _, ok := range []string{newID()[:12], newID()[:63], "A" + newID()[1:], newID() + "0"} {
		if err := ValidateName(ok); err != nil && len(ok) <= 128 {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

// A relative -w is refused before anything is made, with Docker's words
// (issue #13, item 14: it failed later in the shim, and the error named a
// shim.log the rollback had deleted).
func TestRelativeWorkdirRefused(t *testing.T) {
	m, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var undo cleanup.Stack
	_, _, err = m.prepare(RunOpts{Image: "busybox", Workdir: "rel"}, nil, &undo)
	if err == nil || err.Error() != "the working directory 'rel' is invalid, it needs to be an absolute path" {
		t.Fatalf("-w rel: %v", err)
	}
	if all, _ := m.records(); len(all) != 0 {
		t.Fatalf("left %d records", len(all))
	}
}

// reserve refuses a --name that is another container's short id (or a
// longer prefix of it): ps shows those, and people copy them.
func TestReserveRefusesShortIDs(t *testing.T) {
	m, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := &Meta{ID: newID(), Name: "other", State: State{Status: "exited"}}
	os.Mkdir(m.dir(other.ID), 0o711)
	if err := other.save(m.dir(other.ID)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{other.ID[:12], other.ID[:40]} {
		var undo cleanup.Stack
		_, err := m.reserve(RunOpts{Name: name}, &image.Image{ID: "sha256:0"}, &undo)
		if err == nil || !strings.Contains(err.Error(), "start of container "+other.ID[:12]) {
			undo.Run()
			t.Errorf("--name %s: %v", name, err)
		}
	}
	// A short hex word that happens to start the id is a name like any.
	var undo cleanup.Stack
	if _, err := m.reserve(RunOpts{Name: other.ID[:4]}, &image.Image{ID: "sha256:0"}, &undo); err != nil {
		t.Errorf("--name %s: %v", other.ID[:4], err)
	}
}
