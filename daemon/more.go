package daemon

// Endpoints added after the first cut of the daemon: network connect and
// disconnect (docker-compose calls them between create and start). Each
// handler is a thin adapter over the same container.Manager method the
// CLI's command calls.

import (
	"errors"
	"net/http"

	"github.com/minirun/minirun/network"
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
	w.WriteHeader(http.StatusOK)
}
