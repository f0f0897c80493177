package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/plugins"
	"github.com/minirun/minirun/volume"
	"github.com/moby/moby/api/types/common"
)

// The API versions served. The types come from github.com/moby/moby/api
// at the version below; MinAPIVersion is Debian 12's docker client
// (20.10, API 1.41), the oldest this daemon answers, as dockerd's
// --min-api-version would say.
const (
	APIVersion    = "1.57"
	MinAPIVersion = "1.41"
)

// maxBodyBytes bounds a JSON request body. A container's create request
// is a few KiB; dockerd reads bodies whole into memory, and a client that
// sends more than this is refused (413) before it is read.
const maxBodyBytes = 1 << 20

// Config is what the daemon serves from.
type Config struct {
	// Containers is the container store; its DataRoot and StateRoot are
	// the daemon's --data-root and --root.
	Containers *container.Manager
	// Version is minirun's release, reported by /version and /info.
	Version string
	// AuthZ are the authorization plugins (--authorization-plugin) every
	// request is checked with, in order (authz.go).
	AuthZ []*plugins.AuthZPlugin
	// Trace, when set, narrates every request the daemon serves, with the
	// steps it takes for each beneath it (trace.go): `minirun explain
	// api`. Nil serves silently, as `minirun daemon` does.
	Trace *explain.Tracer
	// Cluster, when set, is the cluster store of overlay networks
	// (--cluster-store, --cluster-advertise): Serve keeps the host in
	// step with it while it serves (cluster.go).
	Cluster *Cluster
	// TraceLock, when set, is held while a request is narrated, from its
	// arrival to its status: whoever else narrates to the same tracer (the
	// chapter, between two docker commands) takes it too, so no step of
	// its own lands inside a request's.
	TraceLock sync.Locker
}

// Daemon answers the Engine API for one data root.
type Daemon struct {
	cfg Config
	m   *container.Manager
	mux *http.ServeMux

	// pending are the attaches that arrived before their container
	// started (docker run: attach, then start), by container id.
	mu      sync.Mutex
	pending map[string][]*pendingAttach
	// watching are the containers a watcher listens to (see watch).
	watching map[string]bool
	// exits are the exit codes the daemon has seen from the shims
	// (attach streams, watchers): a --rm container's record is gone by
	// the time its waiter asks.
	exits exitBook
	// execs are the exec instances (exec.go).
	execs execs
	// streamed are the route patterns whose request body is a stream
	// (a tar), read as it comes and not bounded by maxBodyBytes.
	streamed map[string]bool
	// bus carries GET /events (events.go).
	bus eventBus
}

// New returns a daemon for cfg.
func New(cfg Config) *Daemon {
	d := &Daemon{cfg: cfg, m: cfg.Containers, mux: http.NewServeMux(), pending: map[string][]*pendingAttach{}, streamed: map[string]bool{}}
	d.exits.codes = map[string]exitRecord{}
	d.exits.changed = make(chan struct{})
	d.routes()
	return d
}

// routes maps Docker's paths (api/server/router/*/…_routes.go in moby)
// to handlers. Paths are matched after the /vX.Y prefix is taken off.
func (d *Daemon) routes() {
	h := d.mux.HandleFunc
	h("GET /_ping", d.ping)
	h("HEAD /_ping", d.ping)
	h("GET /version", d.version)
	h("GET /info", d.info)

	h("POST /containers/create", d.containerCreate)
	h("GET /containers/json", d.containerList)
	h("GET /containers/{name}/json", d.containerInspect)
	h("POST /containers/{name}/start", d.containerStart)
	h("POST /containers/{name}/stop", d.containerStop)
	h("POST /containers/{name}/kill", d.containerKill)
	h("POST /containers/{name}/wait", d.containerWait)
	h("GET /containers/{name}/logs", d.containerLogs)
	h("POST /containers/{name}/attach", d.containerAttach)
	h("POST /containers/{name}/update", d.containerUpdate) // update.go
	h("DELETE /containers/{name}", d.containerDelete)

	d.imageRoutes(h) // images.go

	h("GET /networks", d.networkList)
	h("GET /networks/{id}", d.networkInspect)
	h("POST /networks/create", d.networkCreate)
	h("DELETE /networks/{id}", d.networkDelete)

	h("GET /volumes", d.volumeList)
	h("GET /volumes/{name}", d.volumeInspect)
	h("POST /volumes/create", d.volumeCreate)
	h("DELETE /volumes/{name}", d.volumeDelete)

	d.moreRoutes(h) // more.go

	d.archiveRoutes(h) // archive.go: docker cp, export, prune, resize
	d.pluginRoutes(h)  // plugins.go: docker plugin
	d.eventRoutes(h)
}

// versionPrefix is the /v1.41 a client puts before every path.
var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// ServeHTTP strips the version prefix, refuses versions outside
// [MinAPIVersion, APIVersion] as dockerd does (api/server/middleware
// version.go), and answers paths no route knows with Docker's error shape.
func (d *Daemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "minirun/"+d.cfg.Version)
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Ostype", "linux")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1]
		if versionLess(v, MinAPIVersion) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion))
			return
		}
		if versionLess(APIVersion, v) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("client version %s is too new. Maximum supported API version is %s", v, APIVersion))
			return
		}
		r.URL.Path = m[2]
		r.URL.RawPath = ""
		r = r.WithContext(context.WithValue(r.Context(), versionKey{}, v))
	}
	_, pattern := d.mux.Handler(r)
	if pattern == "" {
		// Go's mux would answer in plain text (404, or 405 for a known
		// path with another method); Docker's clients read JSON.
		writeError(w, http.StatusNotFound, errors.New("page not found"))
		return
	}
	// A body is bounded unless its route streams it (a tar for docker
	// cp, load, import or build): those read it as they go, never whole
	// into memory.
	if r.Body != nil && !d.streamed[pattern] && !streamsBody(r) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	d.mux.ServeHTTP(w, r)
}

type versionKey struct{}

// requestVersion is the API version the request's path named; a path
// without one is served as the newest, as dockerd does.
func requestVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return APIVersion
}

// versionLess compares two "major.minor" API versions.
func versionLess(a, b string) bool {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	return am < bm || (am == bm && an < bn)
}

func splitVersion(v string) (int, int) {
	maj, min, _ := strings.Cut(v, ".")
	x, _ := strconv.Atoi(maj)
	y, _ := strconv.Atoi(min)
	return x, y
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with Docker's error shape, {"message": "…"}
// (common.ErrorResponse), the one every Docker client prints.
func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, common.ErrorResponse{Message: oneLine(err.Error())})
}

// fail answers err with the status dockerd gives the same condition
// (errdefs' classes: not found 404, conflict 409, bad parameter 400).
func fail(w http.ResponseWriter, err error) {
	writeError(w, statusOf(err), err)
}

// namedContainer finds the container the request's {name} names: a full
// ID, a name or a unique ID prefix (Manager.Get). When the lookup fails it
// has already answered with fail (404 "no such container: NAME" when there
// is none) and reports false: the handler only returns.
func (d *Daemon) namedContainer(w http.ResponseWriter, r *http.Request) (*container.Meta, bool) {
	meta, err := d.m.Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return nil, false
	}
	return meta, true
}

// badRequest marks an error as the client's (400).
type badRequest struct{ error }

func (e badRequest) Unwrap() error { return e.error }

// statusOf classifies an error of minirun's packages into an HTTP status.
func statusOf(err error) int {
	var br badRequest
	var cf conflict
	var fb forbidden
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &fb):
		return http.StatusForbidden
	case errors.As(err, &cf):
		return http.StatusConflict
	case errors.As(err, &br):
		return http.StatusBadRequest
	case errors.Is(err, container.ErrNotFound), errors.Is(err, image.ErrNotFound),
		errors.Is(err, network.ErrNotFound), errors.Is(err, volume.ErrNotFound), errors.Is(err, plugins.ErrPluginNotFound):
		return http.StatusNotFound
	case errors.Is(err, network.ErrInUse), errors.Is(err, image.ErrInUse), errors.Is(err, network.ErrPortInUse),
		strings.Contains(err.Error(), "already in use"), strings.Contains(err.Error(), "is in use"),
		strings.Contains(err.Error(), "it is running"), strings.Contains(err.Error(), "already exists"):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// decode reads a JSON body into v. A body that is not JSON, or has more
// than one value, is the client's error (400), as in dockerd's
// httputils.ReadJSON; one over maxBodyBytes is 413.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("request body is larger than %d bytes: %w", maxBodyBytes, err)
		}
		if errors.Is(err, io.EOF) {
			return badRequest{errors.New("invalid JSON: the request body is empty")}
		}
		return badRequest{fmt.Errorf("invalid JSON: %w", err)}
	}
	if dec.More() {
		return badRequest{errors.New("invalid JSON: more than one value in the request body")}
	}
	return nil
}

// boolParam reads a query flag the way dockerd does (httputils.BoolValue):
// absent, "", "0", "no", "false" and "none" are false.
func boolParam(r *http.Request, name string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// Serve answers the API on l until l is closed; a request in flight is
// not waited for (a hijacked attach can last as long as its container).
func (d *Daemon) Serve(l net.Listener) error {
	var h http.Handler = d
	if len(d.cfg.AuthZ) > 0 {
		h = authzHandler(d.cfg.AuthZ, d)
	}
	if d.cfg.Trace != nil { // outermost: a refusal by a plugin is narrated too
		h = traceRequests(d.cfg.Trace, d.cfg.TraceLock, l.Addr().String(), h)
	}
	srv := &http.Server{
		Handler: h,
		// A client that never finishes its headers must not hold a
		// connection (and a goroutine) for ever; a huge header is cut at
		// 1 MiB (net/http answers 431).
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		// An idle keep-alive connection is closed after a while; a
		// hijacked one (attach) is no longer the server's to close.
		IdleTimeout: 2 * time.Minute,
	}
	if d.cfg.Cluster != nil {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		go d.runCluster(ctx)
	}
	err := srv.Serve(l)
	if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
