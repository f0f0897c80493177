package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AuthZRequest is what Docker sends an authorization plugin, field for
// field as pkg/authorization/api.go in moby names them (moby/moby/v2's
// daemon module, not importable from here; the protocol is documented at
// https://docs.docker.com/engine/extend/plugins_authorization/).
type AuthZRequest struct {
	User               string            `json:"User,omitempty"`
	UserAuthNMethod    string            `json:"UserAuthNMethod,omitempty"`
	RequestMethod      string            `json:"RequestMethod,omitempty"`
	RequestURI         string            `json:"RequestURI,omitempty"`
	RequestBody        []byte            `json:"RequestBody,omitempty"` // base64 in JSON, as []byte encodes
	RequestHeaders     map[string]string `json:"RequestHeaders,omitempty"`
	ResponseStatusCode int               `json:"ResponseStatusCode,omitempty"`
	ResponseBody       []byte            `json:"ResponseBody,omitempty"`
	ResponseHeaders    map[string]string `json:"ResponseHeaders,omitempty"`
}

// AuthZResponse is a plugin's answer (moby's authorization.Response).
type AuthZResponse struct {
	Allow bool   `json:"Allow"`
	Msg   string `json:"Msg,omitempty"`
	Err   string `json:"Err,omitempty"`
}

// PluginDirsEnv overrides where plugins are looked for (a colon-separated
// list of directories), so tests need not write under /run or /etc.
const PluginDirsEnv = "MINIRUN_DOCKER_PLUGIN_DIRS"

// pluginDirs are Docker's discovery directories (pkg/plugins/discovery.go):
// sockets in /run/docker/plugins, spec files in /etc and /usr/lib.
func pluginDirs() []string {
	if v := os.Getenv(PluginDirsEnv); v != "" {
		return filepath.SplitList(v)
	}
	return []string{"/run/docker/plugins", "/etc/docker/plugins", "/usr/lib/docker/plugins"}
}

// pluginContentType is the media type of the plugin protocol, v1.2.
const pluginContentType = "application/vnd.docker.plugins.v1.2+json"

// AuthZPlugin is one activated authorization plugin.
type AuthZPlugin struct {
	Name   string
	client *http.Client
	base   string // http://plugin or the tcp address of a spec file
}

// findPlugin resolves NAME as Docker does: NAME.sock (or NAME/NAME.sock)
// in a directory, else NAME.spec (one line, the address) or NAME.json
// ({"Name","Addr"}).
func findPlugin(name string) (addr string, err error) {
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return "", fmt.Errorf("authorization plugin %q: not a plugin name", name)
	}
	for _, dir := range pluginDirs() {
		for _, p := range []string{filepath.Join(dir, name+".sock"), filepath.Join(dir, name, name+".sock")} {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&fs.ModeSocket != 0 {
				return "unix://" + p, nil
			}
		}
		for _, ext := range []string{".spec", ".json"} {
			b, err := os.ReadFile(filepath.Join(dir, name+ext))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return "", err
			}
			if ext == ".json" {
				var spec struct{ Name, Addr string }
				if err := json.Unmarshal(b, &spec); err != nil {
					return "", fmt.Errorf("plugin spec %s: %w", filepath.Join(dir, name+ext), err)
				}
				return spec.Addr, nil
			}
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", fmt.Errorf("authorization plugin %s: not found in %s", name, strings.Join(pluginDirs(), ", "))
}

// ActivateAuthZ finds the plugin NAME and performs the handshake: POST
// /Plugin.Activate must answer {"Implements": [..., "authz", ...]}.
func ActivateAuthZ(name string) (*AuthZPlugin, error) {
	addr, err := findPlugin(name)
	if err != nil {
		return nil, err
	}
	p := &AuthZPlugin{Name: name}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: address %q: %w", name, addr, err)
	}
	switch u.Scheme {
	case "unix":
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", u.Path)
		}}
		p.client, p.base = &http.Client{Transport: tr, Timeout: 30 * time.Second}, "http://plugin"
	case "tcp":
		p.client, p.base = &http.Client{Timeout: 30 * time.Second}, "http://"+u.Host
	default:
		return nil, fmt.Errorf("plugin %s: address %q: want unix:// or tcp://", name, addr)
	}
	var act struct{ Implements []string }
	if err := p.call("/Plugin.Activate", nil, &act); err != nil {
		return nil, err
	}
	for _, i := range act.Implements {
		if i == "authz" {
			return p, nil
		}
	}
	return nil, fmt.Errorf("plugin %s implements %v, not authz", name, act.Implements)
}

func (p *AuthZPlugin) call(method string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, p.base+method, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", pluginContentType)
	req.Header.Set("Content-Type", pluginContentType)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("plugin %s: %s: %w", p.Name, method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("plugin %s: %s: %w", p.Name, method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("plugin %s: %s: %s: %s", p.Name, method, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("plugin %s: %s: %w", p.Name, method, err)
	}
	return nil
}

// authzHandler asks every plugin, in order, before next serves a request,
// as dockerd's authorization middleware does (pkg/authorization/
// middleware.go, authz.go): the body goes along only when it is JSON and
// under maxBodyBytes; a refusal is 403 with "authorization denied by plugin
// NAME: MSG", a plugin's error is 500 with its Err.
func authzHandler(plugins []*AuthZPlugin, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		areq := AuthZRequest{RequestMethod: r.Method, RequestURI: r.URL.RequestURI(), RequestHeaders: map[string]string{}}
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
		for _, p := range plugins {
			var res AuthZResponse
			if err := p.call("/AuthZPlugin.AuthZReq", areq, &res); err != nil {
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
		checkResponse(plugins, areq, rr)
	})
}
