package image

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image/layer"
)

// Save writes the images refs name to w as one tar, like `docker save`
// since Docker 25: an OCI image layout (oci-layout, index.json, every
// object under blobs/sha256/ by its digest) that also carries Docker's
// manifest.json, so both `docker load` and OCI tools read it.
//
// Layers are written uncompressed, so each layer blob's digest is its diff
// ID. They are rebuilt byte for byte from the extracted directory and the
// tar-split record kept at extraction (see layer.ExtractRecorded), and
// checked against the diff ID on the way out: a save loaded back gives the
// same image ID. The archive itself is deterministic (sorted, fixed times).
func (s *Store) Save(w io.Writer, refs []string) error {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	tags, err := s.readTags()
	if err != nil {
		return err
	}
	type saved struct {
		id   digest.Digest
		cfg  *v1.Image
		tags []string
	}
	var imgs []*saved
	byID := map[digest.Digest]*saved{}
	for _, ref := range refs {
		id, tagged, err := s.resolve(ref, tags)
		if err != nil {
			return err
		}
		sv := byID[id]
		if sv == nil {
			cfg, err := s.readConfig(id)
			if err != nil {
				return err
			}
			sv = &saved{id: id, cfg: cfg}
			byID[id] = sv
			imgs = append(imgs, sv)
		}
		// A digest reference is no tag: dockerd saves the image without
		// a RepoTags entry for it.
		if tagged != "" && !isDigestRef(tagged) && !slices.Contains(sv.tags, tagged) {
			sv.tags = append(sv.tags, tagged)
		}
	}

	a := &archiveWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
	if err := a.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	var index v1.Index
	index.SchemaVersion, index.MediaType = 2, v1.MediaTypeImageIndex
	var dockerEntries []dockerManifest
	for _, sv := range imgs {
		cfgData, err := os.ReadFile(s.configPath(sv.id))
		if err != nil {
			return fmt.Errorf("read image config %s: %w", sv.id, err)
		}
		if err := a.blob(sv.id, cfgData); err != nil {
			return err
		}
		mf := v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: v1.MediaTypeImageManifest,
			Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: sv.id, Size: int64(len(cfgData))},
			Layers:    []v1.Descriptor{},
		}
		de := dockerManifest{Config: blobPath(sv.id), RepoTags: sv.tags}
		for _, d := range sv.cfg.RootFS.DiffIDs {
			size, err := s.writeLayer(a, d)
			if err != nil {
				return fmt.Errorf("save image %s: %w", sv.id.Encoded()[:12], err)
			}
			mf.Layers = append(mf.Layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: d, Size: size})
			de.Layers = append(de.Layers, blobPath(d))
		}
		mfData, err := json.Marshal(mf)
		if err != nil {
			return fmt.Errorf("encode manifest: %w", err)
		}
		mfDigest := digest.FromBytes(mfData)
		if err := a.blob(mfDigest, mfData); err != nil {
			return err
		}
		desc := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: mfDigest, Size: int64(len(mfData))}
		if len(sv.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		// One index entry per name, as Docker writes them.
		for _, t := range sv.tags {
			d := desc
			r, _ := ParseRef(t)
			d.Annotations = map[string]string{containerdName: fullName(r), ociRefName: r.Tag}
			index.Manifests = append(index.Manifests, d)
		}
		dockerEntries = append(dockerEntries, de)
	}
	idxData, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	if err := a.file("index.json", idxData); err != nil {
		return err
	}
	mData, err := json.Marshal(dockerEntries)
	if err != nil {
		return fmt.Errorf("encode manifest.json: %w", err)
	}
	if err := a.file("manifest.json", mData); err != nil {
		return err
	}
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	return nil
}

// fullName is a store name in its long form: "busybox:latest" is
// "docker.io/library/busybox:latest", as io.containerd.image.name wants.
func fullName(r Ref) string {
	n := r.Name
	first, _, hasSlash := cutFirst(n)
	switch {
	case !hasSlash:
		n = "docker.io/library/" + n
	case !isHost(first):
		n = "docker.io/" + n
	}
	return n + ":" + r.Tag
}

func cutFirst(n string) (first, rest string, ok bool) {
	for i := 0; i < len(n); i++ {
		if n[i] == '/' {
			return n[:i], n[i+1:], true
		}
	}
	return n, "", false
}

func isHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' || s[i] == ':' {
			return true
		}
	}
	return s == "localhost"
}

// archiveWriter writes the members of a saved archive, each blob once.
type archiveWriter struct {
	tw      *tar.Writer
	written map[string]bool
}

// epoch is the time of every member: the same images always give the same
// archive.
var epoch = time.Unix(0, 0).UTC()

func (a *archiveWriter) dirs(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		d := name[:i+1]
		if a.written[d] {
			continue
		}
		a.written[d] = true
		if err := a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	return nil
}

func (a *archiveWriter) header(name string, size int64) error {
	if err := a.dirs(name); err != nil {
		return err
	}
	a.written[name] = true
	if err := a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch}); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

func (a *archiveWriter) file(name string, data []byte) error {
	if err := a.header(name, int64(len(data))); err != nil {
		return err
	}
	if _, err := a.tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func (a *archiveWriter) blob(d digest.Digest, data []byte) error {
	if a.written[blobPath(d)] {
		return nil
	}
	return a.file(blobPath(d), data)
}

// writeLayer writes the layer tar diffID, rebuilt from the store, as a
// blob, and returns its size.
func (s *Store) writeLayer(a *archiveWriter, diffID digest.Digest) (int64, error) {
	info, err := s.readLayerInfo(diffID)
	if err != nil {
		return 0, err
	}
	size := info.TarSize
	if size == 0 {
		// Recorded before tar sizes were: measure by a dry reassembly.
		if size, err = s.reassemble(io.Discard, diffID); err != nil {
			return 0, err
		}
	}
	if a.written[blobPath(diffID)] {
		return size, nil
	}
	if err := a.header(blobPath(diffID), size); err != nil {
		return 0, err
	}
	digester := digest.SHA256.Digester()
	n, err := s.reassemble(io.MultiWriter(a.tw, digester.Hash()), diffID)
	if err != nil {
		return 0, err
	}
	if n != size || digester.Digest() != diffID {
		return 0, fmt.Errorf("layer %s: rebuilt tar hashes to %s (%d bytes): the layer's files changed", diffID, digester.Digest(), n)
	}
	return size, nil
}

// reassemble writes the original tar of a stored layer to w.
func (s *Store) reassemble(w io.Writer, diffID digest.Digest) (int64, error) {
	dir := s.layerPath(diffID)
	f, err := os.Open(filepath.Join(dir, tarSplitFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("layer %s has no tar-split record (stored by an older minirun): remove the image and import or pull it again", diffID)
	}
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("layer %s: tar-split record: %w", diffID, err)
	}
	return layer.Reassemble(w, filepath.Join(dir, "diff"), zr)
}

// LayerTar writes the tar of the stored layer diffID to w, byte for byte
// the one it was created from (its sha256 is diffID): what a push or an
// export of an image needs.
func (s *Store) LayerTar(w io.Writer, diffID string) (int64, error) {
	d := digest.Digest(diffID)
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("diff ID %q: %w", diffID, err)
	}
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return s.reassemble(w, d)
}
