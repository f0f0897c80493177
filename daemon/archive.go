package daemon

// docker cp (HEAD, GET and PUT /containers/{name}/archive), docker export,
// the three prunes and the container's terminal resize. Each handler is a
// thin adapter over the use case the CLI runs: container.OpenFS and its
// Stat/WriteTar/Extract (`minirun cp`), Manager.Export (`minirun
// export`), the Prune of containers, networks and volumes (`minirun
// container|network|volume prune`), and the shim's resize request.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/internal/prunefilter"
	"github.com/minirun/minirun/shim"
	ctypes "github.com/moby/moby/api/types/container"
	ntypes "github.com/moby/moby/api/types/network"
	vtypes "github.com/moby/moby/api/types/volume"
)

// archiveRoutes adds this file's routes to the mux (called by routes).
func (d *Daemon) archiveRoutes(h func(string, func(http.ResponseWriter, *http.Request))) {
	h("HEAD /containers/{name}/archive", d.archiveStat)
	h("GET /containers/{name}/archive", d.archiveGet)
	h("PUT /containers/{name}/archive", d.archivePut)
	d.streamed["PUT /containers/{name}/archive"] = true // a tar of any size
	h("GET /containers/{name}/export", d.containerExport)

	h("POST /containers/prune", d.containerPrune)
	h("POST /networks/prune", d.networkPrune)
	h("POST /volumes/prune", d.volumePrune)

	h("POST /containers/{name}/resize", d.containerResize)
}

// pathStatHeader is the header dockerd answers archive requests with: the
// entry's container.PathStat, as JSON in base64 (api/server/router/
// container/copy.go setContainerPathStatHeader).
const pathStatHeader = "X-Docker-Container-Path-Stat"

// openArchive opens the container's filesystem for an archive request and
// reads the path parameter; on error it has answered.
func (d *Daemon) openArchive(w http.ResponseWriter, r *http.Request) (*container.ContainerFS, string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		fail(w, badRequest{errors.New("path: empty value for required parameter")})
		return nil, "", false
	}
	cfs, err := d.m.OpenFS(r.PathValue("name"), nil)
	if err != nil {
		failArchive(w, err)
		return nil, "", false
	}
	return cfs, p, true
}

// failArchive answers an archive error with dockerd's statuses: a path the
// container lacks is 404, a destination that is no directory, an entry
// that climbs out of it, or a read-only volume or rootfs is 400.
func failArchive(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, container.ErrPathNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, container.ErrNotDir), errors.Is(err, container.ErrBreakout),
		errors.Is(err, container.ErrVolumeReadonly), errors.Is(err, container.ErrRootFSReadOnly):
		writeError(w, http.StatusBadRequest, err)
	default:
		fail(w, err)
	}
}

// statPath stats p in the container and sets the header from it: all
// archiveStat answers, and what archiveGet sends before its tar. On error
// it has answered.
func statPath(w http.ResponseWriter, cfs *container.ContainerFS, p string) bool {
	st, err := cfs.Stat(p)
	if err != nil {
		failArchive(w, err)
		return false
	}
	b, err := json.Marshal(st)
	if err != nil {
		fail(w, err)
		return false
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return true
}

// archiveStat is HEAD /containers/{name}/archive?path=P: what is at P
// (docker cp asks before it copies, to know a file from a directory and
// to follow a symlink destination).
func (d *Daemon) archiveStat(w http.ResponseWriter, r *http.Request) {
	cfs, p, ok := d.openArchive(w, r)
	if !ok {
		return
	}
	defer cfs.Close()
	if !statPath(w, cfs, p) {
		return
	}
	w.WriteHeader(http.StatusOK)
}

// archiveGet is GET /containers/{name}/archive?path=P: P as a tar, with
// its PathStat in the header (docker cp CONTAINER:P …).
func (d *Daemon) archiveGet(w http.ResponseWriter, r *http.Request) {
	cfs, p, ok := d.openArchive(w, r)
	if !ok {
		return
	}
	defer cfs.Close()
	if !statPath(w, cfs, p) {
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	// The status line is sent: an error now can only cut the stream,
	// which the client sees as a truncated tar.
	cfs.WriteTar(w, p)
}

// archivePut is PUT /containers/{name}/archive?path=DIR: the tar in the
// body extracted into DIR (docker cp … CONTAINER:DIR), with
// noOverwriteDirNonDir and copyUIDGID as the client asks.
func (d *Daemon) archivePut(w http.ResponseWriter, r *http.Request) {
	cfs, p, ok := d.openArchive(w, r)
	if !ok {
		return
	}
	defer cfs.Close()
	o := container.ExtractOpts{
		NoOverwriteDirNonDir: boolParam(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           boolParam(r, "copyUIDGID"),
	}
	if err := cfs.Extract(r.Body, p, o, nil); err != nil {
		failArchive(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// containerExport is GET /containers/{name}/export: the container's
// filesystem as a tar (docker export), Manager.Export as `minirun
// export`.
func (d *Daemon) containerExport(w http.ResponseWriter, r *http.Request) {
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	// The status goes with the first byte of the tar: an error before it
	// (mounting a stopped container's rootfs) is still answered as one;
	// after it, it can only cut the stream.
	lw := &lazyTar{w: w}
	if err := d.m.Export(meta.ID, lw); err != nil && !lw.started {
		fail(w, err)
	}
}

// lazyTar sends the 200 and the tar's Content-Type on the first write.
type lazyTar struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyTar) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// pruneFilters reads a prune request's filters (until, label, label!,
// and all where allowAll: volumes only, as dockerd; elsewhere it is the
// client's error).
func pruneFilters(r *http.Request, allowAll bool) (prunefilter.Filter, error) {
	args, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return prunefilter.Filter{}, err
	}
	f, err := prunefilter.Parse(args, time.Now())
	if err != nil {
		return f, badRequest{err}
	}
	if f.All && !allowAll {
		return f, badRequest{errors.New("invalid filter 'all'")}
	}
	return f, nil
}

// containerPrune is POST /containers/prune: `docker container prune`,
// Manager.Prune.
func (d *Daemon) containerPrune(w http.ResponseWriter, r *http.Request) {
	f, err := pruneFilters(r, false)
	if err != nil {
		fail(w, err)
		return
	}
	gone, freed, err := d.m.Prune(f)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ctypes.PruneReport{ContainersDeleted: gone, SpaceReclaimed: freed})
}

// networkPrune is POST /networks/prune: `docker network prune`,
// network.Manager.Prune.
func (d *Daemon) networkPrune(w http.ResponseWriter, r *http.Request) {
	f, err := pruneFilters(r, false)
	if err != nil {
		fail(w, err)
		return
	}
	nm, err := d.networks()
	if err != nil {
		fail(w, err)
		return
	}
	gone, err := nm.Prune(f)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ntypes.PruneReport{NetworksDeleted: gone})
}

// volumePrune is POST /volumes/prune: `docker volume prune`,
// volume.Store.Prune. From API 1.42 only anonymous volumes go unless the
// filter says all=true; before, every unused volume went (dockerd's
// router/volume postVolumesPrune).
func (d *Daemon) volumePrune(w http.ResponseWriter, r *http.Request) {
	f, err := pruneFilters(r, true)
	if err != nil {
		fail(w, err)
		return
	}
	all := f.All || versionLess(requestVersion(r), "1.42")
	vs, err := d.volumes()
	if err != nil {
		fail(w, err)
		return
	}
	gone, freed, err := vs.Prune(all, d.m.VolumeUsers, f)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, vtypes.PruneReport{VolumesDeleted: gone, SpaceReclaimed: freed})
}

// containerResize is POST /containers/{name}/resize?h=ROWS&w=COLS: the
// size of a -t container's terminal, set by its shim (TIOCSWINSZ on the
// master it holds; the kernel sends SIGWINCH to the foreground process).
// docker run -it and attach send it at start and on every SIGWINCH.
func (d *Daemon) containerResize(w http.ResponseWriter, r *http.Request) {
	h, herr := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, werr := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if herr != nil || werr != nil {
		fail(w, badRequest{errors.New("resize: h and w must be numbers of rows and columns")})
		return
	}
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if !running(meta) {
		fail(w, conflict{fmt.Errorf("Container %s is not running", meta.ID)}) //nolint:staticcheck // Docker's words
		return
	}
	if err := shim.Resize(d.m.Socket(meta.ID), uint16(h), uint16(wd)); err != nil {
		if errors.Is(err, shim.ErrNoTerminal) || errors.Is(err, shim.ErrNotRunning) {
			err = conflict{fmt.Errorf("container %s: %w", meta.Name, err)}
		}
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
