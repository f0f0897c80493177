package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/explain"
)

// LoadOptions change what Load reports.
type LoadOptions struct {
	// Progress receives `docker load`'s lines ("Loaded image: …").
	Progress io.Writer
	// Tracer narrates the store's steps; nil is silent.
	Tracer *explain.Tracer
	// Stdin is read when the source is "-" (os.Stdin when nil).
	Stdin io.Reader
}

// dockerManifest is one entry of the manifest.json that `docker save`
// writes at the top of its tar (the format of moby's image/tarexport).
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// ociRefName and containerdName are the index annotations that name an
// image in an OCI layout: the first holds a tag (or a whole reference),
// the second, written by Docker and containerd, the whole reference.
const (
	ociRefName     = "org.opencontainers.image.ref.name"
	containerdName = "io.containerd.image.name"
)

// Load adds the images of an archive to the store, like `docker load`.
// src is a tar file written by `docker save` (its manifest.json lists each
// image's config, layers and tags), or an OCI image layout (oci-layout,
// index.json, blobs/sha256/…) as a tar or as a directory; "-" reads a tar
// from o.Stdin. A gzip-compressed tar is accepted too.
//
// Every blob is checked: an OCI layout names blobs by digest, and each
// must hash to its name; in both formats each layer must hash to the diff
// ID its config lists. Layers the store has already are not extracted
// again.
func (s *Store) Load(src string, o LoadOptions) (_ []*Image, retErr error) {
	p := newProgress(o.Progress)
	bs, cleanup, err := s.openArchive(src, o.Stdin)
	if err != nil {
		return nil, err
	}
	defer func() { retErr = errors.Join(retErr, cleanup()) }()

	var imgs []*Image
	switch {
	case bs.exists("manifest.json"):
		imgs, err = s.loadDocker(bs, o.Tracer)
	case bs.exists("index.json"):
		imgs, err = s.loadOCI(bs, o.Tracer)
	default:
		return nil, fmt.Errorf("load %s: neither a docker save archive (manifest.json) nor an OCI layout (index.json)", src)
	}
	for _, img := range imgs {
		if img == nil {
			continue // dry run
		}
		if len(img.Names) == 0 {
			p.printf("Loaded image ID: %s\n", img.ID)
		}
		for _, n := range img.Names {
			p.printf("Loaded image: %s\n", n)
		}
	}
	return imgs, err
}

// openArchive gives random access to src. A directory is read in place,
// a plain tar file through an index of its members; stdin and gzip are
// first copied (decompressed) into the store's scratch area.
func (s *Store) openArchive(src string, stdin io.Reader) (blobSource, func() error, error) {
	none := func() error { return nil }
	if src != "-" {
		fi, err := os.Stat(src)
		if err != nil {
			return nil, nil, fmt.Errorf("load: %w", err)
		}
		if fi.IsDir() {
			return dirSource{fsys: os.DirFS(src)}, none, nil
		}
	}
	var in io.Reader
	if src == "-" {
		in = stdin
		if in == nil {
			in = os.Stdin
		}
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, nil, fmt.Errorf("load: %w", err)
		}
		head := make([]byte, 2)
		n, _ := io.ReadFull(f, head)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("load %s: %w", src, err)
		}
		if !bytes.HasPrefix(head[:n], gzipMagic) {
			ts, err := indexTar(f)
			if err != nil {
				f.Close()
				return nil, nil, fmt.Errorf("load %s: %w", src, err)
			}
			return ts, f.Close, nil
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReader(in)
	if head, _ := br.Peek(2); bytes.HasPrefix(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("load: gzip: %w", err)
		}
		in = zr
	} else {
		in = br
	}
	tmp, err := os.CreateTemp(s.tmpDir(), "load-")
	if err != nil {
		return nil, nil, fmt.Errorf("load: %w", err)
	}
	drop := func() error {
		tmp.Close()
		if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if _, err := io.Copy(tmp, in); err != nil {
		drop()
		return nil, nil, fmt.Errorf("load: copy the archive: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		drop()
		return nil, nil, fmt.Errorf("load: %w", err)
	}
	ts, err := indexTar(tmp)
	if err != nil {
		drop()
		return nil, nil, fmt.Errorf("load: %w", err)
	}
	return ts, drop, nil
}

// loadDocker loads the images that manifest.json lists.
func (s *Store) loadDocker(bs blobSource, tr *explain.Tracer) ([]*Image, error) {
	data, err := readBlob(bs, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerManifest
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("parse manifest.json: %w", err)
	}
	var out []*Image
	for _, e := range entries {
		cfgData, err := readBlob(bs, e.Config)
		if err != nil {
			return out, err
		}
		var cfg v1.Image
		if err := json.Unmarshal(cfgData, &cfg); err != nil {
			return out, fmt.Errorf("parse config %s: %w", e.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
			return out, fmt.Errorf("config %s lists %d layers, manifest.json %d", e.Config, len(cfg.RootFS.DiffIDs), len(e.Layers))
		}
		sources := make([]layerSource, len(e.Layers))
		for i, path := range e.Layers {
			sources[i] = layerSource{diffID: cfg.RootFS.DiffIDs[i], open: func() (io.ReadCloser, error) { return bs.open(path) }}
		}
		img, err := s.loadOne(sources, cfgData, e.RepoTags, tr)
		if err != nil {
			return out, err
		}
		out = append(out, img)
	}
	return out, nil
}

// loadOCI loads the images index.json points at, through nested indexes,
// keeping only this machine's platform from multi-platform ones.
func (s *Store) loadOCI(bs blobSource, tr *explain.Tracer) ([]*Image, error) {
	data, err := readBlob(bs, "index.json")
	if err != nil {
		return nil, err
	}
	var idx v1.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("parse index.json: %w", err)
	}
	var out []*Image
	for _, d := range idx.Manifests {
		imgs, err := s.loadOCIDescriptor(bs, d, refFromAnnotations(d.Annotations), tr, 0)
		out = append(out, imgs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Store) loadOCIDescriptor(bs blobSource, d v1.Descriptor, ref string, tr *explain.Tracer, depth int) ([]*Image, error) {
	if depth > 4 {
		return nil, fmt.Errorf("indexes nested too deep")
	}
	data, err := readVerified(bs, d.Digest)
	if err != nil {
		return nil, err
	}
	switch d.MediaType {
	case v1.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		var idx v1.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("parse index %s: %w", d.Digest, err)
		}
		var out []*Image
		for _, c := range idx.Manifests {
			if c.Platform != nil && (c.Platform.OS != "linux" || c.Platform.Architecture != goruntime.GOARCH) {
				continue
			}
			imgs, err := s.loadOCIDescriptor(bs, c, ref, tr, depth+1)
			out = append(out, imgs...)
			if err != nil {
				return out, err
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("index %s has no image for linux/%s", d.Digest, goruntime.GOARCH)
		}
		return out, nil
	case v1.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
	default:
		return nil, nil // an attestation or another artifact: not an image
	}
	var mf v1.Manifest
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", d.Digest, err)
	}
	cfgData, err := readVerified(bs, mf.Config.Digest)
	if err != nil {
		return nil, err
	}
	var cfg v1.Image
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", mf.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
		return nil, fmt.Errorf("config %s lists %d layers, manifest %d", mf.Config.Digest, len(cfg.RootFS.DiffIDs), len(mf.Layers))
	}
	sources := make([]layerSource, len(mf.Layers))
	for i, l := range mf.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		sources[i] = layerSource{diffID: cfg.RootFS.DiffIDs[i], open: func() (io.ReadCloser, error) {
			r, err := bs.open(blobPath(l.Digest))
			if err != nil {
				return nil, err
			}
			return newVerifyingReader(r, l.Digest), nil
		}}
	}
	var tags []string
	if ref != "" {
		tags = []string{ref}
	}
	img, err := s.loadOne(sources, cfgData, tags, tr)
	return []*Image{img}, err
}

// refFromAnnotations names an image of an OCI layout, "" when it has no
// usable name (a ref.name that is only a tag says nothing of the
// repository).
func refFromAnnotations(a map[string]string) string {
	if n := a[containerdName]; n != "" {
		return n
	}
	if n := a[ociRefName]; strings.ContainsAny(n, ":/") {
		return n
	}
	return ""
}

// loadOne stores one image and gives it its names.
func (s *Store) loadOne(sources []layerSource, cfgData []byte, repoTags []string, tr *explain.Tracer) (*Image, error) {
	var tags []string
	for _, t := range repoTags {
		name, tag := t, DefaultTag
		if i := strings.LastIndexByte(t, ':'); i > strings.LastIndexByte(t, '/') {
			name, tag = t[:i], t[i+1:]
		}
		r, err := ParseRef(normalizeName(name) + ":" + tag)
		if err != nil {
			return nil, err
		}
		tags = append(tags, r.String())
	}
	first := ""
	if len(tags) > 0 {
		first = tags[0]
	}
	img, err := s.create(sources, v1.Image{}, createOpts{tag: first, rawConfig: cfgData}, tr)
	if err != nil || img == nil {
		return img, err
	}
	if len(tags) > 1 {
		for _, t := range tags[1:] {
			if err := s.Tag(img.ID, t); err != nil {
				return img, err
			}
		}
		return s.Get(img.ID)
	}
	return img, nil
}
