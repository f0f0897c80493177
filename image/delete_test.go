package image

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// TestDeleteConflicts follows dockerd's rules for `docker rmi`: which
// container and name states refuse (and with what words), what -f lifts,
// and what it cannot.
func TestDeleteConflicts(t *testing.T) {
	s, _ := newStore(t)
	img, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "app:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var user string
	var running bool
	o := DeleteOptions{User: func(id string) (string, bool, error) {
		if id == img.ID {
			return user, running, nil
		}
		return "", false, nil
	}}
	wantConflict := func(what string, err error, words string) {
		t.Helper()
		var ce *ConflictError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), words) {
			t.Fatalf("%s: %v, want a ConflictError saying %q", what, err, words)
		}
		if _, err := s.Get("app:1"); err != nil {
			t.Fatalf("%s: the refusal changed the store: %v", what, err)
		}
	}

	user = "c0ffee0123456789"
	_, err = s.Delete("app:1", o)
	wantConflict("last name, stopped container", err, `unable to remove repository reference "app:1" (must force) - container c0ffee012345`)
	_, err = s.Delete(img.ID, o)
	wantConflict("ID, stopped container", err, "(must be forced) - image is being used by stopped container c0ffee012345")
	running = true
	fo := o
	fo.Force = true
	_, err = s.Delete(img.ID, fo)
	wantConflict("ID, running container, -f", err, "(cannot be forced) - image is being used by running container")

	// Two repositories: by ID without -f refused; by name, an untag.
	if err := s.Tag("app:1", "other:1"); err != nil {
		t.Fatal(err)
	}
	user = ""
	_, err = s.Delete(img.ID, o)
	wantConflict("ID, two repositories", err, "image is referenced in multiple repositories")
	rm, err := s.Delete("other:1", o)
	if err != nil || !slices.Equal(rm.Untagged, []string{"other:1"}) || len(rm.Deleted) != 0 {
		t.Fatalf("Delete of one of two names: %+v %v", rm, err)
	}

	// -f by name while a container uses it: untagged, kept (dangling).
	user, running = "c0ffee0123456789", true
	rm, err = s.Delete("app:1", fo)
	if err != nil || !slices.Equal(rm.Untagged, []string{"app:1"}) || len(rm.Deleted) != 0 {
		t.Fatalf("Delete -f of the last name of an image in use: %+v %v", rm, err)
	}
	if got, err := s.Get(img.ID); err != nil || len(got.Names) != 0 {
		t.Fatalf("the image in use must stay, nameless: %v %v", got, err)
	}
	// The container gone: by ID, deleted.
	user, running = "", false
	rm, err = s.Delete(img.ID, o)
	if err != nil || !slices.Equal(rm.Deleted, []string{img.ID}) {
		t.Fatalf("Delete by ID of an unused image: %+v %v", rm, err)
	}
	if _, err := s.Delete(img.ID, o); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete again: %v, want ErrNotFound", err)
	}
}

// TestDeleteNoPruneKeepsParents: --no-prune leaves the anonymous build
// steps under the deleted image; without it they go.
func TestDeleteNoPruneKeepsParents(t *testing.T) {
	s, _ := newStore(t)
	base, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"a": "1"})), "base", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := base.Config
	cfg.History = append(cfg.History, v1.History{CreatedBy: "step"})
	mid, err := s.Commit(base, bytes.NewReader(layerTar(t, map[string]string{"b": "2"})), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.History = append(cfg.History, v1.History{CreatedBy: "step 2"})
	top, err := s.Commit(mid, bytes.NewReader(layerTar(t, map[string]string{"c": "3"})), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Tag(top.ID, "app")
	// A child blocks deletion by ID, even with -f.
	if _, err := s.Delete(mid.ID, DeleteOptions{Force: true}); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("Delete of a parent: %v, want ErrHasChildren", err)
	}
	rm, err := s.Delete("app", DeleteOptions{NoPrune: true})
	if err != nil || !slices.Equal(rm.Deleted, []string{top.ID}) {
		t.Fatalf("Delete --no-prune: %+v %v", rm, err)
	}
	if _, err := s.Get(mid.ID); err != nil {
		t.Fatalf("--no-prune removed the parent step: %v", err)
	}
}

func TestPruneFilters(t *testing.T) {
	s, _ := newStore(t)
	lab := &v1.ImageConfig{Labels: map[string]string{"course": "containers"}}
	a, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"a": "1"})), "", lab, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"b": "1"})), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	named, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"n": "1"})), "named", lab, nil)
	if err != nil {
		t.Fatal(err)
	}
	// until before both: nothing goes.
	rm, _, err := s.PruneWith(PruneOptions{Until: time.Now().Add(-time.Hour)})
	if err != nil || len(rm.Deleted) != 0 {
		t.Fatalf("prune until an hour ago: %+v %v", rm, err)
	}
	// label=course=containers: only the dangling one with the label.
	rm, _, err = s.PruneWith(PruneOptions{Labels: []string{"course=containers"}})
	if err != nil || !slices.Equal(rm.Deleted, []string{a.ID}) {
		t.Fatalf("prune label=course=containers: %+v %v, want only %s", rm, err, a.ID)
	}
	// label!=course: b; the named one stays (not dangling).
	rm, _, err = s.PruneWith(PruneOptions{NotLabels: []string{"course"}})
	if err != nil || !slices.Equal(rm.Deleted, []string{b.ID}) {
		t.Fatalf("prune label!=course: %+v %v, want only %s", rm, err, b.ID)
	}
	if _, err := s.Get(named.ID); err != nil {
		t.Fatal("a named image was pruned without -a")
	}
}

// When the containers cannot be listed, nothing is removed: a layer a
// container's overlay still uses must not go on a guess.
func TestDeleteRefusesWhenUseIsUnknown(t *testing.T) {
	s, _ := newStore(t)
	img, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "app:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	unknown := errors.New("containers unreadable")
	o := DeleteOptions{Force: true, User: func(string) (string, bool, error) { return "", false, unknown }}
	for _, ref := range []string{"app:1", img.ID} {
		if _, err := s.Delete(ref, o); !errors.Is(err, unknown) {
			t.Errorf("Delete(%s) with an unknown use: %v, want the listing's error", ref, err)
		}
	}
	if _, err := s.Get(img.ID); err != nil {
		t.Fatalf("the image went: %v", err)
	}
}

// addDigestRef gives img the digest reference name@<digest of manifest>,
// as a pull does, and returns it.
func addDigestRef(t *testing.T, s *Store, img *Image, name, manifest string) string {
	t.Helper()
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ref := name + "@" + digest.FromString(manifest).String()
	if _, err := s.setDigestRef(ref, digest.Digest(img.ID)); err != nil {
		t.Fatal(err)
	}
	return ref
}

// `docker rmi app@sha256:…` is an untag of that digest reference, as in
// dockerd, not a removal by ID: the image keeps its tags, also in another
// repository (by ID that refuses without -f, and with -f deletes it all).
func TestDeleteDigestReferenceUntags(t *testing.T) {
	s, _ := newStore(t)
	img, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "app:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("app:1", "other:1"); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		ref := addDigestRef(t, s, img, "app", "manifest")
		rm, err := s.Delete(ref, DeleteOptions{Force: force})
		if err != nil || !slices.Equal(rm.Untagged, []string{ref}) || len(rm.Deleted) != 0 {
			t.Fatalf("Delete(%s) -f=%v: %+v %v, want only %s untagged", ref, force, rm, err, ref)
		}
		got, err := s.Get(img.ID)
		if err != nil || !slices.Equal(got.Names, []string{"app:1", "other:1"}) || len(got.RepoDigests) != 0 {
			t.Fatalf("-f=%v: after the untag: %+v %v, want the tags kept and no digest", force, got, err)
		}
	}
	// The last reference of all is a digest (of a repository with no
	// tag, which the tags' removal leaves): the image goes with it.
	ref := addDigestRef(t, s, img, "mirror", "manifest")
	for _, n := range []string{"app:1", "other:1"} {
		if _, err := s.Delete(n, DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rm, err := s.Delete(ref, DeleteOptions{})
	if err != nil || !slices.Equal(rm.Untagged, []string{ref}) || !slices.Equal(rm.Deleted, []string{img.ID}) {
		t.Fatalf("Delete of the last reference %s: %+v %v", ref, rm, err)
	}
}

// A pulled image's last tag removed: its digest reference of the same
// repository goes too and the image is deleted, as in dockerd; while a
// container uses it, that removal is refused without -f.
func TestDeletePulledImageByTag(t *testing.T) {
	s, _ := newStore(t)
	img, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "app:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := addDigestRef(t, s, img, "app", "manifest")
	user := "c0ffee0123456789"
	o := DeleteOptions{User: func(string) (string, bool, error) { return user, false, nil }}
	var ce *ConflictError
	if _, err := s.Delete("app:1", o); !errors.As(err, &ce) {
		t.Fatalf("Delete of the last tag of a used image: %v, want a conflict", err)
	}
	user = ""
	rm, err := s.Delete("app:1", o)
	if err != nil || !slices.Equal(rm.Untagged, []string{"app:1", ref}) || !slices.Equal(rm.Deleted, []string{img.ID}) {
		t.Fatalf("Delete app:1: %+v %v, want %s untagged too and the image deleted", rm, err, ref)
	}
}

// -f by ID on an image a stopped container uses only untags it (see
// Delete's NOTE): its digest references must go too, or it never becomes
// dangling and `image prune` never removes it.
func TestDeleteForceUntagDropsDigests(t *testing.T) {
	s, _ := newStore(t)
	img, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "app:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := addDigestRef(t, s, img, "app", "manifest")
	used := true
	o := DeleteOptions{Force: true, User: func(string) (string, bool, error) {
		if used {
			return "c0ffee0123456789", false, nil
		}
		return "", false, nil
	}}
	rm, err := s.Delete(img.ID, o)
	if err != nil || !slices.Equal(rm.Untagged, []string{"app:1", ref}) || len(rm.Deleted) != 0 {
		t.Fatalf("Delete -f by ID of a used image: %+v %v", rm, err)
	}
	got, err := s.Get(img.ID)
	if err != nil || len(got.Names) != 0 || len(got.RepoDigests) != 0 {
		t.Fatalf("the image must stay, dangling: %+v %v", got, err)
	}
	used = false // the container gone, prune removes it
	inUse := func(string) bool { return used }
	pr, _, err := s.PruneWith(PruneOptions{InUse: inUse})
	if err != nil || !slices.Equal(pr.Deleted, []string{img.ID}) {
		t.Fatalf("prune after the container went: %+v %v, want %s deleted", pr, err, img.ID)
	}
}
