package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Beside the content-addressed objects the store keeps a little local
// metadata, as Docker does under imagedb/metadata/sha256/<id>/:
//
//	meta/sha256/<image id>/parent   the image a build step started from
//	manifests/sha256/<digest>       a registry manifest, byte for byte
//
// The parent is not part of the image (the config has no such field, and
// a pulled image has no parent on this machine): it is the local chain of
// build steps, which `history` walks and the build cache searches.

// parentFile returns the path of id's parent file.
func (s *Store) parentFile(id digest.Digest) string {
	return filepath.Join(s.metaDir(), id.Encoded(), "parent")
}

// setParent records that id was built on parent ("" for FROM scratch) and
// returns the undo. The caller holds the exclusive lock.
func (s *Store) setParent(id digest.Digest, parent string) (undo func() error, err error) {
	dir := filepath.Dir(s.parentFile(id))
	if _, err := os.Stat(dir); err == nil {
		return func() error { return nil }, nil // the same image built again
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("record parent of %s: %w", id, err)
	}
	if err := writeFileAtomic(s.parentFile(id), []byte(parent), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("record parent of %s: %w", id, err)
	}
	return func() error { return os.RemoveAll(dir) }, nil
}

// parent returns the image id was built on, "" when there is none (or it
// was not built here).
func (s *Store) parent(id digest.Digest) (string, error) {
	b, err := os.ReadFile(s.parentFile(id))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read parent of %s: %w", id, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// built reports whether id was made by a build step here.
func (s *Store) built(id digest.Digest) bool {
	_, err := os.Stat(s.parentFile(id))
	return err == nil
}

// children returns the images built directly on parent ("" for the
// images built FROM scratch).
func (s *Store) children(parent string) ([]digest.Digest, error) {
	ents, err := os.ReadDir(s.metaDir())
	if err != nil {
		return nil, fmt.Errorf("list image metadata: %w", err)
	}
	var out []digest.Digest
	for _, e := range ents {
		id := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if id.Validate() != nil {
			continue
		}
		p, err := s.parent(id)
		if err != nil {
			return nil, err
		}
		if p == parent && s.built(id) {
			if _, err := os.Stat(s.configPath(id)); err == nil {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// Children returns the images built directly on the image parent (an
// image ID; "" for those built FROM scratch): the candidates of the build
// cache, which compares their last history entry with the instruction.
func (s *Store) Children(parent string) ([]*Image, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids, err := s.children(parent)
	if err != nil {
		return nil, err
	}
	tags, err := s.readTags()
	if err != nil {
		return nil, err
	}
	return s.loadAll(ids, tags)
}

// removeMeta deletes id's local metadata. The caller holds the lock.
func (s *Store) removeMeta(id digest.Digest) error {
	if err := os.RemoveAll(filepath.Dir(s.parentFile(id))); err != nil {
		return fmt.Errorf("remove metadata of %s: %w", id, err)
	}
	return nil
}

// writeManifest keeps a registry manifest under its digest.
func (s *Store) writeManifest(data []byte) error {
	path := filepath.Join(s.manifestsDir(), digest.FromBytes(data).Encoded())
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeFileAtomic(path, data, 0o600)
}

// Manifest returns a manifest kept by a pull, by its digest.
func (s *Store) Manifest(dgst string) ([]byte, error) {
	d := digest.Digest(dgst)
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("manifest digest %q: %w", dgst, err)
	}
	data, err := os.ReadFile(filepath.Join(s.manifestsDir(), d.Encoded()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: manifest %s", ErrNotFound, dgst)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", dgst, err)
	}
	return data, nil
}

// normalizeName gives a repository name in the short form the store keeps:
// Docker Hub's "docker.io/library/redis" is "redis", "docker.io/me/app" is
// "me/app"; other registries keep their host.
func normalizeName(name string) string {
	for _, p := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return strings.TrimPrefix(rest, "library/")
		}
	}
	return name
}
