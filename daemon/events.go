package daemon

// GET /events: what the daemon did, as a long-lived stream of
// events.Message, the way dockerd serves it (moby daemon/events/events.go
// for the bus, daemon/events/filter.go for the filters,
// api/server/router/system/system_routes.go getEvents for the stream).
//
// The bus, in order of what happens to one event:
//
//	handler ──emit──▶ publish ──▶ ring (the last 256, for ?since=)
//	                          └──▶ each subscriber whose filter takes it:
//	                               a send that would block drops the
//	                               subscriber (its channel is closed, its
//	                               stream ends): a client that does not
//	                               read never holds the daemon up.
//
// A request with since (or until) first gets the events of the ring
// between the two, then, unless until is already past, the live ones
// until until (or until it hangs up). The ring is read and the
// subscriber added under one lock, so no event is lost or sent twice
// between the past and the live part.
//
// Where the events come from: the handlers emit what they did (create,
// start, kill, stop, …); die comes from the shim watcher (streams.go,
// watch), which hears every exit of the container's init on the shim's
// control socket, and destroy of a --rm container from the same watcher
// when the shim hangs up and the record is gone.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/shim"
	"github.com/moby/moby/api/types/events"
)

// eventsLimit is how many past events the daemon keeps for ?since=, as
// dockerd's eventsLimit.
const eventsLimit = 256

// subscriberBuffer is how many events may wait for one slow client
// (dockerd's publisher buffers 1024) before it is dropped.
const subscriberBuffer = 1024

// eventBus is the daemon's events: the ring of recent ones and the live
// subscribers. Its zero value is ready to use.
type eventBus struct {
	mu   sync.Mutex
	ring []events.Message // oldest first, at most eventsLimit
	subs map[*eventSub]struct{}
	// seen are the keys of events that two paths may both report (the
	// destroy of a --rm container removed by `docker rm -f`, which the
	// handler and the shim watcher both see), with when: see once.
	seen map[string]time.Time
}

// eventSub is one GET /events stream.
type eventSub struct {
	ch chan events.Message // closed when the bus drops the subscriber
	f  eventFilter
}

// publish stamps m with the time, keeps it in the ring and hands it to
// every subscriber whose filter includes it, never blocking.
func (b *eventBus) publish(m events.Message) {
	now := time.Now()
	m.Time, m.TimeNano = now.Unix(), now.UnixNano()
	if m.Scope == "" {
		m.Scope = "local"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) == eventsLimit {
		copy(b.ring, b.ring[1:])
		b.ring = b.ring[:eventsLimit-1]
	}
	b.ring = append(b.ring, m)
	for s := range b.subs {
		if !s.f.include(m) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			// NOTE: dockerd drops the event after 100 ms for a slow
			// reader and keeps it subscribed; dropping the subscriber
			// instead tells the client (its stream ends) rather than
			// leaving a hole in what it sees.
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// subscribe returns the ring's events between since and until that f
// includes (none when both are zero, as dockerd's loadBufferedEvents), and
// a subscriber for the events to come. Call unsubscribe when done.
func (b *eventBus) subscribe(since, until time.Time, f eventFilter) ([]events.Message, *eventSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []events.Message
	if !since.IsZero() || !until.IsZero() {
		var from, to int64
		if !since.IsZero() {
			from = since.UnixNano()
		}
		if !until.IsZero() {
			to = until.UnixNano()
		}
		for _, m := range b.ring {
			if m.TimeNano < from || (to > 0 && m.TimeNano > to) || !f.include(m) {
				continue
			}
			past = append(past, m)
		}
	}
	s := &eventSub{ch: make(chan events.Message, subscriberBuffer), f: f}
	if b.subs == nil {
		b.subs = map[*eventSub]struct{}{}
	}
	b.subs[s] = struct{}{}
	return past, s
}

// unsubscribe removes s; a subscriber the bus dropped is already gone.
func (b *eventBus) unsubscribe(s *eventSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// once reports whether key is new within the last minute, and records it.
func (b *eventBus) once(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.seen == nil {
		b.seen = map[string]time.Time{}
	}
	for k, at := range b.seen {
		if now.Sub(at) > time.Minute {
			delete(b.seen, k)
		}
	}
	if _, ok := b.seen[key]; ok {
		return false
	}
	b.seen[key] = now
	return true
}

// emit publishes one event: action done to the object id of type typ,
// with attrs (the Actor's Attributes; nil is none). It never blocks, and
// may be called from any handler or goroutine. The attributes dockerd
// puts on each kind:
//
//	container  its labels, "image" (as given to create), "name"; use
//	           emitContainer, which adds them
//	image      "name" (the reference the action was about)
//	network    "name", "type" (the driver); connect/disconnect: "container"
//	volume     "driver"; mount: "container", "destination", "read/write"
//
// The actor id is the container's full id, the image's id ("sha256:…"),
// the network's id, the volume's name.
func (d *Daemon) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	d.bus.publish(events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}})
}

// emitContainer emits a container event with the attributes dockerd's
// LogContainerEventWithAttributes gives every one (labels, image, name),
// and extra on top.
func (d *Daemon) emitContainer(meta *container.Meta, action events.Action, extra map[string]string) {
	attrs := map[string]string{}
	for k, v := range meta.Config.Labels {
		attrs[k] = v
	}
	attrs["image"] = meta.Config.Image
	if attrs["image"] == "" {
		attrs["image"] = meta.ImageRef
	}
	attrs["name"] = meta.Name
	for k, v := range extra {
		attrs[k] = v
	}
	d.emit(events.ContainerEventType, action, meta.ID, attrs)
}

// emitContainerRef emits a container event for ref, looked up now; a
// container already gone is reported by its reference alone.
func (d *Daemon) emitContainerRef(ref string, action events.Action, extra map[string]string) {
	if meta, err := d.m.Get(ref); err == nil {
		d.emitContainer(meta, action, extra)
		return
	}
	d.emit(events.ContainerEventType, action, ref, extra)
}

// emitStarted is what follows a start: the container joins its networks
// and mounts its volumes (network connect and volume mount events, as
// dockerd's start sends them), then "start".
func (d *Daemon) emitStarted(meta *container.Meta) {
	for name, ep := range meta.NetworkSettings.Networks {
		d.emitNetwork(ep.NetworkID, name, events.ActionConnect, meta.ID)
	}
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" {
			d.emit(events.VolumeEventType, events.ActionMount, mp.Name, map[string]string{
				"container": meta.ID, "destination": mp.Destination, "driver": volumeDriver(mp),
				"read/write": strconv.FormatBool(mp.RW), "propagation": "",
			})
		}
	}
	d.emitContainer(meta, events.ActionStart, nil)
}

func volumeDriver(mp container.MountPoint) string {
	if mp.Driver == "" {
		return "local"
	}
	return mp.Driver
}

// emitExit is an exit of the container's init heard from its shim: oom
// when the kernel's OOM killer ended it, die with the exit code, and, at
// the last exit (no restart follows), the container leaves its networks
// and unmounts its volumes, as dockerd's container stop does.
func (d *Daemon) emitExit(meta *container.Meta, ex *shim.Exit) {
	if !d.bus.once(fmt.Sprintf("die/%s/%d", meta.ID, ex.At.UnixNano())) {
		return
	}
	if cur, err := d.m.Get(meta.ID); err == nil {
		meta = cur // renamed since, or labels read again
	}
	if ex.OOMKilled {
		d.emitContainer(meta, events.ActionOOM, nil)
	}
	attrs := map[string]string{"exitCode": strconv.Itoa(ex.Code)}
	if started := meta.State.StartedAt; !started.IsZero() && !ex.At.IsZero() && ex.At.After(started) {
		attrs["execDuration"] = strconv.Itoa(int(ex.At.Sub(started).Seconds()))
	}
	if ex.Restarting {
		attrs["restarting"] = "true" // API 1.57
	}
	d.emitContainer(meta, events.ActionDie, attrs)
	if ex.Restarting {
		return
	}
	for name, ep := range meta.NetworkSettings.Networks {
		d.emitNetwork(ep.NetworkID, name, events.ActionDisconnect, meta.ID)
	}
	for _, mp := range meta.Mounts {
		if mp.Type == "volume" {
			d.emit(events.VolumeEventType, events.ActionUnmount, mp.Name, map[string]string{"container": meta.ID, "driver": volumeDriver(mp)})
		}
	}
}

// emitDestroy reports a container removed, once (the handler of DELETE
// and the shim watcher of a --rm container may both see it).
func (d *Daemon) emitDestroy(meta *container.Meta) {
	if d.bus.once("destroy/" + meta.ID) {
		d.emitContainer(meta, events.ActionDestroy, nil)
	}
}

// emitNetwork emits a network event with the network's name and driver;
// containerID is set for connect and disconnect.
func (d *Daemon) emitNetwork(id, name string, action events.Action, containerID string) {
	attrs := map[string]string{"name": name}
	if nm, err := d.networks(); err == nil {
		ref := id
		if ref == "" {
			ref = name
		}
		if n, err := nm.Get(ref); err == nil {
			id, attrs["name"], attrs["type"] = n.ID, n.Name, n.Driver
		}
	}
	if containerID != "" {
		attrs["container"] = containerID
	}
	d.emit(events.NetworkEventType, action, id, attrs)
}

// networkOfRef looks a network up for an event that must name it after it
// is gone (destroy): nil when there is no such network.
func (d *Daemon) networkOfRef(ref string) *network.Network {
	nm, err := d.networks()
	if err != nil {
		return nil
	}
	n, err := nm.Get(ref)
	if err != nil {
		return nil
	}
	return n
}

// volumeSet is the volume names of the data root, with their drivers.
func (d *Daemon) volumeSet() map[string]string {
	out := map[string]string{}
	vs, err := d.volumes()
	if err != nil {
		return out
	}
	all, err := vs.List()
	if err != nil {
		return out
	}
	for _, v := range all {
		out[v.Name] = v.Driver
	}
	return out
}

// emitVolumeChanges emits volume create for the volumes of after not in
// before and destroy for those gone: what a container create (-v NAME:…
// makes NAME) or a `docker rm -v` did to volumes on the way.
func (d *Daemon) emitVolumeChanges(before, after map[string]string) {
	var made, gone []string
	for n := range after {
		if _, ok := before[n]; !ok {
			made = append(made, n)
		}
	}
	for n := range before {
		if _, ok := after[n]; !ok {
			gone = append(gone, n)
		}
	}
	sort.Strings(made)
	sort.Strings(gone)
	for _, n := range made {
		d.emit(events.VolumeEventType, events.ActionCreate, n, map[string]string{"driver": driverName(after[n])})
	}
	for _, n := range gone {
		d.emit(events.VolumeEventType, events.ActionDestroy, n, map[string]string{"driver": driverName(before[n])})
	}
}

func driverName(s string) string {
	if s == "" {
		return "local"
	}
	return s
}

// eventRoutes adds GET /events and GET /containers/{name}/stats to the
// mux (called by routes, from New), and watches the containers that
// already run: a daemon restarted under running containers (live
// restore) hears their exits too. The waits are registered before New
// returns, so an exit after the daemon listens is never missed.
func (d *Daemon) eventRoutes(h func(string, func(http.ResponseWriter, *http.Request))) {
	h("GET /events", d.eventsStream)
	h("GET /containers/{name}/stats", d.containerStats) // stats.go
	d.watchRunning()
}

// watchRunning watches every running container's shim (see watch), all
// at once: a shim that does not answer costs its own answer timeout, not
// the others'.
func (d *Daemon) watchRunning() {
	all, err := d.m.List()
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, meta := range all {
		if running(meta) {
			wg.Add(1)
			go func(id string) { defer wg.Done(); d.watch(id) }(meta.ID)
		}
	}
	wg.Wait()
}

// eventTime reads since and until as the client sends them: Unix seconds
// with an optional fraction ("1700000000.123456789"), the form of moby's
// api/types/time ParseTimestamps (the client turns "10m" or an RFC 3339
// date into this before it asks). Empty is the zero time.
func eventTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	sec, frac, hasFrac := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, badRequest{fmt.Errorf("invalid timestamp %q: %w", s, err)}
	}
	var nsec int64
	if hasFrac {
		if len(frac) > 9 || frac == "" {
			return time.Time{}, badRequest{fmt.Errorf("invalid timestamp %q: at most 9 digits after the point", s)}
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, badRequest{fmt.Errorf("invalid timestamp %q", s)}
		}
		nsec = n * int64(math.Pow10(9-len(frac)))
	}
	return time.Unix(secs, nsec), nil
}

// eventMessageBefore152 is an event as API versions before 1.52 sent it,
// with the status, id and from fields of API 1.21 still filled for
// container and image events (the api module's docs/CHANGELOG.md, v1.52):
// docker-compose 1.29 reads them.
type eventMessageBefore152 struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// eventsStream is GET /events?since=&until=&filters=: `docker events`.
// The status line and headers go out at once (the client waits for them
// before it reports anything); each event is one JSON document, flushed
// as it comes.
func (d *Daemon) eventsStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := eventTime(q.Get("since"))
	if err != nil {
		fail(w, err)
		return
	}
	until, err := eventTime(q.Get("until"))
	if err != nil {
		fail(w, err)
		return
	}
	var timeout <-chan time.Time
	onlyPast := false
	if !until.IsZero() {
		if until.Before(since) {
			fail(w, badRequest{fmt.Errorf("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until"))})
			return
		}
		if now := time.Now(); until.Before(now) {
			onlyPast = true
		} else {
			t := time.NewTimer(until.Sub(now))
			defer t.Stop()
			timeout = t.C
		}
	}
	args, err := parseFilters(q.Get("filters"))
	if err != nil {
		fail(w, err)
		return
	}
	f := newEventFilter(args)
	past, sub := d.bus.subscribe(since, until, f)
	defer d.bus.unsubscribe(sub)

	// Content negotiation (API 1.47): newline-delimited JSON under the
	// name the client asks for, or RFC 7464 JSON text sequences (each
	// record after an ASCII RS); a client that asks for nothing gets
	// application/json, the same bytes as ndjson.
	ctype, prefix := "application/json", ""
	switch accept := r.Header.Get("Accept"); {
	case strings.Contains(accept, "application/x-ndjson"):
		ctype = "application/x-ndjson"
	case strings.Contains(accept, "application/jsonl"):
		ctype = "application/jsonl"
	case strings.Contains(accept, "application/json-seq"):
		ctype, prefix = "application/json-seq", "\x1e"
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if fl, ok := w.(http.Flusher); ok {
		flush = fl.Flush
	}
	flush()
	legacy := versionLess(requestVersion(r), "1.52")
	send := func(m events.Message) error {
		var v any = m
		if legacy && (m.Type == events.ContainerEventType || m.Type == events.ImageEventType) {
			old := eventMessageBefore152{Status: string(m.Action), ID: m.Actor.ID, Message: m}
			if m.Type == events.ContainerEventType {
				old.From = m.Actor.Attributes["image"]
			}
			v = old
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(append([]byte(prefix), b...), '\n')); err != nil {
			return err
		}
		flush()
		return nil
	}
	for _, m := range past {
		if send(m) != nil {
			return
		}
	}
	if onlyPast {
		return
	}
	for {
		select {
		case m, ok := <-sub.ch:
			if !ok {
				return // dropped: too slow a reader
			}
			if send(m) != nil {
				return
			}
		case <-timeout:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// eventFilter is the filters of GET /events, key → values, matched as
// dockerd's daemon/events/filter.go Include: every key given must match
// (an AND across keys), any value of a key may (an OR within one).
type eventFilter map[string]map[string]bool

// newEventFilter builds the filter from parseFilters' map. As with
// dockerd, a key no matcher reads is not refused: it matches everything.
func newEventFilter(args map[string][]string) eventFilter {
	f := eventFilter{}
	for k, vs := range args {
		for _, v := range vs {
			if f[k] == nil {
				f[k] = map[string]bool{}
			}
			f[k][v] = true
		}
	}
	return f
}

// exact is filters.Args.ExactMatch: true when key has no values, or v is
// one of them.
func (f eventFilter) exact(key, v string) bool {
	vs := f[key]
	return len(vs) == 0 || vs[v]
}

// fuzzy is filters.Args.FuzzyMatch: exact, or v starts with one of the
// values (a short container id matches the full one).
func (f eventFilter) fuzzy(key, v string) bool {
	vs := f[key]
	if len(vs) == 0 || vs[v] {
		return true
	}
	for want := range vs {
		if strings.HasPrefix(v, want) {
			return true
		}
	}
	return false
}

// kvList is filters.Args.MatchKVList: every value "k" or "k=v" of key
// must be in attrs.
func (f eventFilter) kvList(key string, attrs map[string]string) bool {
	vs := f[key]
	if len(vs) == 0 {
		return true
	}
	if attrs == nil {
		return false
	}
	for want := range vs {
		k, v, hasValue := strings.Cut(want, "=")
		got, ok := attrs[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// include is dockerd's Filter.Include.
func (f eventFilter) include(m events.Message) bool {
	return f.matchEvent(m) &&
		f.exact("type", string(m.Type)) &&
		(len(f["scope"]) == 0 || f.exact("scope", m.Scope)) &&
		f.matchName(m, events.DaemonEventType) &&
		f.matchName(m, events.ContainerEventType) &&
		f.matchName(m, events.PluginEventType) &&
		f.matchName(m, events.VolumeEventType) &&
		f.matchName(m, events.NetworkEventType) &&
		f.matchImage(m) &&
		f.matchName(m, events.NodeEventType) &&
		f.matchName(m, events.ServiceEventType) &&
		f.matchName(m, events.SecretEventType) &&
		f.matchName(m, events.ConfigEventType) &&
		f.kvList("label", m.Actor.Attributes)
}

// matchEvent: event=exec_create (or exec_start, health_status) without
// the ": command" that follows in the action matches by prefix
// (moby#25798); any other event value matches exactly.
func (f eventFilter) matchEvent(m events.Message) bool {
	for v := range f["event"] {
		switch v {
		case "exec_create", "exec_start", "health_status":
			return f.fuzzy("event", string(m.Action))
		}
	}
	return f.exact("event", string(m.Action))
}

// matchName is fuzzyMatchName: the filter named after a type (container,
// network, volume…) takes an id prefix or the "name" attribute. Note that
// it applies to events of every type: container=X keeps only the events
// whose actor is X, as with dockerd.
func (f eventFilter) matchName(m events.Message, typ events.Type) bool {
	return f.fuzzy(string(typ), m.Actor.ID) || f.fuzzy(string(typ), m.Actor.Attributes["name"])
}

// matchImage matches image= against an image event's id and name, and a
// container event's "image" attribute, with and without the tag.
func (f eventFilter) matchImage(m events.Message) bool {
	if len(f["image"]) == 0 {
		return true
	}
	nameAttr := "image"
	if m.Type == events.ImageEventType {
		nameAttr = "name"
	}
	name := m.Actor.Attributes[nameAttr]
	return f.exact("image", m.Actor.ID) || f.exact("image", name) ||
		f.exact("image", familiarName(m.Actor.ID)) || f.exact("image", familiarName(name))
}

// familiarName is a reference without its tag or digest, and without the
// docker.io/library/ a normalized name carries: what
// reference.FamiliarName(reference.ParseNormalizedNamed(s)) gives.
func familiarName(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		s = s[:i]
	}
	s = strings.TrimPrefix(s, "docker.io/")
	return strings.TrimPrefix(s, "library/")
}

// emitNetworkContainer emits connect or disconnect of the container ref
// on the network netRef.
func (d *Daemon) emitNetworkContainer(netRef string, action events.Action, ref string) {
	id := ref
	if meta, err := d.m.Get(ref); err == nil {
		id = meta.ID
	}
	d.emitNetwork("", netRef, action, id)
}
