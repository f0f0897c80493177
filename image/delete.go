package image

import (
	"fmt"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// DeleteOptions are `docker rmi`'s flags, and what a removal must know
// about the containers.
type DeleteOptions struct {
	// Force is -f: untag an image every name of which is asked for by ID,
	// and a name whose image a container uses.
	Force bool
	// NoPrune is --no-prune: the untagged parents of a built image stay.
	NoPrune bool
	// User names a container that uses the image, preferring a running
	// one, and says whether it runs; "" when none does. nil: no container
	// uses any image.
	// An error (the containers could not be listed) refuses the
	// removal: it must not pull layers from under a container.
	User func(imageID string) (containerID string, running bool, err error)
}

// ConflictError is a removal refused because of what depends on the
// image: dockerd's imageDeleteConflict, in its words ("conflict: unable
// to delete 6d3e… (must be forced) - image is being used by stopped
// container 1a2b…"). It wraps ErrInUse or ErrHasChildren; the daemon
// answers it with 409.
type ConflictError struct {
	msg   string
	cause error
}

func (e *ConflictError) Error() string { return e.msg }

// Unwrap returns ErrInUse or ErrHasChildren.
func (e *ConflictError) Unwrap() error { return e.cause }

// Delete is `docker rmi ref` with dockerd's rules (daemon/images/
// image_delete.go in moby), reporting what it untagged and deleted:
//
//   - ref is a name: the name goes. Unless -f, the image's last name is
//     kept while a container uses the image. When it was the last name,
//     the image goes too if nothing depends on it; if something does (a
//     container, with -f, or a child image) it stays, dangling, and that
//     is no error.
//   - ref is an ID (or a prefix): refused (409) while a child image is
//     built on it or a running container uses it, even with -f; without
//     -f also while a stopped container uses it or its names are in more
//     than one repository. Otherwise the image goes with all its names.
//
// NOTE: dockerd with -f deletes an image a stopped container uses, since
// the container's layer keeps its parent layers alive. minirun counts no
// container references on layers: deleting would pull the lowerdirs from
// under the container. So -f untags such an image and keeps it, dangling,
// until the container goes (and `image prune` removes it).
func (s *Store) Delete(ref string, o DeleteOptions) (*Removal, error) {
	l, err := s.lockRef(unix.LOCK_EX, ref)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	id, tagged, repos := l.id, l.tagged, l.repos
	// names are dockerd's repoRefs: the tags and the digest references.
	names := refsOf(repos, id)
	user := func() (string, bool, error) {
		if o.User == nil {
			return "", false, nil
		}
		return o.User(id.String())
	}
	inUse := func(imageID string) bool {
		if o.User == nil {
			return false
		}
		c, _, err := o.User(imageID)
		return c != "" || err != nil // unknown: kept
	}
	short := id.Encoded()[:12]
	rm := &Removal{}
	if tagged != "" {
		gone := []string{tagged}
		// A tag removed and no other tag of its repository left: the
		// digest references of that repository go too, as in dockerd
		// (they name the pull the tag came from), so that a pulled image
		// whose last tag goes is deleted, not left behind its digest.
		if !isDigestRef(tagged) && !slices.ContainsFunc(names, func(n string) bool {
			return n != tagged && !isDigestRef(n) && repoOf(n) == repoOf(tagged)
		}) {
			for _, n := range names {
				if isDigestRef(n) && repoOf(n) == repoOf(tagged) {
					gone = append(gone, n)
				}
			}
		}
		// The removal would leave the image nameless (dockerd's
		// isSingleReference): not while a container uses it, unless -f.
		if len(gone) == len(names) && !o.Force {
			if c, _, err := user(); err != nil {
				return nil, err
			} else if c != "" {
				return nil, &ConflictError{cause: ErrInUse, msg: fmt.Sprintf(
					"conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					ref, shortID(c), short)}
			}
		}
		if err := s.untag(repos, rm, gone...); err != nil {
			return nil, err
		}
		if len(refsOf(repos, id)) > 0 {
			return rm, nil
		}
		// The last name is gone: the image follows, unless something
		// depends on it (dockerd's "quiet" conflict: no error).
		if c, _, err := user(); c != "" || err != nil {
			return rm, err
		}
		if kids, err := s.children(id.String()); err != nil || len(kids) > 0 {
			return rm, err
		}
		return rm, s.deleteChain(id, rm, inUse, !o.NoPrune)
	}

	// By ID: the hard conflicts first, which -f does not lift.
	if kids, err := s.children(id.String()); err != nil {
		return nil, err
	} else if len(kids) > 0 {
		return nil, &ConflictError{cause: ErrHasChildren, msg: fmt.Sprintf(
			"conflict: unable to delete %s (cannot be forced) - image has dependent child images", short)}
	}
	c, running, err := user()
	if err != nil {
		return nil, err
	}
	if c != "" && running {
		return nil, &ConflictError{cause: ErrInUse, msg: fmt.Sprintf(
			"conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", short, shortID(c))}
	}
	if !o.Force {
		if c != "" {
			return nil, &ConflictError{cause: ErrInUse, msg: fmt.Sprintf(
				"conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", short, shortID(c))}
		}
		if !oneRepository(names) {
			return nil, &ConflictError{cause: ErrInUse, msg: fmt.Sprintf(
				"conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", short)}
		}
	}
	if c != "" { // -f, a stopped container: untag only (see the NOTE above)
		// The digest references go too: an image left with one is not
		// dangling, and `image prune` would never remove it.
		if err := s.untag(repos, rm, names...); err != nil {
			return nil, err
		}
		return rm, nil
	}
	return rm, s.deleteChain(id, rm, inUse, !o.NoPrune)
}

// oneRepository reports whether all names are tags of one repository
// ("app:1", "app:2"): dockerd then removes them all by ID without -f.
func oneRepository(names []string) bool {
	for _, n := range names {
		if repoOf(n) != repoOf(names[0]) {
			return false
		}
	}
	return true
}

// repoOf is the repository of a tag ("app:1") or of a digest reference
// ("app@sha256:…"): "app".
func repoOf(name string) string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i]
	}
	return name
}

// isDigestRef reports whether a name is a digest reference
// ("app@sha256:…"), a key of repositories.json's digests, not a tag.
func isDigestRef(name string) bool { return strings.Contains(name, "@") }

// refsOf returns the tags and digest references that point at id, sorted.
func refsOf(repos *reposFile, id digest.Digest) []string {
	var names []string
	for name, target := range repos.Repositories {
		if target == id {
			names = append(names, name)
		}
	}
	for name, target := range repos.Digests {
		if target == id {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// untag removes the tags and digest references names from repos (read
// under the exclusive lock the caller holds), writes them back and
// records them in rm. A manifest no digest reference names any more is
// removed after, as deleteImage does: a crash in between leaves at worst
// an unused manifest, never a reference to a missing one.
func (s *Store) untag(repos *reposFile, rm *Removal, names ...string) error {
	digests := false
	for _, n := range names {
		if isDigestRef(n) {
			delete(repos.Digests, n)
			digests = true
		} else {
			delete(repos.Repositories, n)
		}
	}
	if err := s.writeRepos(repos); err != nil {
		return fmt.Errorf("untag %s: %w", strings.Join(names, " "), err)
	}
	rm.Untagged = append(rm.Untagged, names...)
	if digests {
		return s.removeUnusedManifests(repos.Digests)
	}
	return nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
