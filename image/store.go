package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ErrNotFound is returned (wrapped) when no image matches a reference.
var ErrNotFound = errors.New("no such image")

// ErrInUse is returned (wrapped) by Remove when a container still uses the
// image.
var ErrInUse = errors.New("image is in use by a container")

// Store is the image store under DATAROOT/image. Its methods are safe to
// call from several goroutines and several processes at once: changes hold
// an exclusive flock, reads a shared one.
type Store struct {
	root string // DATAROOT/image
}

// Image is one image of the store.
type Image struct {
	// ID is "sha256:<hex>", the digest of the config JSON.
	ID string
	// Config is the OCI image config: platform, process defaults
	// (Config.Cmd, Env, ...), layers (RootFS.DiffIDs, bottom first) and
	// history.
	Config v1.Image
	// Names are the references that point at the image, e.g.
	// "busybox:latest", sorted. Empty for an untagged image.
	Names []string
	// Created is when the image was made (the config's "created").
	Created time.Time
	// Size is the number of bytes of file content in its layers.
	Size int64
	// RepoDigests are the "name@sha256:…" references of a pulled image:
	// the registry's manifest digest, which pins it exactly.
	RepoDigests []string
	// Parent is the image a build step started from ("" for none): the
	// chain `history` walks and the build cache searches.
	Parent string
}

// layerInfo is the small metadata file kept beside each extracted layer.
type layerInfo struct {
	DiffID digest.Digest `json:"diffID"`
	// Size is the bytes of file content the layer holds.
	Size int64 `json:"size"`
	// TarSize is the size of the uncompressed layer tar (0 in layers
	// stored before it was recorded).
	TarSize int64 `json:"tarSize,omitempty"`
}

// Open opens the store under dataRoot (e.g. /var/lib/minirun), creating
// dataRoot/image and its directories when missing.
func Open(dataRoot string) (*Store, error) {
	abs, err := filepath.Abs(dataRoot)
	if err != nil {
		return nil, fmt.Errorf("image store root %s: %w", dataRoot, err)
	}
	s := &Store{root: filepath.Join(abs, "image")}
	// 0700: layers may hold files that are private inside the image
	// (/etc/shadow, keys); the host's other users have no business there.
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		return nil, fmt.Errorf("create image store %s: %w", s.root, err)
	}
	for _, d := range []string{s.layersDir(), s.configsDir(), s.manifestsDir(), s.metaDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create image store %s: %w", d, err)
		}
	}
	return s, nil
}

func (s *Store) layersDir() string  { return filepath.Join(s.root, "layers", "sha256") }
func (s *Store) configsDir() string { return filepath.Join(s.root, "configs", "sha256") }
func (s *Store) tmpDir() string     { return filepath.Join(s.root, "tmp") }

// manifestsDir keeps registry manifests by digest; metaDir keeps what
// Docker keeps in imagedb/metadata: a built image's parent.
func (s *Store) manifestsDir() string { return filepath.Join(s.root, "manifests", "sha256") }
func (s *Store) metaDir() string      { return filepath.Join(s.root, "meta", "sha256") }
func (s *Store) reposPath() string    { return filepath.Join(s.root, "repositories.json") }

// layerPath is the directory of a stored layer: its diff/ and layer.json.
func (s *Store) layerPath(diffID digest.Digest) string {
	return filepath.Join(s.layersDir(), diffID.Encoded())
}

func (s *Store) configPath(id digest.Digest) string {
	return filepath.Join(s.configsDir(), id.Encoded())
}

// Get finds an image by name[:tag] (the tag defaults to "latest"), by full
// ID "sha256:<hex>", or by a unique prefix of at least 4 hex digits of the
// ID, tried in that order as Docker does. It fails with an error wrapping
// ErrNotFound when nothing matches.
func (s *Store) Get(ref string) (*Image, error) {
	r, err := s.lockRef(unix.LOCK_SH, ref)
	if err != nil {
		return nil, err
	}
	defer r.unlock()
	return s.load(r.id, r.repos.Repositories)
}

// lockedRef is a reference resolved under the store's lock: what Get,
// History, Tag, Delete and RemoveImage all start from.
type lockedRef struct {
	id digest.Digest
	// tagged is resolve's: the name ref was, "" for an ID.
	tagged string
	// repos are the names as read under the lock; a change writes them
	// back before unlock.
	repos  *reposFile
	unlock func()
}

// lockRef takes the store's lock (unix.LOCK_SH to read, LOCK_EX to
// change), reads the names and resolves ref, in that order: the names
// read are the ones no other process can change until unlock. On error
// the lock is already released.
func (s *Store) lockRef(how int, ref string) (*lockedRef, error) {
	unlock, err := s.lock(how)
	if err != nil {
		return nil, err
	}
	repos, err := s.readRepos()
	if err != nil {
		unlock()
		return nil, err
	}
	id, tagged, err := s.resolve(ref, repos.Repositories)
	if err != nil {
		unlock()
		return nil, err
	}
	return &lockedRef{id: id, tagged: tagged, repos: repos, unlock: unlock}, nil
}

// List returns every image of the store, newest first.
func (s *Store) List() ([]*Image, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tags, err := s.readTags()
	if err != nil {
		return nil, err
	}
	ids, err := s.imageIDs()
	if err != nil {
		return nil, err
	}
	out, err := s.loadAll(ids, tags)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Image) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// LayerDirs returns the absolute paths of the image's extracted layers,
// top-most first: the order overlayfs wants in lowerdir= ("the first
// lower layer is the top one", overlayfs.rst), which is the reverse of the
// config's rootfs.diff_ids (bottom first). Every directory is checked to
// exist.
func (s *Store) LayerDirs(img *Image) ([]string, error) {
	ids := img.Config.RootFS.DiffIDs
	dirs := make([]string, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		if err := ids[i].Validate(); err != nil {
			return nil, fmt.Errorf("image %s: layer %d: %w", img.ID, i, err)
		}
		d := filepath.Join(s.layerPath(ids[i]), "diff")
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %s: %w", img.ID, ids[i], err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("image %s: layer %s: %s is not a directory", img.ID, ids[i], d)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

var hexPrefixRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-f0-9]{4,64}$`) })

// resolve finds the image ID a reference means. tagged is the name ref
// was, "" when it was an ID or an ID prefix: a "name:tag" key of the tags,
// or a "name@sha256:…" key of the digest references (isDigestRef), which
// `docker rmi` untags like a tag, not deletes like an ID.
func (s *Store) resolve(ref string, tags map[string]digest.Digest) (id digest.Digest, tagged string, err error) {
	if strings.HasPrefix(ref, "sha256:") {
		id := digest.Digest(ref)
		if err := id.Validate(); err != nil {
			return "", "", fmt.Errorf("invalid image ID %q: %w", ref, err)
		}
		if _, err := os.Stat(s.configPath(id)); errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("%w: %s", ErrNotFound, ref)
		} else if err != nil {
			return "", "", fmt.Errorf("image %s: %w", ref, err)
		}
		return id, "", nil
	}
	if name, dgst, ok := strings.Cut(ref, "@"); ok {
		digests, err := s.readDigests()
		if err != nil {
			return "", "", err
		}
		key := normalizeName(name) + "@" + dgst
		if id, ok := digests[key]; ok {
			return id, key, nil
		}
		return "", "", fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	r, refErr := ParseRef(ref)
	if refErr == nil {
		if id, ok := tags[r.String()]; ok {
			return id, r.String(), nil
		}
	}
	if hexPrefixRE().MatchString(ref) {
		ids, err := s.imageIDs()
		if err != nil {
			return "", "", err
		}
		var found []digest.Digest
		for _, id := range ids {
			if strings.HasPrefix(id.Encoded(), ref) {
				found = append(found, id)
			}
		}
		switch len(found) {
		case 1:
			return found[0], "", nil
		case 0:
		default:
			return "", "", fmt.Errorf("image ID prefix %q is ambiguous: %d images match", ref, len(found))
		}
	}
	if refErr != nil {
		return "", "", refErr
	}
	return "", "", fmt.Errorf("%w: %s", ErrNotFound, ref)
}

// imageIDs lists the IDs of the stored configs.
func (s *Store) imageIDs() ([]digest.Digest, error) {
	ents, err := os.ReadDir(s.configsDir())
	if err != nil {
		return nil, fmt.Errorf("list image configs: %w", err)
	}
	var ids []digest.Digest
	for _, e := range ents {
		id := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if id.Validate() != nil {
			continue // a temporary file of writeFileAtomic
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// readConfig reads an image config and checks that its bytes still hash
// to its ID: the name of a content-addressed file is its checksum.
func (s *Store) readConfig(id digest.Digest) (*v1.Image, error) {
	data, err := os.ReadFile(s.configPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read image config %s: %w", id, err)
	}
	if got := digest.FromBytes(data); got != id {
		return nil, fmt.Errorf("image config %s is corrupted: its content hashes to %s", id, got)
	}
	var cfg v1.Image
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse image config %s: %w", id, err)
	}
	return &cfg, nil
}

// load builds the Image for id: its config, its names, its size.
// loadAll loads each of ids; the caller holds the lock.
func (s *Store) loadAll(ids []digest.Digest, tags map[string]digest.Digest) ([]*Image, error) {
	var out []*Image
	for _, id := range ids {
		img, err := s.load(id, tags)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Store) load(id digest.Digest, tags map[string]digest.Digest) (*Image, error) {
	cfg, err := s.readConfig(id)
	if err != nil {
		return nil, err
	}
	img := &Image{ID: id.String(), Config: *cfg}
	for name, target := range tags {
		if target == id {
			img.Names = append(img.Names, name)
		}
	}
	slices.Sort(img.Names)
	if cfg.Created != nil {
		img.Created = *cfg.Created
	}
	digests, err := s.readDigests()
	if err != nil {
		return nil, err
	}
	for ref, target := range digests {
		if target == id {
			img.RepoDigests = append(img.RepoDigests, ref)
		}
	}
	slices.Sort(img.RepoDigests)
	if img.Parent, err = s.parent(id); err != nil {
		return nil, err
	}
	for _, d := range cfg.RootFS.DiffIDs {
		info, err := s.readLayerInfo(d)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", id, err)
		}
		img.Size += info.Size
	}
	return img, nil
}

func (s *Store) readLayerInfo(diffID digest.Digest) (*layerInfo, error) {
	if err := diffID.Validate(); err != nil {
		return nil, fmt.Errorf("layer %q: %w", diffID, err)
	}
	path := filepath.Join(s.layerPath(diffID), "layer.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", diffID, err)
	}
	var info layerInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &info, nil
}

// At returns the store under dataRoot without opening it: nothing is
// created, locked or read. Only a dry run uses it, to name the paths a real
// run would use (`minirun explain --dry-run` needs neither root nor an
// existing data root). Every method given a dry-run tracer works on it.
func At(dataRoot string) *Store {
	return &Store{root: filepath.Join(filepath.Clean(dataRoot), "image")}
}
