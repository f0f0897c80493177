package image

import (
	"path/filepath"

	"encoding/json"
	"errors"
	"fmt"
	"github.com/minirun/minirun/explain"
	"io/fs"
	"os"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// reposFile is the format of repositories.json:
//
//	{"repositories": {"busybox:latest": "sha256:6d3e…"}}
type reposFile struct {
	Repositories map[string]digest.Digest `json:"repositories"`
	// Digests maps "name@sha256:<manifest digest>" to an image ID: the
	// references of pulled images that pin the exact manifest.
	Digests map[string]digest.Digest `json:"digests,omitempty"`
}

// readRepos reads repositories.json; a missing file is an empty store.
// Because the file is only ever replaced by rename(2), a reader sees a
// whole version of it, never a torn one.
func (s *Store) readRepos() (*reposFile, error) {
	f := &reposFile{}
	data, err := os.ReadFile(s.reposPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read image names: %w", err)
	}
	if err == nil {
		if err := json.Unmarshal(data, f); err != nil {
			return nil, fmt.Errorf("parse %s: %w", s.reposPath(), err)
		}
	}
	if f.Repositories == nil {
		f.Repositories = map[string]digest.Digest{}
	}
	if f.Digests == nil {
		f.Digests = map[string]digest.Digest{}
	}
	return f, nil
}

// readTags returns the "name:tag" → image ID map of repositories.json.
func (s *Store) readTags() (map[string]digest.Digest, error) {
	f, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	return f.Repositories, nil
}

// readDigests returns the "name@sha256:…" → image ID map.
func (s *Store) readDigests() (map[string]digest.Digest, error) {
	f, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	return f.Digests, nil
}

func (s *Store) writeRepos(f *reposFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image names: %w", err)
	}
	return writeFileAtomic(s.reposPath(), append(data, '\n'), 0o600)
}

// writeTags replaces repositories.json. The caller holds the exclusive
// lock and has read the file under that same lock: read, change, write
// with nobody in between is what keeps two concurrent `minirun tag` from
// losing one of the names.
func (s *Store) writeTags(tags map[string]digest.Digest) error {
	f, err := s.readRepos()
	if err != nil {
		return err
	}
	f.Repositories = tags
	return s.writeRepos(f)
}

// writeDigests replaces the digest references, keeping the tags. The
// caller holds the exclusive lock.
func (s *Store) writeDigests(digests map[string]digest.Digest) error {
	f, err := s.readRepos()
	if err != nil {
		return err
	}
	f.Digests = digests
	return s.writeRepos(f)
}

// setDigestRef points the digest reference ref at id and returns the undo.
func (s *Store) setDigestRef(ref string, id digest.Digest) (undo func() error, err error) {
	digests, err := s.readDigests()
	if err != nil {
		return nil, err
	}
	old, had := digests[ref]
	digests[ref] = id
	if err := s.writeDigests(digests); err != nil {
		return nil, fmt.Errorf("record %s: %w", ref, err)
	}
	return func() error {
		digests, err := s.readDigests()
		if err != nil {
			return err
		}
		if had {
			digests[ref] = old
		} else {
			delete(digests, ref)
		}
		return s.writeDigests(digests)
	}, nil
}

// setTag points ref at id under the held lock and returns the undo that
// restores what ref pointed at before (nothing, or another image).
func (s *Store) setTag(ref string, id digest.Digest) (undo func() error, err error) {
	tags, err := s.readTags()
	if err != nil {
		return nil, err
	}
	old, had := tags[ref]
	tags[ref] = id
	if err := s.writeTags(tags); err != nil {
		return nil, fmt.Errorf("tag %s: %w", ref, err)
	}
	return func() error {
		tags, err := s.readTags()
		if err != nil {
			return err
		}
		if had {
			tags[ref] = old
		} else {
			delete(tags, ref)
		}
		return s.writeTags(tags)
	}, nil
}

// Tag gives the image src (any reference Get accepts) the name ref. If ref
// named another image, that image keeps existing, untagged, as in Docker.
func (s *Store) Tag(src, ref string) error { return s.TagTraced(src, ref, nil) }

// TagTraced is Tag through the images-tag step, for a build's -t: tr
// narrates it (a dry-run tracer only describes it, with src as the ID).
func (s *Store) TagTraced(src, ref string, tr *explain.Tracer) error {
	r, err := ParseRef(ref)
	if err != nil {
		return err
	}
	if tr.DryRun() {
		return tr.Do(stepTag(s.reposPath(), filepath.Join(s.root, "lock"), r.String(), src), nil)
	}
	l, err := s.lockRef(unix.LOCK_EX, src)
	if err != nil {
		return err
	}
	defer l.unlock()
	// No undo stack: like Tag, a name set stays set.
	return tr.Do(s.tagStep(r.String(), l.id), nil)
}
