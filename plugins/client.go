package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// MediaType is the Accept and Content-Type of every plugin call
// (Docker's plugins.VersionMimetype).
const MediaType = "application/vnd.docker.plugins.v1.2+json"

// Timeouts. Docker waits up to 30 s per call; a teaching runtime wants a
// dead or stuck plugin to say so sooner. A socket with nobody listening
// fails at once (ECONNREFUSED); CallTimeout bounds one that accepts and
// never answers.
var (
	DialTimeout = 3 * time.Second
	CallTimeout = 15 * time.Second
)

// Client talks to one plugin.
type Client struct {
	Name string
	Addr Addr
	// Implements is what /Plugin.Activate answered.
	Implements []string
	http       *http.Client
}

// NewClient returns a client for the plugin at a; it does not activate.
func NewClient(name string, a Addr) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: DialTimeout}
			return d.DialContext(ctx, a.Network, a.Address)
		},
		DisableKeepAlives: true,
	}
	return &Client{Name: name, Addr: a, http: &http.Client{Transport: tr, Timeout: CallTimeout}}
}

// Get finds the plugin called name in d and activates it, checking that it
// implements kind (e.g. "VolumeDriver").
func Get(d Dirs, name, kind string) (*Client, error) {
	a, err := d.Lookup(name)
	if err != nil {
		return nil, err
	}
	c := NewClient(name, a)
	if err := c.Activate(); err != nil {
		return nil, err
	}
	for _, k := range c.Implements {
		if k == kind {
			return c, nil
		}
	}
	return nil, fmt.Errorf("plugin %s does not implement %s (it implements %s)", name, kind, strings.Join(c.Implements, ", "))
}

// Activate is the handshake: POST /Plugin.Activate, answered by
// {"Implements": [...]}.
func (c *Client) Activate() error {
	var r struct{ Implements []string }
	if err := c.Call("/Plugin.Activate", nil, &r); err != nil {
		return err
	}
	c.Implements = r.Implements
	return nil
}

// Call POSTs req as JSON to method and decodes the answer into resp. A
// transport failure, a non-2xx status or a body that is not JSON becomes
// one line naming the plugin and the method; an "Err" in a 2xx answer is
// left to the caller (the volume protocol's own error field).
func (c *Client) Call(method string, req, resp interface{}) error {
	var body io.Reader = http.NoBody
	if req != nil {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequest(http.MethodPost, "http://plugin"+method, body)
	if err != nil {
		return err
	}
	hr.Header.Set("Accept", MediaType)
	hr.Header.Set("Content-Type", MediaType)
	r, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("plugin %s (%s): %s: %s", c.Name, c.Addr.URL(), method, cause(err))
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("plugin %s: %s: read answer: %s", c.Name, method, cause(err))
	}
	if r.StatusCode/100 != 2 {
		var e struct{ Err string }
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Err != "" {
			msg = e.Err
		}
		return &StatusError{Plugin: c.Name, Method: method, Status: r.StatusCode, Msg: OneLine(msg)}
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("plugin %s: %s: answer is not JSON: %v", c.Name, method, err)
	}
	return nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Plugin, Method string
	Status         int
	Msg            string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("plugin %s: %s: HTTP %d: %s", e.Plugin, e.Method, e.Status, e.Msg)
}

// Shell is what Call does, written as curl: the shell equivalent for the
// step tracer.
func (c *Client) Shell(method string, req interface{}) string {
	data := "{}"
	if req != nil {
		b, _ := json.Marshal(req)
		data = string(b)
	}
	h := "-H 'Accept: " + MediaType + "' -H 'Content-Type: " + MediaType + "'"
	if c.Addr.Network == "unix" {
		return fmt.Sprintf("curl -s --unix-socket %s %s -d '%s' http://plugin%s", c.Addr.Address, h, data, method)
	}
	return fmt.Sprintf("curl -s %s -d '%s' http://%s%s", h, data, c.Addr.Address, method)
}

// cause shortens a transport error to its root (ECONNREFUSED, a timeout),
// so the user sees one line, not url.Error's nesting.
func cause(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within %s (is the plugin stuck?)", CallTimeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error() + " (is the plugin running?)"
	}
	return err.Error()
}

// OneLine folds a plugin's message onto one line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
