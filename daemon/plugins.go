package daemon

// docker plugin (api/server/router/plugin in moby) over the managed plugin
// store `minirun plugin` uses (plugins.Store): create from a tar of a
// directory holding config.json and rootfs/, ls, inspect, enable, disable,
// set, rm. install, upgrade and push need a registry's plugin images,
// which minirun does not fetch: `minirun plugin create` from a directory
// is the way in, as `docker plugin create` is.

import (
	"errors"
	"net/http"

	"github.com/minirun/minirun/plugins"
	"github.com/minirun/minirun/volume"
	"github.com/moby/moby/api/types/plugin"
)

func (d *Daemon) pluginRoutes(h func(string, func(http.ResponseWriter, *http.Request))) {
	h("GET /plugins", d.pluginList)
	h("GET /plugins/{name}/json", d.pluginInspect)
	h("POST /plugins/create", d.pluginCreate)
	d.streamed["POST /plugins/create"] = true // a tar of the rootfs
	h("POST /plugins/{name}/enable", d.pluginEnable)
	h("POST /plugins/{name}/disable", d.pluginDisable)
	h("POST /plugins/{name}/set", d.pluginSet)
	h("DELETE /plugins/{name}", d.pluginDelete)
}

// plugins opens the data root's managed plugin store.
func (d *Daemon) plugins() *plugins.Store {
	return volume.PluginStore(d.m.DataRoot, d.m.StateRoot, d.cfg.Trace)
}

// pluginList is GET /plugins: `docker plugin ls`.
func (d *Daemon) pluginList(w http.ResponseWriter, r *http.Request) {
	ps, err := d.plugins().List()
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]*plugin.Plugin, 0, len(ps))
	writeJSON(w, http.StatusOK, append(out, ps...))
}

// pluginInspect is GET /plugins/{name}/json: `docker plugin inspect`.
func (d *Daemon) pluginInspect(w http.ResponseWriter, r *http.Request) {
	p, err := d.plugins().Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// pluginCreate is POST /plugins/create?name=NAME with a tar of the
// plugin's directory: `docker plugin create NAME DIR`. The tar is
// extracted as image layers are (no path leaves the directory, no link
// points out of it) into a directory of the store (UnpackContext), which
// Store.Create copies from.
func (d *Daemon) pluginCreate(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		fail(w, badRequest{errors.New("plugin create: a name is required")})
		return
	}
	store := d.plugins()
	dir, remove, err := store.UnpackContext(r.Body)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	defer remove()
	if _, err := store.Create(trimLatest(name), dir); err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			err = badRequest{err} // a bad name, config.json or rootfs
		}
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// trimLatest drops the ":latest" the client adds to a plugin's name:
// minirun's plugins have no tags.
func trimLatest(name string) string {
	if n := len(name) - len(":latest"); n > 0 && name[n:] == ":latest" {
		return name[:n]
	}
	return name
}

// pluginEnable is POST /plugins/{name}/enable: `docker plugin enable`.
func (d *Daemon) pluginEnable(w http.ResponseWriter, r *http.Request) {
	if err := d.plugins().Enable(trimLatest(r.PathValue("name"))); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// pluginDisable is POST /plugins/{name}/disable?force=1.
func (d *Daemon) pluginDisable(w http.ResponseWriter, r *http.Request) {
	if err := d.plugins().Disable(trimLatest(r.PathValue("name")), boolParam(r, "force")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// pluginSet is POST /plugins/{name}/set with ["KEY=VALUE", …].
func (d *Daemon) pluginSet(w http.ResponseWriter, r *http.Request) {
	var kvs []string
	if err := decode(r, &kvs); err != nil {
		fail(w, err)
		return
	}
	if err := d.plugins().Set(trimLatest(r.PathValue("name")), kvs); err != nil {
		fail(w, badRequestUnlessFound(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pluginDelete is DELETE /plugins/{name}?force=1: `docker plugin rm`.
func (d *Daemon) pluginDelete(w http.ResponseWriter, r *http.Request) {
	if err := d.plugins().Remove(trimLatest(r.PathValue("name")), boolParam(r, "force")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// badRequestUnlessFound marks a refusal of the client's input as 400; a
// missing plugin stays 404.
func badRequestUnlessFound(err error) error {
	if errors.Is(err, plugins.ErrPluginNotFound) {
		return err
	}
	return badRequest{err}
}
