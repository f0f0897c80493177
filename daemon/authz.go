package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/minirun/minirun/plugins"
)

// authzHandler asks every plugin, in order, before next serves a request,
// as dockerd's authorization middleware does (pkg/authorization/
// middleware.go, authz.go): the body goes along only when it is JSON and
// under maxBodyBytes; a refusal is 403 with "authorization denied by plugin
// NAME: MSG", a plugin's error is 500 with its Err.
func authzHandler(authz []*plugins.AuthZPlugin, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		areq := plugins.AuthZRequest{RequestMethod: r.Method, RequestURI: r.URL.RequestURI(), RequestHeaders: map[string]string{}}
		for k, v := range r.Header {
			areq.RequestHeaders[k] = strings.Join(v, ",")
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			areq.User, areq.UserAuthNMethod = r.TLS.PeerCertificates[0].Subject.CommonName, "TLS"
		}
		if r.Body != nil && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("read request body: %w", err))
				return
			}
			if len(b) <= maxBodyBytes {
				areq.RequestBody = b
			}
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
		}
		for _, p := range authz {
			res, err := p.Request(areq)
			if err != nil {
				writeError(w, http.StatusInternalServerError, fmt.Errorf("plugin %s failed with error: %w", p.Name, err))
				return
			}
			if res.Err != "" {
				writeError(w, http.StatusInternalServerError, fmt.Errorf("plugin %s failed with error: %s", p.Name, res.Err))
				return
			}
			if !res.Allow {
				writeError(w, http.StatusForbidden, fmt.Errorf("authorization denied by plugin %s: %s", p.Name, res.Msg))
				return
			}
		}
		rr := &authzRecorder{w: w}
		next.ServeHTTP(rr, r)
		checkResponse(authz, areq, rr)
	})
}
