package image

import (
	"errors"
	"fmt"
	"io"
	"os"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/explain"
)

// Commit stores the image of one build step: the layers of parent (nil
// for FROM scratch), plus, when layerTar is not nil, one new layer read
// from it, with the config cfg (its rootfs is filled in here; its history
// should already have the step's entry). The new image remembers parent,
// which `history` and the build cache use.
//
// This is what `docker commit` and each step of the classic builder do:
// an image is its parent plus one change.
func (s *Store) Commit(parent *Image, layerTar io.Reader, cfg v1.Image, tr *explain.Tracer) (*Image, error) {
	var sources []layerSource
	parentID := ""
	if parent != nil {
		parentID = parent.ID
		for _, d := range parent.Config.RootFS.DiffIDs {
			sources = append(sources, layerSource{diffID: d})
		}
	}
	if layerTar != nil {
		sources = append(sources, layerSource{open: func() (io.ReadCloser, error) { return io.NopCloser(layerTar), nil }})
	}
	cfg.RootFS = v1.RootFS{}
	return s.create(sources, cfg, createOpts{parent: &parentID}, tr)
}

// TempDir creates a directory in the store's scratch area, on the same
// filesystem as the layers: a build's upper and work directories for
// overlayfs (which needs both on one filesystem), or a file being staged.
// The caller removes it with RemoveTemp.
func (s *Store) TempDir(prefix string) (string, error) {
	d, err := os.MkdirTemp(s.tmpDir(), prefix)
	if err != nil {
		return "", fmt.Errorf("create scratch directory: %w", err)
	}
	return d, nil
}

// RemoveTemp removes a directory made by TempDir, whatever it holds
// (overlayfs leaves a work/ directory with mode 000).
func (s *Store) RemoveTemp(dir string) error {
	if err := removeTree(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// NarrateCommit describes, with a dry-run tracer, what Commit does for one
// build step: with a new layer, its extraction and storage; then the
// config. The parent's layers are already stored, so, as in a real
// Commit, they take no step.
func (s *Store) NarrateCommit(newLayer bool, tr *explain.Tracer) error {
	if !tr.DryRun() {
		return errors.New("image: NarrateCommit needs a dry-run tracer")
	}
	n := 0
	if newLayer {
		n = 1
	}
	return s.narrateCreate(n, "", tr)
}
