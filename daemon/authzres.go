package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/minirun/minirun/plugins"
)

// authzRecorder holds a response back until the plugins have seen it
// (/AuthZPlugin.AuthZRes), as moby's pkg/authorization/response.go does.
// A streamed response (the handler flushes: logs -f, wait, events) or a
// hijacked one (attach) goes straight to the client from then on and is
// not checked, as in dockerd: its bytes are already out.
type authzRecorder struct {
	w        http.ResponseWriter
	status   int
	body     bytes.Buffer
	through  bool // flushed or hijacked: writes go to w
	wroteHdr bool
}

func (rr *authzRecorder) Header() http.Header { return rr.w.Header() }

func (rr *authzRecorder) WriteHeader(code int) {
	if rr.through {
		rr.w.WriteHeader(code)
		return
	}
	if rr.status == 0 {
		rr.status = code
	}
}

func (rr *authzRecorder) Write(b []byte) (int, error) {
	if rr.through {
		return rr.w.Write(b)
	}
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	return rr.body.Write(b)
}

// pass sends what is held and lets everything after it through.
func (rr *authzRecorder) pass() {
	if rr.through {
		return
	}
	rr.through = true
	if rr.status != 0 {
		rr.w.WriteHeader(rr.status)
	}
	rr.w.Write(rr.body.Bytes())
	rr.body.Reset()
}

// Flush is http.Flusher: the response is a stream.
func (rr *authzRecorder) Flush() {
	rr.pass()
	if f, ok := rr.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack is http.Hijacker: the connection is the handler's (attach).
func (rr *authzRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := rr.w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("the connection cannot be hijacked")
	}
	rr.through = true
	return hj.Hijack()
}

// checkResponse asks the plugins about a held response and sends it, or
// Docker's error instead of it when one refuses.
func checkResponse(authz []*plugins.AuthZPlugin, areq plugins.AuthZRequest, rr *authzRecorder) {
	if rr.through {
		return
	}
	areq.ResponseStatusCode = rr.status
	if areq.ResponseStatusCode == 0 {
		areq.ResponseStatusCode = http.StatusOK
	}
	areq.ResponseBody = rr.body.Bytes()
	areq.ResponseHeaders = map[string]string{}
	for k, v := range rr.w.Header() {
		areq.ResponseHeaders[k] = strings.Join(v, ",")
	}
	for _, p := range authz {
		res, err := p.Response(areq)
		if err == nil && res.Err != "" {
			err = fmt.Errorf("%s", res.Err)
		}
		if err != nil {
			rr.w.Header().Del("Content-Length")
			writeError(rr.w, http.StatusInternalServerError, fmt.Errorf("plugin %s failed with error: %w", p.Name, err))
			return
		}
		if !res.Allow {
			rr.w.Header().Del("Content-Length")
			writeError(rr.w, http.StatusForbidden, fmt.Errorf("authorization denied by plugin %s: %s", p.Name, res.Msg))
			return
		}
	}
	rr.pass()
}
