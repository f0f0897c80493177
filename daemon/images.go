package daemon

// The image endpoints (moby's api/server/router/image and .../build):
// list, inspect, history, pull and import (POST /images/create), load,
// save, tag, delete, prune and build. Each is a thin adapter over the
// image store's use case that the CLI's command calls too (image.Store's
// Pull, Import, Load, Save, Tag, Delete, PruneWith, History;
// build.Build); what the daemon adds is Docker's wire format: the JSON
// progress stream (jsonstream.Message, one object per line) that pull,
// load, import and build answer with.
//
// Routing. An image name may hold slashes, a registry port and a tag
// (localhost:5000/team/app:1), so /images/{name}/json cannot be a
// ServeMux pattern with one {name} segment. The fixed paths (/images/json,
// /images/get, /images/create, /images/load, /images/prune) are patterns
// of their own, which Go's ServeMux prefers as more specific; every other
// /images/… path goes, per method, to one handler that splits the last
// segment off as the operation: GET …/json, …/history, …/get; POST …/tag;
// DELETE /images/{name} takes the whole rest as the name.

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/image/build"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	btypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/events"
	itypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/storage"
)

// imageRoutes adds the image and build routes to the mux (called by
// routes).
func (d *Daemon) imageRoutes(h func(string, func(http.ResponseWriter, *http.Request))) {
	h("GET /images/json", d.imageList)
	h("GET /images/get", d.imageSaveMany)
	h("POST /images/create", d.imageCreate)
	h("POST /images/load", d.imageLoad)
	h("POST /images/prune", d.imagePrune)
	h("POST /build", d.imageBuild)
	h("GET /images/{rest...}", d.imageGet)
	h("POST /images/{rest...}", d.imagePost)
	h("DELETE /images/{rest...}", d.imageDelete)
}

// streamsBody reports whether r's body is a stream of any size that its
// handler reads as it goes (a build context, an image archive, a rootfs
// to import): ServeHTTP does not bound those by maxBodyBytes, which is
// for JSON requests.
func streamsBody(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	switch r.URL.Path {
	case "/build", "/images/load":
		return true
	case "/images/create":
		return r.URL.Query().Get("fromSrc") != ""
	}
	return false
}

// splitOp cuts "NAME/OP" at its last slash: the image name (which may
// hold slashes itself) and the operation.
func splitOp(rest string) (name, op string) {
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", rest
	}
	return rest[:i], rest[i+1:]
}

// imageGet is GET /images/{name}/json, /history and /get.
func (d *Daemon) imageGet(w http.ResponseWriter, r *http.Request) {
	name, op := splitOp(r.PathValue("rest"))
	if name == "" {
		writeError(w, http.StatusNotFound, errors.New("page not found"))
		return
	}
	switch op {
	case "json":
		d.imageInspect(w, r, name)
	case "history":
		d.imageHistory(w, name)
	case "get":
		d.imageSave(w, []string{name})
	default:
		writeError(w, http.StatusNotFound, errors.New("page not found"))
	}
}

// imagePost is POST /images/{name}/tag.
func (d *Daemon) imagePost(w http.ResponseWriter, r *http.Request) {
	name, op := splitOp(r.PathValue("rest"))
	if name == "" || op != "tag" {
		writeError(w, http.StatusNotFound, errors.New("page not found"))
		return
	}
	d.imageTag(w, r, name)
}

// noSuchImage answers a missing image in dockerd's words.
func noSuchImage(w http.ResponseWriter, name string, err error) {
	if errors.Is(err, image.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("No such image: %s", name)) //nolint:staticcheck // Docker's words
		return
	}
	fail(w, err)
}

// imageList is GET /images/json?all=&filters=: `docker images`. Without
// all, the unnamed steps of a build that other images are built on are
// hidden, as dockerd hides them; the filters are dangling, label,
// reference (a glob on the name), before and since (an image).
func (d *Daemon) imageList(w http.ResponseWriter, r *http.Request) {
	args, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		fail(w, err)
		return
	}
	keep, err := d.imageFilter(args)
	if err != nil {
		fail(w, err)
		return
	}
	all := boolParam(r, "all")
	imgs, err := d.m.Images.List()
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]itypes.Summary, 0, len(imgs))
	for _, img := range imgs {
		if !all {
			if mid, err := d.m.Images.Intermediate(img); err == nil && mid {
				continue
			}
		}
		if ok, err := keep(img); err != nil {
			fail(w, err)
			return
		} else if !ok {
			continue
		}
		out = append(out, itypes.Summary{
			ID: img.ID, RepoTags: nonNil(img.Names), RepoDigests: nonNil(img.RepoDigests),
			Created: img.Created.Unix(), Size: img.Size, Labels: img.Config.Config.Labels,
			Containers: -1, SharedSize: -1, // not counted, as dockerd without ?shared-size
		})
	}
	if versionLess(requestVersion(r), "1.44") {
		old := make([]imageSummaryBefore144, len(out))
		for i, s := range out {
			old[i] = imageSummaryBefore144{Summary: s, VirtualSize: s.Size}
		}
		writeJSON(w, http.StatusOK, old)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// imageFilter turns the filters of `docker images` into a predicate.
func (d *Daemon) imageFilter(args map[string][]string) (func(*image.Image) (bool, error), error) {
	var tests []func(*image.Image) (bool, error)
	for k, vs := range args {
		switch k {
		case "dangling":
			want := false
			for _, v := range vs {
				switch strings.ToLower(v) {
				case "true", "1":
					want = true
				case "false", "0":
				default:
					return nil, badRequest{fmt.Errorf("invalid filter 'dangling=%s'", v)}
				}
			}
			tests = append(tests, func(img *image.Image) (bool, error) {
				dangling, err := d.m.Images.Dangling(img)
				return dangling == want, err
			})
		case "label":
			po := image.PruneOptions{Labels: vs}
			tests = append(tests, func(img *image.Image) (bool, error) { return po.Matches(img), nil })
		case "reference":
			for _, v := range vs {
				if _, err := path.Match(v, ""); err != nil {
					return nil, badRequest{fmt.Errorf("invalid filter 'reference=%s': %w", v, err)}
				}
			}
			tests = append(tests, func(img *image.Image) (bool, error) {
				for _, n := range img.Names {
					repo := n
					if i := strings.LastIndexByte(n, ':'); i > strings.LastIndexByte(n, '/') {
						repo = n[:i]
					}
					for _, v := range vs {
						if m, _ := path.Match(v, n); m {
							return true, nil
						}
						if m, _ := path.Match(v, repo); m {
							return true, nil
						}
					}
				}
				return false, nil
			})
		case "before", "since":
			var refs []*image.Image
			for _, v := range vs {
				ref, err := d.m.Images.Get(v)
				if err != nil {
					return nil, badRequest{fmt.Errorf("invalid filter '%s=%s': %w", k, v, err)}
				}
				refs = append(refs, ref)
			}
			before := k == "before"
			tests = append(tests, func(img *image.Image) (bool, error) {
				for _, ref := range refs {
					if before && !img.Created.Before(ref.Created) || !before && !img.Created.After(ref.Created) {
						return false, nil
					}
				}
				return true, nil
			})
		default:
			return nil, badRequest{fmt.Errorf("invalid filter '%s'", k)}
		}
	}
	return func(img *image.Image) (bool, error) {
		for _, t := range tests {
			if ok, err := t(img); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}, nil
}

// imageSummaryBefore144 and imageInspectBefore144 are an image as API
// versions before 1.44 showed it, with VirtualSize (the same number as
// Size; the api module's docs/CHANGELOG.md, v1.44, dropped it): Debian
// 12's docker 20.10 (API 1.41) prints it in `docker images`' SIZE column.
// The types are Docker's; only the field they no longer carry is added.
type imageSummaryBefore144 struct {
	itypes.Summary
	VirtualSize int64
}

type imageInspectBefore144 struct {
	itypes.InspectResponse
	VirtualSize int64
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// imageInspect is GET /images/{name}/json: `docker image inspect`.
func (d *Daemon) imageInspect(w http.ResponseWriter, r *http.Request, name string) {
	img, err := d.m.Images.Get(name)
	if err != nil {
		noSuchImage(w, name, err)
		return
	}
	resp := itypes.InspectResponse{
		ID: img.ID, RepoTags: nonNil(img.Names), RepoDigests: nonNil(img.RepoDigests),
		Created:      img.Created.Format(time.RFC3339Nano),
		Config:       &dockerspec.DockerOCIImageConfig{ImageConfig: img.Config.Config},
		Architecture: img.Config.Architecture, Variant: img.Config.Variant, Os: img.Config.OS,
		Size: img.Size, RootFS: itypes.RootFS{Type: img.Config.RootFS.Type},
	}
	for _, l := range img.Config.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, l.String())
	}
	if layers, err := d.m.Images.LayerDirs(img); err == nil {
		resp.GraphDriver = &storage.DriverData{Name: "overlay2", Data: map[string]string{"LowerDir": strings.Join(layers, ":")}}
	}
	if versionLess(requestVersion(r), "1.44") {
		writeJSON(w, http.StatusOK, imageInspectBefore144{InspectResponse: resp, VirtualSize: resp.Size})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// imageHistory is GET /images/{name}/history: `docker history`, newest
// step first; a step whose image is not on this machine (a pulled
// image's) has the ID "<missing>", as dockerd answers.
func (d *Daemon) imageHistory(w http.ResponseWriter, name string) {
	hist, err := d.m.Images.History(name)
	if err != nil {
		noSuchImage(w, name, err)
		return
	}
	out := make([]itypes.HistoryResponseItem, 0, len(hist))
	for _, h := range hist {
		it := itypes.HistoryResponseItem{ID: h.ID, CreatedBy: h.CreatedBy, Size: h.Size,
			Comment: h.Comment, Tags: nonNil(h.Tags)}
		if it.ID == "" {
			it.ID = "<missing>"
		}
		if !h.Created.IsZero() {
			it.Created = h.Created.Unix()
		}
		out = append(out, it)
	}
	writeJSON(w, http.StatusOK, out)
}

// imageTag is POST /images/{name}/tag?repo=R&tag=T: `docker tag`, 201.
func (d *Daemon) imageTag(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	repo, tag := q.Get("repo"), q.Get("tag")
	if repo == "" {
		fail(w, badRequest{errors.New("repository name must have at least one component")})
		return
	}
	ref := repo
	if tag != "" {
		ref += ":" + tag
	}
	if _, err := image.ParseRef(ref); err != nil {
		fail(w, badRequest{err})
		return
	}
	if err := d.m.Images.Tag(name, ref); err != nil {
		noSuchImage(w, name, err)
		return
	}
	d.emitImage(ref, events.ActionTag)
	w.WriteHeader(http.StatusCreated)
}

// imageDelete is DELETE /images/{name}?force=&noprune=: `docker rmi`,
// answered with what was untagged and deleted. The rules, and the 409s,
// are image.Store.Delete's.
func (d *Daemon) imageDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("rest")
	id := ""
	if img, err := d.m.Images.Get(name); err == nil {
		id = img.ID
	}
	rm, err := d.m.Images.Delete(name, image.DeleteOptions{
		Force: boolParam(r, "force"), NoPrune: boolParam(r, "noprune"), User: d.m.ImageUser,
	})
	if err != nil {
		var ce *image.ConflictError
		if errors.As(err, &ce) {
			err = conflict{err}
		}
		noSuchImage(w, name, err)
		return
	}
	d.emitRemoval(id, rm)
	writeJSON(w, http.StatusOK, deleteResponses(rm))
}

// emitImage emits an image event for ref as dockerd's LogImageEvent
// does: the actor is the image's ID, its name an attribute.
func (d *Daemon) emitImage(ref string, action events.Action) {
	id := ref
	if img, err := d.m.Images.Get(ref); err == nil {
		id = img.ID
	}
	d.emit(events.ImageEventType, action, id, map[string]string{"name": ref})
}

// emitRemoval emits an untag per name and a delete per image a removal
// took (id: the image a name pointed at, when known).
func (d *Daemon) emitRemoval(id string, rm *image.Removal) {
	if rm == nil {
		return
	}
	for _, u := range rm.Untagged {
		d.emit(events.ImageEventType, events.ActionUnTag, cmp.Or(id, u), map[string]string{"name": u})
	}
	for _, del := range rm.Deleted {
		d.emit(events.ImageEventType, events.ActionDelete, del, map[string]string{"name": del})
	}
}

// deleteResponses is a removal in Docker's shape: the untagged names,
// then the deleted images.
func deleteResponses(rm *image.Removal) []itypes.DeleteResponse {
	out := []itypes.DeleteResponse{}
	if rm == nil {
		return out
	}
	for _, u := range rm.Untagged {
		out = append(out, itypes.DeleteResponse{Untagged: u})
	}
	for _, id := range rm.Deleted {
		out = append(out, itypes.DeleteResponse{Deleted: id})
	}
	return out
}

// imagePrune is POST /images/prune?filters=…: `docker image prune`, with
// the filters dangling (false is -a), until and label / label!.
func (d *Daemon) imagePrune(w http.ResponseWriter, r *http.Request) {
	args, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		fail(w, err)
		return
	}
	o := image.PruneOptions{InUse: d.m.InUse}
	for k, vs := range args {
		switch k {
		case "dangling":
			for _, v := range vs {
				switch strings.ToLower(v) {
				case "true", "1":
				case "false", "0":
					o.All = true
				default:
					fail(w, badRequest{fmt.Errorf("invalid filter 'dangling=%s'", v)})
					return
				}
			}
		case "until":
			for _, v := range vs {
				t, err := parseUntil(v, time.Now())
				if err != nil {
					fail(w, badRequest{err})
					return
				}
				o.Until = t
			}
		case "label":
			o.Labels = vs
		case "label!":
			o.NotLabels = vs
		default:
			fail(w, badRequest{fmt.Errorf("invalid filter '%s'", k)})
			return
		}
	}
	rm, freed, err := d.m.Images.PruneWith(o)
	if err != nil && !errors.Is(err, image.ErrInUse) {
		fail(w, err)
		return
	}
	d.emitRemoval("", rm)
	writeJSON(w, http.StatusOK, itypes.PruneReport{ImagesDeleted: deleteResponses(rm), SpaceReclaimed: uint64(max(freed, 0))})
}

// parseUntil reads the until filter as dockerd does (timetypes
// GetTimestamp): a Go duration back from now ("24h", "10m"), Unix
// seconds ("1700000000", "1700000000.5"), or an RFC 3339 date or time.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if dur, err := time.ParseDuration(v); err == nil {
		return now.Add(-dur), nil
	}
	if sec, frac, _ := strings.Cut(v, "."); sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			ns := int64(0)
			if frac != "" {
				f, err := strconv.ParseFloat("0."+frac, 64)
				if err != nil {
					return time.Time{}, fmt.Errorf("invalid filter 'until=%s'", v)
				}
				ns = int64(f * 1e9)
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid filter 'until=%s': a duration (24h), Unix seconds or an RFC 3339 time", v)
}

// imageSaveMany is GET /images/get?names=A&names=B: `docker save A B`.
func (d *Daemon) imageSaveMany(w http.ResponseWriter, r *http.Request) {
	d.imageSave(w, r.URL.Query()["names"])
}

// imageSave writes the images as `docker save`'s tar (image.Store.Save,
// as `minirun save`). Every name is looked up first, so an unknown one is
// a 404 and not a tar cut short.
func (d *Daemon) imageSave(w http.ResponseWriter, names []string) {
	if len(names) == 0 {
		fail(w, badRequest{errors.New("no image names given to save")})
		return
	}
	for _, n := range names {
		if _, err := d.m.Images.Get(n); err != nil {
			noSuchImage(w, n, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	// Flushed at once, the answer is a stream from here on: an AuthZ
	// middleware lets it through instead of holding the whole tar in
	// memory for its plugins (authzres.go), as dockerd's WriteFlusher.
	http.NewResponseController(w).Flush()
	bw := bufio.NewWriterSize(w, 1<<20)
	err := d.m.Images.Save(bw, names)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The status is sent: the one way left to say the tar is not
		// whole is to cut the connection, as dockerd's does.
		log.Printf("save %s: %v", strings.Join(names, " "), err)
		panic(http.ErrAbortHandler)
	}
}

// streamMessage is one line of Docker's JSON progress stream. The type is
// the api module's; only "error", the plain-text twin of errorDetail that
// the module no longer carries but dockerd still sends and docker-py
// (docker-compose 1.29) reads, is added.
type streamMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// jsonStream answers a request with Docker's JSON progress stream:
// 200 and Content-Type application/json on the first message, then one
// JSON object per message, each flushed at once so the client shows it
// as it happens. Until the first message, an error is still a plain HTTP
// error with its status (dockerd's "if !output.Flushed() { return err }").
type jsonStream struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	started bool
}

func newJSONStream(w http.ResponseWriter) *jsonStream { return &jsonStream{w: w} }

func (s *jsonStream) send(m streamMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(append(b, '\r', '\n')); err != nil {
		return err
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// Write sends p as one {"stream": …} message: the classic builder's
// output and `docker load`'s lines (dockerd's StdoutFormatter).
func (s *jsonStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.send(streamMessage{Message: jsonstream.Message{Stream: string(p)}}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// status sends a {"status": …} line.
func (s *jsonStream) status(text string) error {
	return s.send(streamMessage{Message: jsonstream.Message{Status: text}})
}

// progress sends one line of a pull's report.
func (s *jsonStream) progress(e image.ProgressEvent) {
	m := streamMessage{Message: jsonstream.Message{ID: e.ID, Status: e.Status}}
	if e.Total > 0 || e.Current > 0 {
		m.Progress = &jsonstream.Progress{Current: e.Current, Total: e.Total}
	}
	s.send(m) // a client gone: the pull goes on, and its context ends it
}

// aux sends out-of-band data: the built image's ID.
func (s *jsonStream) aux(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	raw := json.RawMessage(b)
	return s.send(streamMessage{Message: jsonstream.Message{ID: "moby.image.id", Aux: &raw}})
}

// fail reports err: as an HTTP error with its status when nothing was
// sent yet, else as the stream's last message, {"errorDetail":
// {"message": …}, "error": …}, which the client prints and exits 1 on.
func (s *jsonStream) fail(err error) {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		fail(s.w, err)
		return
	}
	msg := oneLine(err.Error())
	s.send(streamMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: msg}}, ErrorMessage: msg})
}

// imageCreate is POST /images/create: `docker pull` (fromImage, tag) or
// `docker import` (fromSrc).
func (d *Daemon) imageCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if src := q.Get("fromSrc"); src != "" {
		d.imageImport(w, r, src)
		return
	}
	from := q.Get("fromImage")
	if from == "" {
		fail(w, badRequest{errors.New("fromImage or fromSrc is required")})
		return
	}
	ref := pullRef(from, q.Get("tag"))
	s := newJSONStream(w)
	_, err := d.m.Images.Pull(ref, image.PullOptions{
		Platform: q.Get("platform"), Events: s.progress, Context: r.Context(),
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), "invalid reference") {
			err = badRequest{err}
		}
		s.fail(err)
		return
	}
	d.emitImage(ref, events.ActionPull)
}

// pullRef joins fromImage and tag as dockerd does: the tag, when given,
// replaces one in fromImage; a tag that is a digest ("sha256:…") pins it
// ("name@sha256:…").
func pullRef(from, tag string) string {
	if tag == "" {
		return from
	}
	if strings.Contains(from, "@") {
		return from
	}
	if i := strings.LastIndexByte(from, ':'); i > strings.LastIndexByte(from, '/') {
		from = from[:i]
	}
	if strings.HasPrefix(tag, "sha256:") {
		return from + "@" + tag
	}
	return from + ":" + tag
}

// imageImport is POST /images/create?fromSrc=-|URL&repo=&tag=&changes=:
// `docker import`, the rootfs tar read from the body (or downloaded from
// the URL), made an image by image.Store.Import, as `minirun image
// import`; the answer is the new image's ID as a status line.
func (d *Daemon) imageImport(w http.ResponseWriter, r *http.Request, src string) {
	q := r.URL.Query()
	ref := q.Get("repo")
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	if ref != "" {
		if _, err := image.ParseRef(ref); err != nil {
			fail(w, badRequest{err})
			return
		}
	}
	cfg, err := image.ParseChanges(q["changes"])
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	body := io.Reader(r.Body)
	s := newJSONStream(w)
	if src != "-" {
		u, err := url.Parse(src)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			fail(w, badRequest{fmt.Errorf("fromSrc %q: give - (the request body) or an http(s) URL", src)})
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			fail(w, badRequest{err})
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fail(w, fmt.Errorf("download %s: %w", src, err))
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fail(w, fmt.Errorf("download %s: %s", src, resp.Status))
			return
		}
		s.status("Downloading from " + src)
		body = resp.Body
	}
	img, err := d.m.Images.Import(body, ref, cfg, nil)
	if err != nil {
		s.fail(err)
		return
	}
	d.emit(events.ImageEventType, events.ActionImport, img.ID, map[string]string{"name": cmp.Or(ref, img.ID)})
	s.status(img.ID)
}

// imageLoad is POST /images/load: `docker load`, the archive read from
// the body by image.Store.Load (as `minirun load`), its "Loaded image: …"
// lines sent as stream messages. quiet=1 (which the client sends when its
// output is no terminal) only hides dockerd's per-layer progress bars,
// which minirun's load has none of: the "Loaded image" lines still go.
func (d *Daemon) imageLoad(w http.ResponseWriter, r *http.Request) {
	s := newJSONStream(w)
	imgs, err := d.m.Images.Load("-", image.LoadOptions{Stdin: r.Body, Progress: s})
	if err != nil {
		s.fail(badRequestIfArchive(err))
		return
	}
	for _, img := range imgs {
		d.emit(events.ImageEventType, events.ActionLoad, img.ID, map[string]string{"name": img.ID})
	}
}

// badRequestIfArchive marks a load of something that is no image archive
// as the client's error.
func badRequestIfArchive(err error) error {
	if strings.Contains(err.Error(), "neither a docker save archive") {
		return badRequest{err}
	}
	return err
}

// buildUnsupported refuses the flags of `docker build` that minirun's
// builder cannot honour, rather than ignore them: a build asked for with a
// memory limit must not run its RUN steps without one. The values the
// docker client sends by default (memory=0, rm=1, networkmode=default,
// ulimits=null) pass. forcerm and cachefrom are accepted: minirun always
// removes a RUN step's container, and a cache hint may go unused.
func buildUnsupported(r *http.Request) error {
	q := r.URL.Query()
	for _, k := range []string{"memory", "memswap", "cpushares", "cpuquota", "cpuperiod", "shmsize"} {
		if v := q.Get(k); v != "" && v != "0" {
			return fmt.Errorf("build %s=%s: resource limits for RUN are not supported by minirun's builder", k, v)
		}
	}
	for _, k := range []string{"cpusetcpus", "cpusetmems", "cgroupparent", "extrahosts", "securityopt", "isolation"} {
		if v := q.Get(k); v != "" {
			return fmt.Errorf("build %s=%s: not supported by minirun's builder", k, v)
		}
	}
	if v := q.Get("ulimits"); v != "" && v != "null" && v != "[]" {
		return fmt.Errorf("build --ulimit: not supported by minirun's builder")
	}
	if v := q.Get("networkmode"); v != "" && v != "default" && v != "bridge" {
		return fmt.Errorf("build --network %s: minirun's RUN steps use the default network only", v)
	}
	if q.Has("rm") && !boolParam(r, "rm") {
		return errors.New("build --rm=false: minirun always removes a RUN step's container")
	}
	if boolParam(r, "squash") {
		return errors.New("build --squash: not supported by minirun's builder")
	}
	if boolParam(r, "pull") {
		return errors.New("build --pull: minirun pulls a FROM image only when it is missing; pull it first with docker pull")
	}
	return nil
}

// imageBuild is POST /build: `docker build` with the classic builder. The
// body is the context as a tar, unpacked into a scratch directory
// (build.ExtractContext); the query carries the flags; build.Build, as
// `minirun build`, runs the Dockerfile with the container manager's RUN
// runner, its "Step n/N : …" output and the RUN commands' going out as
// stream messages, then the image ID (aux) for -q and --iidfile.
func (d *Daemon) imageBuild(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("remote") != "" {
		fail(w, badRequest{errors.New("remote build contexts (a URL or git repository) are not supported by minirun: send the context as a tar")})
		return
	}
	if v := q.Get("version"); v != "" && v != string(btypes.BuilderV1) {
		fail(w, badRequest{fmt.Errorf("builder version %q is not supported: minirun has the classic builder (1) only; unset DOCKER_BUILDKIT", v)})
		return
	}
	if t := q.Get("target"); t != "" {
		fail(w, badRequest{fmt.Errorf("--target %s: minirun builds one stage", t)})
		return
	}
	if err := buildUnsupported(r); err != nil {
		fail(w, badRequest{err})
		return
	}
	o := build.Options{Tags: q["t"], NoCache: boolParam(r, "nocache"), BuildArgs: map[string]string{}}
	for _, t := range o.Tags {
		if _, err := image.ParseRef(t); err != nil {
			fail(w, badRequest{err})
			return
		}
	}
	if s := q.Get("buildargs"); s != "" {
		var args map[string]*string
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			fail(w, badRequest{fmt.Errorf("invalid buildargs: %w", err)})
			return
		}
		for k, v := range args {
			if v != nil { // nil: --build-arg K, and K is not in the client's environment
				o.BuildArgs[k] = *v
			}
		}
	}
	if s := q.Get("labels"); s != "" {
		if err := json.Unmarshal([]byte(s), &o.Labels); err != nil {
			fail(w, badRequest{fmt.Errorf("invalid labels: %w", err)})
			return
		}
	}
	df := q.Get("dockerfile")
	if df == "" {
		df = "Dockerfile"
	}
	rel := path.Clean("/" + df)[1:]
	if rel == "" {
		fail(w, badRequest{fmt.Errorf("dockerfile %q: not a file of the context", df)})
		return
	}

	st := d.m.Images
	dir, err := st.TempDir("context-")
	if err != nil {
		fail(w, err)
		return
	}
	defer st.RemoveTemp(dir)
	if err := build.ExtractContext(r.Body, dir); err != nil {
		fail(w, badRequest{err})
		return
	}
	// Read the body to its end (a tar's or gzip's tail may be left):
	// only then does net/http watch the connection, and cancel
	// r.Context() when the client hangs up (see o.Context below).
	io.Copy(io.Discard, r.Body)
	o.ContextDir = dir
	o.Dockerfile = dir + "/" + rel
	// Read through an os.Root: a Dockerfile that is a symlink out of the
	// context (to /etc/shadow) is refused, not read by the root daemon.
	root, err := os.OpenRoot(dir)
	if err != nil {
		fail(w, err)
		return
	}
	o.DockerfileContent, err = root.ReadFile(rel)
	root.Close()
	if err != nil {
		fail(w, badRequest{fmt.Errorf("Cannot locate specified Dockerfile: %s", df)}) //nolint:staticcheck // Docker's words
		return
	}

	s := newJSONStream(w)
	quiet := boolParam(r, "q")
	o.Out = s
	if quiet {
		o.Out = io.Discard
	}
	o.Runner = d.m.BuildRunner()
	// The client hanging up (Ctrl-C on `docker build`) cancels the
	// request's context: the build stops, a RUN step's container is
	// killed, as dockerd does.
	o.Context = r.Context()
	// A FROM image that is not here is pulled, its progress in the
	// stream, unless pulling is off (MINIRUN_PULL=never), as for
	// `minirun build`.
	if os.Getenv("MINIRUN_PULL") != "never" {
		o.Pull = func(ref string) (*image.Image, error) {
			return st.Pull(ref, image.PullOptions{Events: s.progress, Context: r.Context()})
		}
	}
	img, err := build.Build(st, o)
	if err != nil {
		if errors.Is(err, build.ErrParse) {
			err = badRequest{err}
		}
		s.fail(err)
		return
	}
	s.aux(btypes.Result{ID: img.ID})
	if quiet {
		s.Write([]byte(img.ID + "\n"))
	}
}
