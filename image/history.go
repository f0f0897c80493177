package image

import (
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// HistoryEntry is one line of `docker history`: one step that made the
// image, newest first.
type HistoryEntry struct {
	// ID is the image this step produced, when it exists on this machine
	// (a step built here); "" prints as <missing> (a step of a pulled
	// image: the registry sends the result, not the intermediate images).
	ID        string
	Created   time.Time
	CreatedBy string
	// Size is the bytes of file content of the step's layer; 0 for a step
	// that changed only the config (ENV, CMD, …: empty_layer).
	Size       int64
	Comment    string
	EmptyLayer bool
	// Tags are the names of ID.
	Tags []string
}

// History returns the steps that made the image ref, newest first, from
// its config's history (each non-empty step owns the next layer of
// rootfs.diff_ids) and the chain of parents built here.
func (s *Store) History(ref string) ([]HistoryEntry, error) {
	r, err := s.lockRef(unix.LOCK_SH, ref)
	if err != nil {
		return nil, err
	}
	defer r.unlock()
	id, tags := r.id, r.repos.Repositories
	img, err := s.load(id, tags)
	if err != nil {
		return nil, err
	}
	hist := img.Config.History
	out := make([]HistoryEntry, len(hist))
	layer := 0
	for i, h := range hist {
		e := HistoryEntry{CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != nil {
			e.Created = *h.Created
		}
		if !h.EmptyLayer {
			if layer >= len(img.Config.RootFS.DiffIDs) {
				return nil, fmt.Errorf("image %s: history has more layers than rootfs.diff_ids", id)
			}
			info, err := s.readLayerInfo(img.Config.RootFS.DiffIDs[layer])
			if err != nil {
				return nil, err
			}
			e.Size = info.Size
			layer++
		}
		out[len(hist)-1-i] = e
	}
	// Walk the parents: an image built here owns the last entry of its own
	// history, so image k of the chain names entry len(its history)-1.
	for cur := img; cur != nil; {
		if n := len(cur.Config.History); n > 0 && n <= len(hist) {
			e := &out[len(hist)-n]
			e.ID, e.Tags = cur.ID, cur.Names
		}
		if cur.Parent == "" {
			break
		}
		next, err := s.load(digest.Digest(cur.Parent), tags)
		if err != nil {
			break // the parent was removed: older steps show <missing>
		}
		cur = next
	}
	return out, nil
}
