package image

import (
	"fmt"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// ImageUsage is how much disk one image takes, `docker system df -v`'s
// columns: its layers add up to Size, of which SharedSize is in layers
// other images use too (stored once for all of them) and UniqueSize only
// its own.
type ImageUsage struct {
	ID         string
	Names      []string
	Size       int64
	SharedSize int64
	UniqueSize int64
}

// Usage is the disk usage of the whole store.
type Usage struct {
	Images []ImageUsage
	// LayersSize counts every stored layer once: what the layers really
	// take, less than the sum of the images' sizes when they share.
	LayersSize int64
}

// DiskUsage counts, for every image, the bytes of its layers and how many
// of them are shared. The counts come from the configs themselves (each
// config's rootfs.diff_ids): they are the store's reference counts.
func (s *Store) DiskUsage() (*Usage, error) {
	imgs, err := s.List()
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	refs := map[digest.Digest]int{} // layer → images listing it
	sizes := map[digest.Digest]int64{}
	for _, img := range imgs {
		seen := map[digest.Digest]bool{}
		for _, d := range img.Config.RootFS.DiffIDs {
			if seen[d] {
				continue
			}
			seen[d] = true
			refs[d]++
			if _, ok := sizes[d]; !ok {
				info, err := s.readLayerInfo(d)
				if err != nil {
					return nil, err
				}
				sizes[d] = info.Size
			}
		}
	}
	u := &Usage{}
	for _, sz := range sizes {
		u.LayersSize += sz
	}
	for _, img := range imgs {
		iu := ImageUsage{ID: img.ID, Names: img.Names}
		seen := map[digest.Digest]bool{}
		for _, d := range img.Config.RootFS.DiffIDs {
			if seen[d] {
				continue
			}
			seen[d] = true
			iu.Size += sizes[d]
			if refs[d] > 1 {
				iu.SharedSize += sizes[d]
			} else {
				iu.UniqueSize += sizes[d]
			}
		}
		u.Images = append(u.Images, iu)
	}
	return u, nil
}

// Dangling reports whether an image is what `docker images -f
// dangling=true` lists: no name, no digest reference, and no image built
// on it (an untagged intermediate step of a build is not dangling: it is
// part of a named image's chain).
func (s *Store) Dangling(img *Image) (bool, error) {
	if len(img.Names) > 0 || len(img.RepoDigests) > 0 {
		return false, nil
	}
	kids, err := s.Children(img.ID)
	if err != nil {
		return false, err
	}
	return len(kids) == 0, nil
}

// Intermediate reports whether an image is an unnamed step of a build
// that other images are built on: `docker images` hides those unless -a.
func (s *Store) Intermediate(img *Image) (bool, error) {
	if len(img.Names) > 0 || len(img.RepoDigests) > 0 {
		return false, nil
	}
	kids, err := s.Children(img.ID)
	if err != nil {
		return false, err
	}
	return len(kids) > 0, nil
}

// Prune removes dangling images, like `docker image prune`; with all, every
// image no container uses (`docker image prune -a`). inUse is asked as in
// Remove. It returns what was removed and the bytes of layers freed.
func (s *Store) Prune(all bool, inUse func(imageID string) bool) (*Removal, int64, error) {
	return s.PruneWith(PruneOptions{All: all, InUse: inUse})
}

// PruneOptions are `docker image prune`'s flag and filters.
type PruneOptions struct {
	// All is -a (the filter dangling=false): every image no container
	// uses, not only the dangling ones.
	All bool
	// Until, when set, keeps the images created at or after it (the
	// filter until=…).
	Until time.Time
	// Labels and NotLabels are the filters label=… and label!=…: "key" or
	// "key=value" that an image must have, or must not have, to go.
	Labels, NotLabels []string
	// InUse is asked as in Remove; nil means no container uses any image.
	InUse func(imageID string) bool
}

// Matches reports whether the filters of o (Until, Labels, NotLabels) let
// img be pruned; `docker images --filter label=…` asks the same question.
func (o PruneOptions) Matches(img *Image) bool {
	if !o.Until.IsZero() && !img.Created.Before(o.Until) {
		return false
	}
	labels := img.Config.Config.Labels
	has := func(f string) bool {
		k, v, withValue := strings.Cut(f, "=")
		got, ok := labels[k]
		return ok && (!withValue || got == v)
	}
	for _, f := range o.Labels {
		if !has(f) {
			return false
		}
	}
	for _, f := range o.NotLabels {
		if has(f) {
			return false
		}
	}
	return true
}

// PruneWith is Prune with the filters of o.
func (s *Store) PruneWith(o PruneOptions) (*Removal, int64, error) {
	all, inUse := o.All, o.InUse
	before, err := s.DiskUsage()
	if err != nil {
		return nil, 0, err
	}
	total := &Removal{}
	// Repeat: removing an image can leave its parent dangling.
	for changed := true; changed; {
		changed = false
		imgs, err := s.List()
		if err != nil {
			return total, 0, err
		}
		gone := map[string]bool{}
		for _, img := range imgs {
			// A removal walks down the build chain: images listed
			// before it may have gone with it.
			if gone[img.ID] || (inUse != nil && inUse(img.ID)) || !o.Matches(img) {
				continue
			}
			kids, err := s.Children(img.ID)
			if err != nil {
				return total, 0, err
			}
			if len(kids) > 0 {
				continue // goes with its children, by the chain walk
			}
			if !all && (len(img.Names) > 0 || len(img.RepoDigests) > 0) {
				continue
			}
			rm, err := s.removeAll(img.ID, inUse)
			if err != nil {
				return total, 0, fmt.Errorf("prune %s: %w", img.ID, err)
			}
			total.Untagged = append(total.Untagged, rm.Untagged...)
			total.Deleted = append(total.Deleted, rm.Deleted...)
			for _, id := range rm.Deleted {
				gone[id] = true
			}
			changed = true
		}
	}
	after, err := s.DiskUsage()
	if err != nil {
		return total, 0, err
	}
	return total, before.LayersSize - after.LayersSize, nil
}

// removeAll deletes an image whatever names it has (prune -a).
func (s *Store) removeAll(id string, inUse func(string) bool) (*Removal, error) {
	img, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	rm := &Removal{}
	// Untag all but the last name; the last removal deletes the image.
	for _, n := range img.Names {
		r, err := s.RemoveImage(n, inUse)
		if err != nil {
			return rm, err
		}
		rm.Untagged = append(rm.Untagged, r.Untagged...)
		rm.Deleted = append(rm.Deleted, r.Deleted...)
	}
	if len(rm.Deleted) > 0 {
		return rm, nil
	}
	r, err := s.RemoveImage(id, inUse)
	if err != nil {
		return rm, err
	}
	rm.Untagged = append(rm.Untagged, r.Untagged...)
	rm.Deleted = append(rm.Deleted, r.Deleted...)
	return rm, nil
}
