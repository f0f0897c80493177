package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is etcd's client port (IANA-registered), used when a URL
// names none.
const DefaultPort = "2379"

// RequestTimeout bounds one request whose context has no deadline of its
// own. Every call here is a single small read or write of a single-member
// or healthy cluster, answered in milliseconds; a store that takes seconds
// is broken, and the daemon should say so rather than wait.
const RequestTimeout = 5 * time.Second

// DialTimeout bounds the TCP connect. A stopped etcd refuses at once
// (ECONNREFUSED); this is for a host that does not answer at all.
const DialTimeout = 2 * time.Second

// maxResponse caps what one answer may hold (a List of a whole prefix).
// etcd's own default request limit is 1.5 MiB (--max-request-bytes); the
// network state of a cluster is far below this.
const maxResponse = 64 << 20

// Client talks to one etcd member through its v3 JSON gateway. It is safe
// for concurrent use; its zero value is not usable: call New.
type Client struct {
	addr string // HOST:PORT, the prefix of every error
	base string // http://HOST:PORT
	hc   *http.Client
}

// New returns a client for the etcd at rawURL, which is etcd://HOST:PORT
// (Docker's --cluster-store spelling) or http://HOST:PORT; the port
// defaults to 2379. New only checks the URL: it does not connect, so a
// daemon can start before its store (the first call says if it is down).
// TLS (https://), several endpoints and key prefixes in the path are not
// supported and are refused with a one-line error.
func New(rawURL string) (*Client, error) {
	bad := func(why string) error { return fmt.Errorf("etcd url %q: %s", rawURL, why) }
	if !strings.Contains(rawURL, "://") {
		return nil, bad("no scheme: use etcd://HOST:PORT")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, bad(err.Error())
	}
	switch u.Scheme {
	case "etcd", "http":
	case "https":
		return nil, bad("TLS is not supported: use etcd://HOST:PORT on a trusted network")
	default:
		return nil, bad(fmt.Sprintf("scheme %q is not supported: use etcd://HOST:PORT", u.Scheme))
	}
	switch {
	case strings.Contains(u.Host, ","):
		return nil, bad("one endpoint only")
	case u.User != nil:
		return nil, bad("user names and passwords are not supported")
	case u.Path != "" && u.Path != "/":
		return nil, bad("a path (key prefix) is not supported")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, bad("a query or fragment is not supported")
	case u.Hostname() == "":
		return nil, bad("no host: use etcd://HOST:PORT")
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, bad(fmt.Sprintf("bad port %q", port))
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	tr := &http.Transport{
		// Proxy stays nil on purpose: an HTTP_PROXY set for image pulls
		// must not carry the cluster store's traffic.
		DialContext: (&net.Dialer{
			Timeout: DialTimeout,
			// TCP keepalive is what notices a peer that vanished
			// without a FIN under a long, quiet watch stream.
			KeepAlive: 15 * time.Second,
		}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{addr: addr, base: "http://" + addr, hc: &http.Client{Transport: tr}}, nil
}

// NewDial is New with dial opening the client's connections instead of a
// net.Dialer. The dial must honour ctx; DialTimeout is then its to keep.
// It is for a process that stands for several hosts, each a network
// namespace of its own: the client of one "host" dials from inside that
// namespace (the overlay chapter of `minirun explain`, course/overlay.go),
// since net/http dials on a goroutine of its own, in whatever namespace
// that goroutine's thread is.
func NewDial(rawURL string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Client, error) {
	c, err := New(rawURL)
	if err != nil {
		return nil, err
	}
	c.hc.Transport.(*http.Transport).DialContext = dial
	return c, nil
}

// Addr returns the HOST:PORT the client talks to.
func (c *Client) Addr() string { return c.addr }

// Close closes the client's idle connections. Open watches end when their
// contexts do.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Error is an error etcd answered (as opposed to one reaching it): the
// gateway's {"error": "...", "code": N}. Callers find it with errors.As.
type Error struct {
	// Code is the gRPC status code (https://grpc.io/docs/guides/status-codes/):
	// CodeNotFound for an unknown lease, CodeOutOfRange for a compacted
	// revision, 3 InvalidArgument for a bad request.
	Code int
	// Message is etcd's text, such as "etcdserver: requested lease not found".
	Message string
}

// gRPC status codes the package looks at.
const (
	// CodeNotFound is gRPC's NOT_FOUND, which etcd answers for a lease
	// that expired or was revoked.
	CodeNotFound = 5
	// CodeOutOfRange is gRPC's OUT_OF_RANGE, which etcd answers for a read
	// at a revision that was compacted away.
	CodeOutOfRange = 11
)

// Error returns etcd's message.
func (e *Error) Error() string { return e.Message }

// gatewayError is the body of a failed call. Unary calls answer
// {"error":"msg","message":"msg","code":5}; a failed stream writes
// {"error":{"grpc_code":5,"http_code":404,"message":"msg",...}} instead
// (grpc-gateway v1, runtime.ForwardResponseStream). Both land here.
type gatewayError struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
	Code    int             `json:"code"`
}

// toError turns a gateway error body into an *Error, or nil if raw holds
// no error.
func toError(raw json.RawMessage, message string, code int) *Error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if message == "" {
			message = s
		}
		return &Error{Code: code, Message: message}
	}
	var st struct {
		GrpcCode int    `json:"grpc_code"`
		Message  string `json:"message"`
	}
	if json.Unmarshal(raw, &st) == nil && st.Message != "" {
		return &Error{Code: st.GrpcCode, Message: st.Message}
	}
	return &Error{Code: code, Message: string(raw)}
}

// wrap prefixes err with the server and the operation.
func (c *Client) wrap(op string, err error) error {
	return fmt.Errorf("etcd %s: %s: %w", c.addr, op, err)
}

// transportError makes a failed round trip short and clear: it drops
// net/http's `Post "http://.../v3/kv/range":` (the server is already in
// the prefix) and names a timeout as one.
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer in time: %w", err)
	}
	return err
}

// withTimeout gives ctx RequestTimeout if it has no deadline of its own.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, RequestTimeout)
}

// send posts req as JSON to path, a gateway route, and returns the answer,
// whose body the caller closes. Unary and streaming calls alike are one
// POST; what differs is how the answer is read.
func (c *Client) send(ctx context.Context, path string, req any) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	return resp, nil
}

// post sends one unary gateway call: req as JSON to path, the answer into
// resp. A context without a deadline gets RequestTimeout.
func (c *Client) post(ctx context.Context, op, path string, req, resp any) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	hresp, err := c.send(ctx, path, req)
	if err != nil {
		return c.wrap(op, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponse+1))
	if err != nil {
		return c.wrap(op, transportError(ctx, err))
	}
	if len(data) > maxResponse {
		return c.wrap(op, fmt.Errorf("answer larger than %d bytes", maxResponse))
	}
	if hresp.StatusCode != http.StatusOK {
		var ge gatewayError
		if json.Unmarshal(data, &ge) == nil {
			if e := toError(ge.Error, ge.Message, ge.Code); e != nil {
				return c.wrap(op, e)
			}
		}
		return c.wrap(op, fmt.Errorf("%s: %s", hresp.Status, bytes.TrimSpace(data)))
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return c.wrap(op, fmt.Errorf("bad answer: %w", err))
	}
	return nil
}
