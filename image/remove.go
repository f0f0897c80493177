package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/explain"
)

// Remove removes a name, and the image when no name is left, like
// `docker rmi`.
//
//   - ref is a name and other names point at the same image: only that
//     name goes.
//   - ref is the image's last name, or its ID (or an ID prefix): the image
//     goes, with all its names, its config, and every layer that no other
//     image's config lists.
//
// Before deleting an image Remove asks inUse(imageID) (nil means "never in
// use") and refuses with an error wrapping ErrInUse if a container still
// uses it. An unknown ref fails with an error wrapping ErrNotFound, so a
// second Remove of the same name is harmless and easy to recognise; files
// already gone count as removed.
//
// Deletion order is names, then config, then layers: a crash in between
// leaves at worst layers no config lists (wasted space), never a name or a
// config pointing at something missing.
func (s *Store) Remove(ref string, inUse func(imageID string) bool) error {
	_, err := s.RemoveImage(ref, inUse)
	return err
}

// Removal says what RemoveImage did, in the words `docker rmi` prints.
type Removal struct {
	// Untagged are the names (and digest references) removed.
	Untagged []string
	// Deleted are the IDs of the images deleted: the one named, then the
	// untagged build steps below it that nothing else needed any more.
	Deleted []string
}

// ErrHasChildren is returned (wrapped) when an image asked to be removed
// is the parent of another image's build step.
var ErrHasChildren = errors.New("image has dependent child images")

// RemoveImage is Remove, reporting what it untagged and deleted. After
// deleting an image it walks down its build chain: each parent that has
// no name, no other child and no container goes too, as `docker rmi`
// deletes the intermediate images of a build.
func (s *Store) RemoveImage(ref string, inUse func(imageID string) bool) (*Removal, error) {
	l, err := s.lockRef(unix.LOCK_EX, ref)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	id, tagged, repos := l.id, l.tagged, l.repos
	var names []string
	for name, target := range repos.Repositories {
		if target == id {
			names = append(names, name)
		}
	}
	rm := &Removal{}
	// A tag goes alone while another tag is left; a digest reference
	// while any other reference is.
	if tagged != "" && (len(names) > 1 || isDigestRef(tagged) && len(refsOf(repos, id)) > 1) {
		if err := s.untag(repos, rm, tagged); err != nil {
			return nil, err
		}
		return rm, nil
	}
	if kids, err := s.children(id.String()); err != nil {
		return nil, err
	} else if len(kids) > 0 {
		return nil, fmt.Errorf("remove image %s: %w (%s)", id.Encoded()[:12], ErrHasChildren, kids[0].Encoded()[:12])
	}
	if inUse != nil && inUse(id.String()) {
		return nil, fmt.Errorf("remove image %s (%s): %w; remove the container first", ref, id.Encoded()[:12], ErrInUse)
	}
	return rm, s.deleteChain(id, rm, inUse, true)
}

// deleteChain deletes the image id (the caller holds the exclusive lock
// and has checked it may go) and, with prune, walks down its build chain:
// each parent that has no name, no other child and no container goes
// too, as `docker rmi` deletes the intermediate images of a build
// (--no-prune keeps them).
func (s *Store) deleteChain(id digest.Digest, rm *Removal, inUse func(string) bool, prune bool) error {
	for {
		// The parent is read first: deleteImage removes the metadata
		// that records it.
		parent, err := s.parent(id)
		if err != nil {
			return err
		}
		if err := s.deleteImage(id, rm); err != nil {
			return err
		}
		// Walk down the build chain while the parent is an anonymous
		// build step nobody else needs.
		if parent == "" || !prune {
			return nil
		}
		pid := digest.Digest(parent)
		if !s.built(pid) || s.named(pid) || (inUse != nil && inUse(parent)) {
			return nil
		}
		if kids, err := s.children(parent); err != nil || len(kids) > 0 {
			return err
		}
		if _, err := os.Stat(s.configPath(pid)); err != nil {
			return nil
		}
		id = pid
	}
}

// named reports whether any tag or digest reference points at id.
func (s *Store) named(id digest.Digest) bool {
	repos, err := s.readRepos()
	if err != nil {
		return true // when in doubt, keep it
	}
	for _, target := range repos.Repositories {
		if target == id {
			return true
		}
	}
	for _, target := range repos.Digests {
		if target == id {
			return true
		}
	}
	return false
}

// deleteImage removes an image, its names and digest references, its
// metadata, and every layer that no other image's config lists. The
// caller holds the exclusive lock and has checked it may go.
func (s *Store) deleteImage(id digest.Digest, rm *Removal) error {
	cfg, err := s.readConfig(id)
	if err != nil {
		return err
	}
	repos, err := s.readRepos()
	if err != nil {
		return err
	}
	var untagged []string
	for name, target := range repos.Repositories {
		if target == id {
			delete(repos.Repositories, name)
			untagged = append(untagged, name)
		}
	}
	for ref, target := range repos.Digests {
		if target == id {
			delete(repos.Digests, ref)
			untagged = append(untagged, ref)
		}
	}
	if len(untagged) > 0 {
		if err := s.writeRepos(repos); err != nil {
			return fmt.Errorf("untag image %s: %w", id, err)
		}
	}
	slices.Sort(untagged)
	rm.Untagged = append(rm.Untagged, untagged...)
	if err := os.Remove(s.configPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove image config %s: %w", id, err)
	}
	rm.Deleted = append(rm.Deleted, id.String())
	var errs []error
	if err := s.removeMeta(id); err != nil {
		errs = append(errs, err)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		if err := s.removeLayerIfUnused(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.removeUnusedManifests(repos.Digests); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeUnusedManifests deletes the kept manifests that no digest
// reference names any more.
func (s *Store) removeUnusedManifests(digests map[string]digest.Digest) error {
	used := map[string]bool{}
	for ref := range digests {
		if _, d, ok := strings.Cut(ref, "@"); ok {
			used[digest.Digest(d).Encoded()] = true
		}
	}
	ents, err := os.ReadDir(s.manifestsDir())
	if err != nil {
		return fmt.Errorf("list manifests: %w", err)
	}
	for _, e := range ents {
		if !used[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			if err := os.Remove(filepath.Join(s.manifestsDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove manifest %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// layerUsers counts the configs that list diffID, reading them all. The
// store keeps no reference counter: counting from the configs themselves
// cannot disagree with them. The caller holds the lock.
func (s *Store) layerUsers(diffID digest.Digest) (int, error) {
	ids, err := s.imageIDs()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		cfg, err := s.readConfig(id)
		if err != nil {
			return 0, err
		}
		for _, d := range cfg.RootFS.DiffIDs {
			if d == diffID {
				n++
				break
			}
		}
	}
	return n, nil
}

// removeLayerIfUnused deletes a layer that no config lists any more. The
// caller holds the exclusive lock.
//
// The layer directory is first renamed into tmp/ and only then deleted:
// rename is atomic, so a crash halfway through the deletion leaves a
// half-empty directory in tmp/, never a half-empty layer under its real
// name that a later import would take as complete.
func (s *Store) removeLayerIfUnused(diffID digest.Digest) error {
	users, err := s.layerUsers(diffID)
	if err != nil {
		return fmt.Errorf("count users of layer %s: %w", diffID, err)
	}
	if users > 0 {
		return nil
	}
	trash, err := os.MkdirTemp(s.tmpDir(), "delete-")
	if err != nil {
		return fmt.Errorf("remove layer %s: %w", diffID, err)
	}
	err = os.Rename(s.layerPath(diffID), filepath.Join(trash, "layer"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.Remove(trash)
		return fmt.Errorf("remove layer %s: %w", diffID, err)
	}
	if err := removeTree(trash); err != nil {
		return fmt.Errorf("remove layer %s: %w", diffID, err)
	}
	return nil
}

// RemoveStep is `docker rmi ref` as the images-remove step: Do is
// RemoveImage, and the evidence says what it untagged and deleted, and how
// many layers are left in the store.
func (s *Store) RemoveStep(ref string, inUse func(imageID string) bool) explain.Step {
	step := stepRemove(ref)
	var rm *Removal
	step.Do = func() (err error) {
		rm, err = s.RemoveImage(ref, inUse)
		return err
	}
	step.EvidenceText = func() explain.Text {
		var del []string
		for _, id := range rm.Deleted {
			del = append(del, strings.TrimPrefix(id, "sha256:")[:12])
		}
		names, ids := strings.Join(rm.Untagged, " "), strings.Join(del, " ")
		return explain.Text{
			PT: fmt.Sprintf("nomes tirados: %s\nimagens apagadas: %s", names, ids),
			EN: fmt.Sprintf("untagged: %s\ndeleted: %s", names, ids),
		}
	}
	return step
}
