package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
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
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	tags, err := s.readTags()
	if err != nil {
		return err
	}
	id, tagged, err := s.resolve(ref, tags)
	if err != nil {
		return err
	}
	var names []string
	for name, target := range tags {
		if target == id {
			names = append(names, name)
		}
	}
	if tagged != "" && len(names) > 1 {
		delete(tags, tagged)
		if err := s.writeTags(tags); err != nil {
			return fmt.Errorf("untag %s: %w", tagged, err)
		}
		return nil
	}
	if inUse != nil && inUse(id.String()) {
		return fmt.Errorf("remove image %s (%s): %w; remove the container first", ref, id.Encoded()[:12], ErrInUse)
	}
	cfg, err := s.readConfig(id)
	if err != nil {
		return err
	}
	for _, name := range names {
		delete(tags, name)
	}
	if err := s.writeTags(tags); err != nil {
		return fmt.Errorf("untag image %s: %w", id, err)
	}
	if err := os.Remove(s.configPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove image config %s: %w", id, err)
	}
	var errs []error
	for _, d := range cfg.RootFS.DiffIDs {
		if err := s.removeLayerIfUnused(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
