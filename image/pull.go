package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/explain"
)

// PullOptions change how Pull talks to the registry and reports.
type PullOptions struct {
	// Insecure talks plain HTTP and accepts any certificate. Registries on
	// loopback (localhost, 127.0.0.1, ::1) get plain HTTP without it, as
	// Docker's daemon allows.
	Insecure bool
	// Platform is the "os/arch[/variant]" picked from a multi-platform
	// image (a manifest list, or OCI index): "linux/<this machine's
	// arch>" when empty.
	Platform string
	// Progress receives Docker's pull output: one line per layer step,
	// and on a terminal a progress bar per layer. nil prints nothing.
	Progress io.Writer
	// Events, when set, receives the report as events instead of text to
	// Progress: the daemon sends each as one of Docker's JSON progress
	// messages.
	Events func(ProgressEvent)
	// Tracer narrates the steps (explain chapter "images"); nil is silent.
	Tracer *explain.Tracer
	// Context cancels the transfers; nil means context.Background().
	Context context.Context
}

// Pull downloads the image ref — NAME[:TAG] or NAME@sha256:… — from its
// registry, like `docker pull`: Docker Hub when NAME has no registry host
// ("redis" is docker.io/library/redis), through the OCI distribution API
// (GET /v2/<name>/manifests/<reference>, GET /v2/<name>/blobs/<digest>),
// with the registry's token authentication.
//
// The order, which the explain steps follow:
//
//  1. images-pull-manifest: fetch the manifest. A manifest list (OCI
//     index) has one manifest per platform: pick o.Platform's.
//  2. images-pull-config: fetch the config blob; its sha256 must be the
//     digest the manifest names. That digest is the image ID.
//  3. images-pull-layer, for each layer the store does not have yet:
//     download the compressed blob into the store's scratch area, checking
//     its sha256 against the manifest; then extract it and check the sha256
//     of the uncompressed tar against the config's diff_ids
//     (images-layer-extract), and store it (images-layer-commit).
//  4. images-config-write, images-tag: as for an import.
//
// A digest that does not match fails the pull and leaves nothing behind.
// The manifest is kept under manifests/, and "NAME@sha256:<manifest
// digest>" points at the image (Docker's RepoDigests).
func (s *Store) Pull(ref string, o PullOptions) (*Image, error) {
	tr := o.Tracer
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	var nameOpts []name.Option
	if o.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	platform, err := parsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	p := newEventProgress(o.Progress, o.Events)
	repo := r.Context()
	local := normalizeName(repo.Name())
	tag, repoDigestOf := "", func(d string) string { return local + "@" + d }
	switch r := r.(type) {
	case name.Tag:
		tag = local + ":" + r.TagStr()
		if !strings.Contains(ref, ":"+r.TagStr()) {
			p.status("", "Using default tag: "+r.TagStr())
		}
		p.status(r.TagStr(), "Pulling from "+repo.RepositoryStr())
	case name.Digest:
		p.status(r.DigestStr(), "Pulling from "+repo.RepositoryStr())
	}
	if tag != "" {
		if _, err := ParseRef(tag); err != nil {
			return nil, err
		}
	}
	base := repo.Registry.Scheme() + "://" + repo.RegistryStr() + "/v2/" + repo.RepositoryStr()
	if tr.DryRun() {
		return nil, s.narratePull(base, r.Identifier(), tag, platform, tr)
	}

	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(platform),
		remote.WithUserAgent("minirun"),
	}
	if o.Insecure {
		remoteOpts = append(remoteOpts, remote.WithTransport(insecureTransport()))
	}

	// 1. The manifest, through the index when there is one.
	var (
		img     ggcr.Image
		top     ggcr.Hash // what the reference resolved to: index or manifest
		chosen  string
		rawMani []byte
	)
	step := stepPullManifest(base, r.Identifier())
	step.Do = func() error {
		desc, err := remote.Get(r, remoteOpts...)
		if err != nil {
			return fmt.Errorf("fetch manifest of %s: %w", ref, err)
		}
		top = desc.Digest
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err != nil {
				return err
			}
			im, err := idx.IndexManifest()
			if err != nil {
				return fmt.Errorf("parse index of %s: %w", ref, err)
			}
			var pick *ggcr.Descriptor
			var have []string
			for i, m := range im.Manifests {
				if m.Platform == nil {
					continue
				}
				have = append(have, m.Platform.String())
				if m.Platform.Satisfies(platform) && pick == nil {
					pick = &im.Manifests[i]
				}
			}
			if pick == nil {
				return fmt.Errorf("no matching manifest for %s in the manifest list entries (it has %s)",
					platform.String(), strings.Join(have, ", "))
			}
			chosen = fmt.Sprintf("index of %d manifests → %s %s", len(im.Manifests), pick.Platform, pick.Digest)
			if img, err = idx.Image(pick.Digest); err != nil {
				return fmt.Errorf("fetch manifest %s: %w", pick.Digest, err)
			}
		} else if desc.MediaType.IsImage() {
			if img, err = desc.Image(); err != nil {
				return err
			}
			chosen = "manifest " + desc.Digest.String()
		} else {
			return fmt.Errorf("%s is a %s, not an image", ref, desc.MediaType)
		}
		if rawMani, err = img.RawManifest(); err != nil {
			return fmt.Errorf("fetch manifest of %s: %w", ref, err)
		}
		return nil
	}
	step.Evidence = func() string { return chosen }
	if err := tr.Do(step, nil); err != nil {
		return nil, err
	}
	var mf v1.Manifest
	if err := json.Unmarshal(rawMani, &mf); err != nil {
		return nil, fmt.Errorf("parse manifest of %s: %w", ref, err)
	}

	// 2. The config: its digest is the image ID.
	var rawCfg []byte
	var cfg v1.Image
	step = stepPullConfig(base, mf.Config.Digest.String())
	step.Do = func() error {
		if rawCfg, err = img.RawConfigFile(); err != nil {
			return fmt.Errorf("fetch image config %s: %w", mf.Config.Digest, err)
		}
		if got := digest.FromBytes(rawCfg); got != mf.Config.Digest {
			return fmt.Errorf("image config: content hashes to %s, the manifest says %s", got, mf.Config.Digest)
		}
		if err := json.Unmarshal(rawCfg, &cfg); err != nil {
			return fmt.Errorf("parse image config %s: %w", mf.Config.Digest, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
			return fmt.Errorf("image config lists %d layers, the manifest %d", len(cfg.RootFS.DiffIDs), len(mf.Layers))
		}
		return nil
	}
	step.Evidence = func() string { return "ID " + mf.Config.Digest.String() }
	if err := tr.Do(step, nil); err != nil {
		return nil, err
	}
	if tag != "" {
		if cur, err := s.Get(tag); err == nil && cur.ID == mf.Config.Digest.String() {
			p.status("", "Digest: "+top.String())
			p.status("", "Status: Image is up to date for "+tag)
			return cur, nil
		}
	}

	// 3. The layers, each checked against two digests.
	sources := make([]layerSource, len(mf.Layers))
	for i, desc := range mf.Layers {
		diffID := cfg.RootFS.DiffIDs[i]
		desc := desc
		short := desc.Digest.Encoded()[:12]
		if s.hasLayer(diffID) {
			p.status(short, "Already exists")
		} else {
			p.status(short, "Pulling fs layer")
		}
		sources[i] = layerSource{diffID: diffID, open: func() (io.ReadCloser, error) {
			return s.downloadLayer(img, base, desc, p, tr)
		}}
	}
	o2 := createOpts{tag: tag, repoDigest: repoDigestOf(top.String()), manifest: rawMani, rawConfig: rawCfg}
	got, err := s.create(sources, v1.Image{}, o2, tr)
	if err != nil {
		return nil, err
	}
	p.status("", "Digest: "+top.String())
	if tag != "" {
		p.status("", "Status: Downloaded newer image for "+tag)
	} else {
		p.status("", "Status: Downloaded newer image for "+repoDigestOf(top.String()))
	}
	return got, nil
}

// downloadLayer fetches one compressed layer blob into the scratch area,
// checking its size and sha256, and returns it opened for extraction. The
// file is removed when the returned reader is closed.
func (s *Store) downloadLayer(img ggcr.Image, base string, desc v1.Descriptor, p *progress, tr *explain.Tracer) (io.ReadCloser, error) {
	short := desc.Digest.Encoded()[:12]
	f, err := os.CreateTemp(s.tmpDir(), "blob-")
	if err != nil {
		return nil, fmt.Errorf("create download file: %w", err)
	}
	discard := func() { f.Close(); os.Remove(f.Name()) }
	step := stepPullLayer(base, desc.Digest.String(), f.Name())
	var n int64
	step.Do = func() error {
		h, err := ggcr.NewHash(desc.Digest.String())
		if err != nil {
			return fmt.Errorf("layer digest %q: %w", desc.Digest, err)
		}
		l, err := img.LayerByDigest(h)
		if err != nil {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("download layer %s: %w", desc.Digest, err)
		}
		defer rc.Close()
		digester := digest.SHA256.Digester()
		bar := p.bar(short, desc.Size)
		n, err = io.Copy(io.MultiWriter(f, digester.Hash(), bar), rc)
		bar.done()
		if err != nil {
			return fmt.Errorf("download layer %s: %w", desc.Digest, err)
		}
		p.status(short, "Verifying Checksum")
		if got := digester.Digest(); got != desc.Digest {
			return fmt.Errorf("layer %s: the downloaded blob hashes to %s", desc.Digest, got)
		}
		if n != desc.Size {
			return fmt.Errorf("layer %s: downloaded %d bytes, the manifest says %d", desc.Digest, n, desc.Size)
		}
		p.status(short, "Download complete")
		_, err = f.Seek(0, io.SeekStart)
		return err
	}
	step.Evidence = func() string { return fmt.Sprintf("%s, %d bytes, sha256 ok", desc.Digest, n) }
	if err := tr.Do(step, nil); err != nil {
		discard()
		return nil, err
	}
	p.status(short, "Extracting")
	return &removeOnClose{File: f, done: func() { p.status(short, "Pull complete") }}, nil
}

// removeOnClose is a downloaded blob that goes away once extracted.
type removeOnClose struct {
	*os.File
	done func()
}

func (r *removeOnClose) Close() error {
	err := r.File.Close()
	if rerr := os.Remove(r.File.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if err == nil && r.done != nil {
		r.done()
	}
	return err
}

// parsePlatform reads "os/arch[/variant]", defaulting to linux and this
// machine's architecture.
func parsePlatform(s string) (ggcr.Platform, error) {
	if s == "" {
		return ggcr.Platform{OS: "linux", Architecture: goruntime.GOARCH}, nil
	}
	p, err := ggcr.ParsePlatform(s)
	if err != nil {
		return ggcr.Platform{}, fmt.Errorf("platform %q: %w", s, err)
	}
	return *p, nil
}

// narratePull describes a pull without any network traffic (a dry run).
func (s *Store) narratePull(base, ident, tag string, platform ggcr.Platform, tr *explain.Tracer) error {
	steps := []explain.Step{
		stepPullManifest(base, ident),
		stepPullConfig(base, "$CONFIG_DIGEST"),
		stepPullLayer(base, "$LAYER_DIGEST", filepath.Join(s.tmpDir(), "blob-0")),
	}
	for _, st := range steps {
		if err := tr.Do(st, nil); err != nil {
			return err
		}
	}
	return s.narrateCreate(1, tag, tr)
}
