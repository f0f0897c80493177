package image

import (
	"encoding/json"
	"errors"
	"fmt"
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
}

// readTags reads repositories.json; a missing file is an empty store.
// Because the file is only ever replaced by rename(2), a reader sees a
// whole version of it, never a torn one.
func (s *Store) readTags() (map[string]digest.Digest, error) {
	data, err := os.ReadFile(s.reposPath())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]digest.Digest{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image names: %w", err)
	}
	var f reposFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", s.reposPath(), err)
	}
	if f.Repositories == nil {
		f.Repositories = map[string]digest.Digest{}
	}
	return f.Repositories, nil
}

// writeTags replaces repositories.json. The caller holds the exclusive
// lock and has read the file under that same lock: read, change, write
// with nobody in between is what keeps two concurrent `minirun tag` from
// losing one of the names.
func (s *Store) writeTags(tags map[string]digest.Digest) error {
	data, err := json.MarshalIndent(reposFile{Repositories: tags}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image names: %w", err)
	}
	return writeFileAtomic(s.reposPath(), append(data, '\n'), 0o600)
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
func (s *Store) Tag(src, ref string) error {
	r, err := ParseRef(ref)
	if err != nil {
		return err
	}
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	tags, err := s.readTags()
	if err != nil {
		return err
	}
	id, _, err := s.resolve(src, tags)
	if err != nil {
		return err
	}
	_, err = s.setTag(r.String(), id)
	return err
}
