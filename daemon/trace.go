package daemon

// The request trace: `minirun explain api` narrates every HTTP request
// the daemon serves as a step of its own (method, path, status), with the
// steps the daemon takes to answer it (create, cgroups, network…) beneath.

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/minirun/minirun/explain"
)

// RequestStepID is the step every traced request is narrated as.
const RequestStepID = "components-api-request"

// RequestStep is the step a request is narrated as: "POST
// /v1.41/containers/create", why the client sends it, and the curl line
// that sends the same request by hand. Do is the caller's: the trace runs
// the handler there; a dry run (`explain api --dry-run`) describes the
// requests a docker command sends with Do nil.
func RequestStep(method, target, socket string) explain.Step {
	why := routeWhy(method, target)
	curl := "curl -s --unix-socket " + socket + " "
	if method == http.MethodHead {
		curl += "-I "
	} else if method != http.MethodGet {
		curl += "-X " + method + " "
	}
	return explain.Step{
		ID: "components-api-request", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "Pedido HTTP: " + method + " " + target, EN: "HTTP request: " + method + " " + target},
		Why:   why,
		Shell: curl + "'http://docker" + target + "'",
	}
}

// routes' reasons, by the path without its /vX.Y prefix: what the client
// asks for with it. The first match wins.
var routeReasons = []struct {
	method, prefix, suffix string
	why                    explain.Text
}{
	{"", "/_ping", "", explain.Text{PT: "O cliente testa o daemon e lê a versão da API que ele fala (cabeçalho Api-Version).",
		EN: "The client checks the daemon and reads the API version it speaks (the Api-Version header)."}},
	{"GET", "/version", "", explain.Text{PT: "docker version: o daemon diz sua versão, a da API e o kernel.",
		EN: "docker version: the daemon reports its version, the API's and the kernel."}},
	{"GET", "/info", "", explain.Text{PT: "docker info: contagens, driver de armazenamento, cgroups.",
		EN: "docker info: counts, storage driver, cgroups."}},
	{"POST", "/containers/create", "", explain.Text{PT: "Primeiro pedido do docker run: imagem, nome, rootfs e bundle OCI; o contêiner ainda não roda.",
		EN: "docker run's first request: image, name, rootfs and OCI bundle; the container does not run yet."}},
	{"POST", "/containers/", "/attach", explain.Text{PT: "O cliente toma a conexão (hijack) para a saída do contêiner, antes do start: nada da saída se perde.",
		EN: "The client takes over the connection (hijack) for the container's output, before start: no output is lost."}},
	{"POST", "/containers/", "/wait", explain.Text{PT: "O cliente espera o código de saída; a resposta chega quando o contêiner termina.",
		EN: "The client waits for the exit code; the answer comes when the container ends."}},
	{"POST", "/containers/", "/start", explain.Text{PT: "O daemon inicia o shim, que cria o contêiner (cgroups, namespaces, rede) e o inicia.",
		EN: "The daemon starts the shim, which creates the container (cgroups, namespaces, network) and starts it."}},
	{"GET", "/containers/json", "", explain.Text{PT: "docker ps: a lista vem dos registros em disco, conferidos com o kernel.",
		EN: "docker ps: the list comes from the records on disk, checked against the kernel."}},
	{"DELETE", "/containers/", "", explain.Text{PT: "docker rm: para o contêiner se preciso e desfaz rede, cgroup e rootfs.",
		EN: "docker rm: stops the container if needed and undoes network, cgroup and rootfs."}},
}

// routeWhy is why the client sends method target.
func routeWhy(method, target string) explain.Text {
	path, _, _ := strings.Cut(target, "?")
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		path = m[2]
	}
	for _, r := range routeReasons {
		if (r.method == "" || r.method == method) && strings.HasPrefix(path, r.prefix) && strings.HasSuffix(path, r.suffix) {
			return r.why
		}
	}
	return explain.Text{PT: "Um pedido da API do Docker: o daemon o atende com o mesmo código do CLI.",
		EN: "A request of Docker's API: the daemon serves it with the CLI's own code."}
}

// statusPT is how the narration says a status in Portuguese; English has
// net/http's own words.
var statusPT = map[int]string{
	http.StatusSwitchingProtocols: "conexão tomada pelo cliente", http.StatusOK: "ok",
	http.StatusCreated: "criado", http.StatusNoContent: "feito, corpo vazio",
	http.StatusNotModified: "nada a mudar", http.StatusBadRequest: "pedido inválido",
	http.StatusForbidden: "proibido", http.StatusNotFound: "inexistente",
	http.StatusConflict: "conflito", http.StatusInternalServerError: "erro interno",
}

// StatusText is a response's status as the narration's evidence says it.
func StatusText(code int) explain.Text {
	pt, ok := statusPT[code]
	if !ok {
		pt = "código " + strconv.Itoa(code)
	}
	return explain.Text{PT: fmt.Sprintf("resposta %d (%s)", code, pt),
		EN: fmt.Sprintf("response %d (%s)", code, http.StatusText(code))}
}

// traceRequests wraps h so that tr narrates each request: the request's
// step begins when it arrives and ends once its status is known (written,
// or the connection hijacked), with what the handler narrated in between.
// A stream (attach, wait, logs -f) ends its step when it opens, not when
// it closes: the requests that follow it are narrated on their own.
//
// ORDER: one request is narrated at a time, from its arrival to its
// status, so the daemon's steps for it stand beneath it and not beneath a
// request that came at the same moment (docker run sends wait and start
// together). No handler waits for a later request before its status: an
// attach is answered (hijacked) before the start it waits for is sent.
func traceRequests(tr *explain.Tracer, one sync.Locker, socket string, h http.Handler) http.Handler {
	if one == nil {
		one = &sync.Mutex{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{w: w, upgrade: strings.EqualFold(r.Header.Get("Upgrade"), "tcp"), known: make(chan struct{})}
		done := make(chan any, 1)
		step := RequestStep(r.Method, r.URL.RequestURI(), socket)
		step.Do = func() error {
			// The handler runs beside the step, which ends at the status;
			// ServeHTTP returns only once the handler has (below).
			go func() {
				defer func() {
					p := recover()
					if p != nil {
						// A panic is no 200: the status narrated is
						// the 500 the connection's end amounts to.
						sw.settle(http.StatusInternalServerError)
					}
					sw.settle(http.StatusOK) // a handler that wrote nothing
					done <- p
				}()
				h.ServeHTTP(sw, r)
			}()
			<-sw.known
			return nil
		}
		step.EvidenceText = func() explain.Text { return StatusText(sw.code) }
		one.Lock()
		err := tr.Do(step, nil)
		one.Unlock()
		if err != nil {
			// The narration failed (the person at the projector quit):
			// the handler never ran.
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		if p := <-done; p != nil {
			panic(p) // net/http's own recovery logs it, as without trace
		}
	})
}

// statusWriter learns a response's status: from WriteHeader, the first
// Write, or a Hijack (attach), where the handler writes its own status
// line, 101 when the client asked to upgrade.
type statusWriter struct {
	w       http.ResponseWriter
	upgrade bool
	once    sync.Once
	code    int
	known   chan struct{}
}

func (s *statusWriter) settle(code int) {
	s.once.Do(func() { s.code = code; close(s.known) })
}

func (s *statusWriter) Header() http.Header { return s.w.Header() }

func (s *statusWriter) WriteHeader(code int) {
	s.settle(code)
	s.w.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.settle(http.StatusOK)
	return s.w.Write(b)
}

// Flush is http.Flusher: streams (wait, logs -f) flush their header.
func (s *statusWriter) Flush() {
	s.settle(http.StatusOK)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack is http.Hijacker: attach and exec start take the connection.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("the connection cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		if s.upgrade {
			s.settle(http.StatusSwitchingProtocols)
		} else {
			s.settle(http.StatusOK)
		}
	}
	return c, rw, err
}
