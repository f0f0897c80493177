// Command authz-noprivileged is a Docker authorization plugin (the AuthZ
// protocol, https://docs.docker.com/engine/extend/plugins_authorization/)
// that refuses to create privileged containers and allows everything
// else. It serves on a unix socket where Docker (and minirun daemon) look
// for plugins:
//
//	authz-noprivileged /run/docker/plugins/authz-noprivileged.sock &
//	minirun daemon --authorization-plugin authz-noprivileged
//	docker run --privileged busybox true   # Error response from daemon: authorization denied by plugin authz-noprivileged: …
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/minirun/minirun/plugins"
	"github.com/moby/moby/api/types/container"
)

// createPath is POST /containers/create, with or without the /vX.Y prefix.
var createPath = regexp.MustCompile(`^(/v[0-9]+\.[0-9]+)?/containers/create$`)

func main() {
	sock := "/run/docker/plugins/authz-noprivileged.sock"
	if len(os.Args) > 1 {
		sock = os.Args[1]
	}
	os.Remove(sock) // a stale socket from a killed run
	l, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		<-c
		l.Close() // unlinks the socket
	}()
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
		json.NewEncoder(w).Encode(v)
	}
	// The handshake: this plugin implements the "authz" interface.
	mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string][]string{"Implements": {"authz"}})
	})
	mux.HandleFunc("POST /AuthZPlugin.AuthZReq", func(w http.ResponseWriter, r *http.Request) {
		var req plugins.AuthZRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, plugins.AuthZResponse{Err: "bad AuthZReq: " + err.Error()})
			return
		}
		reply(w, decide(req))
	})
	// Responses are not looked at: allowed as they are.
	mux.HandleFunc("POST /AuthZPlugin.AuthZRes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, plugins.AuthZResponse{Allow: true})
	})
	if err := http.Serve(l, mux); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Fatal(err)
	}
}

// decide refuses a container create whose HostConfig asks for
// Privileged; a body it cannot read is refused too (fail closed).
func decide(req plugins.AuthZRequest) plugins.AuthZResponse {
	u, err := url.ParseRequestURI(req.RequestURI)
	if err != nil {
		return plugins.AuthZResponse{Msg: "unreadable request URI"}
	}
	if req.RequestMethod != http.MethodPost || !createPath.MatchString(u.Path) {
		return plugins.AuthZResponse{Allow: true}
	}
	var body container.CreateRequest
	if err := json.Unmarshal(req.RequestBody, &body); err != nil {
		return plugins.AuthZResponse{Msg: fmt.Sprintf("container create: unreadable body: %v", err)}
	}
	if body.HostConfig != nil && body.HostConfig.Privileged {
		return plugins.AuthZResponse{Msg: "privileged containers are not allowed (authz-noprivileged)"}
	}
	return plugins.AuthZResponse{Allow: true}
}
