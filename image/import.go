package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image/layer"
	"github.com/minirun/minirun/internal/cleanup"
)

// Import makes an image of one layer from a root filesystem tar read from
// r (plain or gzip-compressed, told apart by the first bytes), like
// `docker import`. cfg sets the process defaults (Cmd, Env, ...); nil
// leaves them empty: nothing is assumed, not even a shell. ref names the
// image ("" leaves it untagged).
//
// The host-changing steps go through tr (nil runs them silently):
// images-layer-extract, images-layer-commit, images-config-write,
// images-tag. A failure undoes what the earlier steps stored. With a
// dry-run tracer Import only narrates the steps and returns a nil Image.
func (s *Store) Import(r io.Reader, ref string, cfg *v1.ImageConfig, tr *explain.Tracer) (*Image, error) {
	tag := ""
	if ref != "" {
		parsed, err := ParseRef(ref)
		if err != nil {
			return nil, err
		}
		tag = parsed.String()
	}
	now := time.Now().UTC()
	img := v1.Image{
		Created:  &now,
		Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		History: []v1.History{{
			Created:   &now,
			CreatedBy: "minirun import",
			Comment:   "imported from a root filesystem tarball",
		}},
	}
	if cfg != nil {
		img.Config = *cfg
	}
	return s.create([]io.Reader{r}, img, tag, tr)
}

// stagedLayer is a layer extracted into the scratch directory, not yet in
// the store.
type stagedLayer struct {
	dir    string // scratch dir holding diff/ and layer.json
	diffID digest.Digest
	size   int64
}

// create stores the layers read from layers (bottom first) and an image
// whose config is img with rootfs filled in, and names it tag ("" for
// none). It is the one path by which images enter the store, so pull and
// build can share it: when img already lists diff_ids (a pulled config),
// the extracted layers must match them.
//
// Order: the slow part, extraction, runs without the lock, each layer into
// a private scratch directory. Then, under the exclusive lock, the layers
// are renamed into place, the config written and the name set; a failure
// there undoes those steps before the lock is released, so no other
// process ever sees a layer that no config references or a name that
// points nowhere.
func (s *Store) create(layers []io.Reader, img v1.Image, tag string, tr *explain.Tracer) (_ *Image, retErr error) {
	if tr.DryRun() {
		return nil, s.narrateCreate(len(layers), tag, tr)
	}
	staging, err := os.MkdirTemp(s.tmpDir(), "import-")
	if err != nil {
		return nil, fmt.Errorf("create scratch directory: %w", err)
	}
	// Whatever happens, the scratch directory goes; on success its layers
	// have been renamed into the store and it is empty.
	defer func() {
		if err := removeTree(staging); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("remove scratch directory: %w", err))
		}
	}()

	staged := make([]stagedLayer, len(layers))
	diffIDs := make([]digest.Digest, len(layers))
	for i, r := range layers {
		l, err := s.extractLayer(r, filepath.Join(staging, strconv.Itoa(i)), tr)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		staged[i], diffIDs[i] = l, l.diffID
	}
	if len(img.RootFS.DiffIDs) > 0 && !slices.Equal(img.RootFS.DiffIDs, diffIDs) {
		return nil, fmt.Errorf("layers do not match the config: config lists %v, the layers hash to %v",
			img.RootFS.DiffIDs, diffIDs)
	}
	img.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}

	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id, err := s.commit(staged, &img, tag, tr)
	if err != nil {
		return nil, err
	}
	tags, err := s.readTags()
	if err != nil {
		return nil, err
	}
	return s.load(id, tags)
}

// commit moves staged layers into the store, writes the config and sets
// the tag. The caller holds the exclusive lock.
func (s *Store) commit(staged []stagedLayer, img *v1.Image, tag string, tr *explain.Tracer) (_ digest.Digest, retErr error) {
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	for _, l := range staged {
		if err := tr.Do(s.commitLayerStep(l), &undo); err != nil {
			return "", fmt.Errorf("store layer %s: %w", l.diffID, err)
		}
	}

	// The config is stored byte for byte as hashed: re-encoding it later
	// could change a byte and with it the ID.
	data, err := json.Marshal(img)
	if err != nil {
		return "", fmt.Errorf("encode image config: %w", err)
	}
	id := digest.FromBytes(data)
	if err := tr.Do(s.configWriteStep(id, data), &undo); err != nil {
		return "", fmt.Errorf("write image config %s: %w", id, err)
	}

	if tag != "" {
		if err := tr.Do(s.tagStep(tag, id), &undo); err != nil {
			return "", fmt.Errorf("tag %s: %w", tag, err)
		}
	}
	undo.Release()
	return id, nil
}

// extractLayer applies one layer tar to dir/diff in the scratch area and
// records its diff ID and size in dir/layer.json.
func (s *Store) extractLayer(r io.Reader, dir string, tr *explain.Tracer) (stagedLayer, error) {
	l := stagedLayer{dir: dir}
	diff := filepath.Join(dir, "diff")
	step := stepLayerExtract(diff)
	step.Do = func() error {
		if err := os.MkdirAll(diff, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", diff, err)
		}
		var err error
		if l.diffID, l.size, err = extractStream(r, diff); err != nil {
			return err
		}
		data, err := json.Marshal(layerInfo{DiffID: l.diffID, Size: l.size})
		if err != nil {
			return fmt.Errorf("encode layer info: %w", err)
		}
		return writeFileAtomic(filepath.Join(dir, "layer.json"), data, 0o600)
	}
	step.Evidence = func() string {
		return fmt.Sprintf("diff_id %s, %d bytes", l.diffID, l.size)
	}
	// No Undo: the caller removes the whole scratch directory.
	if err := tr.Do(step, nil); err != nil {
		return l, err
	}
	return l, nil
}

// The first bytes of compressed streams (RFC 1952 for gzip; the zstd, xz
// and bzip2 formats for the others, named only to fail clearly).
var (
	gzipMagic  = []byte{0x1f, 0x8b}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	bzip2Magic = []byte("BZh")
)

// extractStream decompresses r when it is gzip, applies the tar to dir,
// and returns the layer's diff ID: the sha256 of the uncompressed tar.
func extractStream(r io.Reader, dir string) (digest.Digest, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if len(head) == 0 {
		if err == nil || err == io.EOF {
			return "", 0, fmt.Errorf("empty input: a tar archive was expected")
		}
		return "", 0, fmt.Errorf("read layer: %w", err)
	}
	var tarStream io.Reader = br
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", 0, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		tarStream = zr
	case bytes.HasPrefix(head, zstdMagic), bytes.HasPrefix(head, xzMagic), bytes.HasPrefix(head, bzip2Magic):
		return "", 0, fmt.Errorf("compressed with zstd, xz or bzip2: only plain or gzip tar archives are supported")
	}
	digester := digest.SHA256.Digester()
	tee := io.TeeReader(tarStream, digester.Hash())
	size, err := layer.Extract(tee, dir)
	if err != nil {
		return "", 0, err
	}
	// The diff ID covers the whole uncompressed stream, so that it equals
	// `sha256sum` of the tar: tar.Reader stops at the end-of-archive
	// marker and leaves the zero padding after it unread.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", 0, fmt.Errorf("read layer: %w", err)
	}
	return digester.Digest(), size, nil
}

// commitLayerStep renames a staged layer to layers/sha256/<diff id>, or
// drops it when the store already has that layer. Its Undo removes the
// layer only if this step stored it and no config references it.
func (s *Store) commitLayerStep(l stagedLayer) explain.Step {
	final := s.layerPath(l.diffID)
	step := stepLayerCommit(l.dir, final)
	stored := false
	step.Do = func() error {
		_, err := os.Stat(final)
		if err == nil {
			return nil // already stored by another image: share it
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Rename(l.dir, final); err != nil {
			return fmt.Errorf("move layer into the store: %w", err)
		}
		stored = true
		return syncDir(s.layersDir())
	}
	step.Undo = func() error {
		if !stored {
			return nil
		}
		return s.removeLayerIfUnused(l.diffID)
	}
	step.Evidence = func() string {
		if stored {
			return final
		}
		return final + " (já existia, compartilhada / already stored, shared)"
	}
	return step
}

// configWriteStep writes the config to configs/sha256/<id>. The same bytes
// may already be there (an identical config); then there is nothing to
// write and nothing to undo.
func (s *Store) configWriteStep(id digest.Digest, data []byte) explain.Step {
	path := s.configPath(id)
	step := stepConfigWrite(path)
	written := false
	step.Do = func() error {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if err := writeFileAtomic(path, data, 0o600); err != nil {
			return err
		}
		written = true
		return nil
	}
	step.Undo = func() error {
		if !written {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	step.Evidence = func() string { return "ID " + id.String() }
	return step
}

// tagStep points tag at id in repositories.json; its Undo restores the
// previous target.
func (s *Store) tagStep(tag string, id digest.Digest) explain.Step {
	step := stepTag(s.reposPath(), filepath.Join(s.root, "lock"), tag, id.String())
	var restore func() error
	step.Do = func() (err error) {
		restore, err = s.setTag(tag, id)
		return err
	}
	step.Undo = func() error { return restore() }
	step.Evidence = func() string { return tag + " → " + id.String() }
	return step
}

// narrateCreate describes the steps of create without running them (a dry
// run), with shell variables for the values only a real run would know.
func (s *Store) narrateCreate(nLayers int, tag string, tr *explain.Tracer) error {
	staging := filepath.Join(s.tmpDir(), "import-$RANDOM")
	for i := 0; i < nLayers; i++ {
		dir := filepath.Join(staging, strconv.Itoa(i))
		steps := []explain.Step{
			stepLayerExtract(filepath.Join(dir, "diff")),
			stepLayerCommit(dir, filepath.Join(s.layersDir(), "$DIFF_ID")),
		}
		for _, st := range steps {
			if err := tr.Do(st, nil); err != nil {
				return err
			}
		}
	}
	if err := tr.Do(stepConfigWrite(filepath.Join(s.configsDir(), "$IMAGE_ID")), nil); err != nil {
		return err
	}
	if tag == "" {
		return nil
	}
	return tr.Do(stepTag(s.reposPath(), filepath.Join(s.root, "lock"), tag, "sha256:$IMAGE_ID"), nil)
}
