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
	src := layerSource{open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }}
	return s.create([]layerSource{src}, img, createOpts{tag: tag}, tr)
}

// layerSource is one layer of an image entering the store.
type layerSource struct {
	// diffID is the layer's diff ID when it is known beforehand (a pulled
	// or loaded image's config lists them; a parent image's layers), ""
	// otherwise. A known layer the store already has is not read again.
	diffID digest.Digest
	// open returns the layer tar, plain or gzip-compressed. It is called
	// only when the layer must be extracted; nil means the layer must
	// already be in the store.
	open func() (io.ReadCloser, error)
}

// createOpts says what, beside layers and config, an image entering the
// store carries.
type createOpts struct {
	// tag is the "name:tag" to point at the image, or "".
	tag string
	// repoDigest is the "name@sha256:…" to point at the image (a pull),
	// or "".
	repoDigest string
	// manifest is the registry's manifest, kept under manifests/ by its
	// digest (a pull), or nil.
	manifest []byte
	// rawConfig, when set, is the config to store byte for byte (pulled
	// or loaded: its digest is the image ID the registry or the archive
	// named, so it must not be re-encoded). Otherwise img is encoded.
	rawConfig []byte
	// parent is the ID of the image a build step started from, "" for
	// FROM scratch; nil when the image does not come from a build.
	parent *string
}

// stagedLayer is a layer extracted into the scratch directory, not yet in
// the store, or (shared) one the store already had.
type stagedLayer struct {
	dir    string // scratch dir holding diff/, layer.json and tar-split.gz
	diffID digest.Digest
	size   int64
	shared bool // already stored: nothing was extracted
}

// create stores the layers of sources (bottom first) and an image whose
// config is img with rootfs filled in (or o.rawConfig as is). It is the
// one path by which images enter the store: import, pull, load and build
// share it. When the config already lists diff_ids (pulled or loaded), the
// extracted layers must match them.
//
// Order: the slow part, extraction, runs without the lock, each layer into
// a private scratch directory. Then, under the exclusive lock, the layers
// are renamed into place, the config written and the name set; a failure
// there undoes those steps before the lock is released, so no other
// process ever sees a layer that no config references or a name that
// points nowhere.
func (s *Store) create(sources []layerSource, img v1.Image, o createOpts, tr *explain.Tracer) (_ *Image, retErr error) {
	if tr.DryRun() {
		return nil, s.narrateCreate(len(sources), o.tag, tr)
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

	staged := make([]stagedLayer, len(sources))
	diffIDs := make([]digest.Digest, len(sources))
	for i, src := range sources {
		l, err := s.stageLayer(src, filepath.Join(staging, strconv.Itoa(i)), tr)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		staged[i], diffIDs[i] = l, l.diffID
	}
	var data []byte
	if o.rawConfig != nil {
		data = o.rawConfig
		if err := json.Unmarshal(data, &img); err != nil {
			return nil, fmt.Errorf("parse image config: %w", err)
		}
	}
	if (o.rawConfig != nil || len(img.RootFS.DiffIDs) > 0) && !slices.Equal(img.RootFS.DiffIDs, diffIDs) {
		return nil, fmt.Errorf("layers do not match the config: config lists %v, the layers hash to %v",
			img.RootFS.DiffIDs, diffIDs)
	}
	if data == nil {
		img.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}
		// The config is stored byte for byte as hashed: re-encoding it
		// later could change a byte and with it the ID.
		if data, err = json.Marshal(img); err != nil {
			return nil, fmt.Errorf("encode image config: %w", err)
		}
	}

	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id, err := s.commit(staged, data, o, tr)
	if err != nil {
		return nil, err
	}
	tags, err := s.readTags()
	if err != nil {
		return nil, err
	}
	return s.load(id, tags)
}

// stageLayer extracts one source into dir, or notes that the store has
// it already.
func (s *Store) stageLayer(src layerSource, dir string, tr *explain.Tracer) (stagedLayer, error) {
	if src.diffID != "" {
		if err := src.diffID.Validate(); err != nil {
			return stagedLayer{}, fmt.Errorf("diff ID %q: %w", src.diffID, err)
		}
		if s.hasLayer(src.diffID) {
			return stagedLayer{diffID: src.diffID, shared: true}, nil
		}
	}
	if src.open == nil {
		return stagedLayer{}, fmt.Errorf("layer %s: %w", src.diffID, ErrNotFound)
	}
	r, err := src.open()
	if err != nil {
		return stagedLayer{}, err
	}
	l, err := s.extractLayer(r, dir, tr)
	// Close may report that the blob did not hash to its digest (an OCI
	// layout's verifying reader): worth saying even when extraction
	// failed first, since it is the real cause.
	if cerr := r.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return l, err
	}
	if src.diffID != "" && l.diffID != src.diffID {
		return l, fmt.Errorf("layer content hashes to %s, the config lists %s", l.diffID, src.diffID)
	}
	return l, nil
}

// hasLayer reports whether the layer is stored (its layer.json, written
// last before the rename, exists).
func (s *Store) hasLayer(diffID digest.Digest) bool {
	_, err := os.Stat(filepath.Join(s.layerPath(diffID), "layer.json"))
	return err == nil
}

// commit moves staged layers into the store, writes the config (data,
// whose digest is the image ID) and the build parent, and sets the names.
// The caller holds the exclusive lock.
func (s *Store) commit(staged []stagedLayer, data []byte, o createOpts, tr *explain.Tracer) (_ digest.Digest, retErr error) {
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	for _, l := range staged {
		if l.shared {
			// Skipped before the lock was taken: check it is still there
			// (an `image rm` may have run in between).
			if !s.hasLayer(l.diffID) {
				return "", fmt.Errorf("layer %s was removed while the image was being created; try again", l.diffID)
			}
			continue
		}
		if err := tr.Do(s.commitLayerStep(l), &undo); err != nil {
			return "", fmt.Errorf("store layer %s: %w", l.diffID, err)
		}
	}

	id := digest.FromBytes(data)
	if err := tr.Do(s.configWriteStep(id, data), &undo); err != nil {
		return "", fmt.Errorf("write image config %s: %w", id, err)
	}
	if o.parent != nil {
		restore, err := s.setParent(id, *o.parent)
		if err != nil {
			return "", err
		}
		undo.Add("restore parent", restore)
	}
	if o.manifest != nil {
		if err := s.writeManifest(o.manifest); err != nil {
			return "", err
		}
	}
	if o.tag != "" {
		if err := tr.Do(s.tagStep(o.tag, id), &undo); err != nil {
			return "", fmt.Errorf("tag %s: %w", o.tag, err)
		}
	}
	if o.repoDigest != "" {
		restore, err := s.setDigestRef(o.repoDigest, id)
		if err != nil {
			return "", err
		}
		undo.Add("restore digest", restore)
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
		split, err := os.OpenFile(filepath.Join(dir, tarSplitFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("create tar-split record: %w", err)
		}
		defer split.Close()
		zw, _ := gzip.NewWriterLevel(split, gzip.BestSpeed)
		// Compressing the record on another core keeps it off the
		// extraction's path.
		aw := newAsyncWriter(zw)
		var tarSize int64
		l.diffID, l.size, tarSize, err = extractStream(r, diff, aw)
		if cerr := aw.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write tar-split record: %w", cerr)
		}
		if err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("write tar-split record: %w", err)
		}
		if err := split.Close(); err != nil {
			return fmt.Errorf("write tar-split record: %w", err)
		}
		data, err := json.Marshal(layerInfo{DiffID: l.diffID, Size: l.size, TarSize: tarSize})
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

// tarSplitFile is the name, in a layer's directory, of the record that
// gives back its tar byte for byte (see layer.ExtractRecorded).
const tarSplitFile = "tar-split.gz"

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// The first bytes of compressed streams (RFC 1952 for gzip; the zstd, xz
// and bzip2 formats for the others, named only to fail clearly).
var (
	gzipMagic  = []byte{0x1f, 0x8b}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	bzip2Magic = []byte("BZh")
)

// extractStream decompresses r when it is gzip, applies the tar to dir,
// writes its tar-split record to record, and returns the layer's diff ID
// (the sha256 of the uncompressed tar), the bytes of file content, and the
// size of the uncompressed tar.
func extractStream(r io.Reader, dir string, record io.Writer) (digest.Digest, int64, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if len(head) == 0 {
		if err == nil || err == io.EOF {
			return "", 0, 0, fmt.Errorf("empty input: a tar archive was expected")
		}
		return "", 0, 0, fmt.Errorf("read layer: %w", err)
	}
	var tarStream io.Reader = br
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", 0, 0, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		tarStream = zr
	case bytes.HasPrefix(head, zstdMagic), bytes.HasPrefix(head, xzMagic), bytes.HasPrefix(head, bzip2Magic):
		return "", 0, 0, fmt.Errorf("compressed with zstd, xz or bzip2: only plain or gzip tar archives are supported")
	}
	digester := digest.SHA256.Digester()
	count := &countWriter{}
	// The hash runs on another core while the files are written: on a
	// two-core VM that is most of the difference with tar(1).
	hasher := newAsyncWriter(io.MultiWriter(digester.Hash(), count))
	tee := io.TeeReader(tarStream, hasher)
	// ExtractRecorded reads the stream to its end, zero padding after the
	// end-of-archive marker included: the diff ID covers it all, so that it
	// equals `sha256sum` of the tar.
	size, err := layer.ExtractRecorded(tee, dir, record)
	if cerr := hasher.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, 0, err
	}
	return digester.Digest(), size, count.n, nil
}

// asyncWriter hands what is written to it to a goroutine that writes it to
// w, so that w's work (hashing, compressing) overlaps the caller's. Write
// returns once the goroutine has taken a copy of the bytes (io.Pipe).
type asyncWriter struct {
	pw   *io.PipeWriter
	done chan error
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	pr, pw := io.Pipe()
	a := &asyncWriter{pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := io.CopyBuffer(w, pr, make([]byte, 256<<10))
		pr.CloseWithError(err)
		a.done <- err
	}()
	return a
}

func (a *asyncWriter) Write(p []byte) (int, error) { return a.pw.Write(p) }

// Close waits until everything written has reached w.
func (a *asyncWriter) Close() error {
	a.pw.Close()
	return <-a.done
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
	step.EvidenceText = func() explain.Text {
		if stored {
			return explain.Text{PT: final, EN: final}
		}
		return explain.Text{PT: final + " (já existia: compartilhada)", EN: final + " (already stored: shared)"}
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
	staging := filepath.Join(s.tmpDir(), "import-0")
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
