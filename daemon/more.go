package daemon

// Endpoints added after the first cut of the daemon: network connect and
// disconnect (docker-compose calls them between create and start), exec
// (exec.go), restart, pause, unpause, rename and top. Each
// handler is a thin adapter over the same container.Manager method the
// CLI's command calls.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	ntypes "github.com/moby/moby/api/types/network"
)

// moreRoutes adds this file's routes to the mux (called by routes).
func (d *Daemon) moreRoutes(h func(string, func(http.ResponseWriter, *http.Request))) {
	h("POST /networks/{id}/connect", d.networkConnect)
	h("POST /networks/{id}/disconnect", d.networkDisconnect)

	h("POST /containers/{name}/exec", d.execCreate) // exec.go
	h("POST /exec/{id}/start", d.execStart)
	h("GET /exec/{id}/json", d.execInspect)
	h("POST /exec/{id}/resize", d.execResize)

	h("POST /containers/{name}/restart", d.containerRestart)
	h("POST /containers/{name}/pause", d.containerPause)
	h("POST /containers/{name}/unpause", d.containerUnpause)
	h("POST /containers/{name}/rename", d.containerRename)
	h("GET /containers/{name}/top", d.containerTop)
}

// networkConnect is POST /networks/{id}/connect (`docker network
// connect`, moby's api/server/router/network postNetworkConnect):
// Manager.Connect with the EndpointConfig's aliases and IPv4 address.
func (d *Daemon) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req ntypes.ConnectRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Container == "" {
		fail(w, badRequest{errors.New("no container given to connect")})
		return
	}
	var o network.EndpointOpts
	if es := req.EndpointConfig; es != nil {
		o.Aliases = es.Aliases
		if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
			o.IP = es.IPAMConfig.IPv4Address.String()
		}
	}
	if err := d.m.Connect(r.PathValue("id"), req.Container, o, nil); err != nil {
		fail(w, err)
		return
	}
	d.emitNetworkContainer(r.PathValue("id"), events.ActionConnect, req.Container)
	w.WriteHeader(http.StatusOK)
}

// networkDisconnect is POST /networks/{id}/disconnect (`docker network
// disconnect`): Manager.Disconnect. Force is accepted, as the CLI's -f.
func (d *Daemon) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req ntypes.DisconnectRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Container == "" {
		fail(w, badRequest{errors.New("no container given to disconnect")})
		return
	}
	if err := d.m.Disconnect(r.PathValue("id"), req.Container, nil); err != nil {
		fail(w, err)
		return
	}
	d.emitNetworkContainer(r.PathValue("id"), events.ActionDisconnect, req.Container)
	w.WriteHeader(http.StatusOK)
}

// containerRestart is POST /containers/{name}/restart?t=SECONDS: what
// `minirun restart` does, Manager.Stop (when it runs) then Manager.Start.
func (d *Daemon) containerRestart(w http.ResponseWriter, r *http.Request) {
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	timeout, err := stopTimeout(r)
	if err != nil {
		fail(w, err)
		return
	}
	if running(meta) {
		d.emitContainer(meta, events.ActionKill, map[string]string{"signal": "15"})
		if err := d.m.Stop(meta.ID, timeout); err != nil {
			fail(w, err)
			return
		}
		d.awaitWatcher(meta.ID, 2*time.Second)
		d.emitContainer(meta, events.ActionStop, nil)
	}
	started, err := d.m.Start(meta.ID, false)
	if err != nil {
		fail(w, err)
		return
	}
	d.startedEvents(started)
	d.emitContainer(started, events.ActionRestart, nil)
	w.WriteHeader(http.StatusNoContent)
}

// containerPause is POST /containers/{name}/pause and containerUnpause
// /unpause: the cgroup freezer, as `minirun pause` and `resume`.
func (d *Daemon) containerPause(w http.ResponseWriter, r *http.Request) {
	d.freeze(w, r, (*runtime.Container).Pause, events.ActionPause)
}

func (d *Daemon) containerUnpause(w http.ResponseWriter, r *http.Request) {
	d.freeze(w, r, (*runtime.Container).Resume, events.ActionUnPause)
}

func (d *Daemon) freeze(w http.ResponseWriter, r *http.Request, op func(*runtime.Container, *explain.Tracer) error, action events.Action) {
	meta, ctr, err := d.m.Runtime(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	if err := op(ctr, nil); err != nil {
		var te *runtime.TransitionError
		if errors.As(err, &te) {
			err = conflict{err} // dockerd: 409 for a container not running, or already paused
		}
		fail(w, err)
		return
	}
	d.emitContainer(meta, action, nil)
	w.WriteHeader(http.StatusNoContent)
}

// containerRename is POST /containers/{name}/rename?name=NEW: Manager.Rename.
func (d *Daemon) containerRename(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Query().Get("name"), "/")
	if err := container.ValidateName(name); err != nil {
		fail(w, badRequest{err})
		return
	}
	old, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if err := d.m.Rename(old.ID, name); err != nil {
		fail(w, err)
		return
	}
	d.emitContainerRef(old.ID, events.ActionRename, map[string]string{"oldName": "/" + old.Name})
	w.WriteHeader(http.StatusNoContent)
}

// containerTop is GET /containers/{name}/top: Manager.Top, as `minirun
// top`. ps_args is not run: minirun reads /proc itself (no ps in the
// daemon's path is needed), so only the default columns exist.
func (d *Daemon) containerTop(w http.ResponseWriter, r *http.Request) {
	meta, ok := d.namedContainer(w, r)
	if !ok {
		return
	}
	if !running(meta) {
		fail(w, conflict{fmt.Errorf("container %s is not running", meta.ID)})
		return
	}
	rows, err := d.m.Top(meta.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ctypes.TopResponse{Titles: container.TopTitles, Processes: rows})
}
