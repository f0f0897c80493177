package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Leases (https://etcd.io/docs/v3.4/learning/api/#lease-api): a lease is
// a TTL that etcd counts down; keys put with it are deleted when it runs
// out. The holder renews it with KeepAliveOnce, well before the TTL (a
// third of it, as clientv3 does), so a host that dies or is cut off loses
// its keys TTL seconds later, and the other hosts see the deletes in
// their watches.

type leaseGrantRequest struct {
	TTL i64 `json:"TTL"`
}

type leaseGrantResponse struct {
	ID    i64    `json:"ID"`
	TTL   i64    `json:"TTL"`
	Error string `json:"error"`
}

type leaseIDRequest struct {
	ID i64 `json:"ID"`
}

// leaseKeepAliveResponse is one message of the LeaseKeepAlive stream as
// the gateway writes it: {"result":{"ID":"..","TTL":".."}}, or
// {"error":{...}} when the stream fails (or a unary-style error body when
// the request itself is refused).
type leaseKeepAliveResponse struct {
	Result *struct {
		ID  i64 `json:"ID"`
		TTL i64 `json:"TTL"`
	} `json:"result"`
	gatewayError
}

// Grant creates a lease of ttlSeconds and returns its id. etcd may raise a
// very short TTL to its minimum (1.5 election timeouts, rounded up to
// whole seconds: 2 s with the default 1 s election timeout).
func (c *Client) Grant(ctx context.Context, ttlSeconds int64) (id int64, err error) {
	op := fmt.Sprintf("grant lease of %ds", ttlSeconds)
	if ttlSeconds <= 0 {
		return 0, c.wrap(op, errors.New("ttl must be positive"))
	}
	var resp leaseGrantResponse
	if err := c.post(ctx, op, "/v3/lease/grant", leaseGrantRequest{TTL: i64(ttlSeconds)}, &resp); err != nil {
		return 0, err
	}
	if resp.Error != "" { // LeaseGrantResponse has an error field of its own
		return 0, c.wrap(op, &Error{Message: resp.Error})
	}
	if resp.ID == 0 {
		return 0, c.wrap(op, errors.New("answer has no lease id"))
	}
	return int64(resp.ID), nil
}

// KeepAliveOnce renews lease id to its full TTL. LeaseKeepAlive is a
// bidirectional stream in gRPC; through the gateway one POST carries one
// request and reads the first answer, which is all a periodic renewal
// needs. A lease that expired or was revoked is an error whose *Error has
// CodeNotFound: its keys are gone, and the caller must grant a new lease
// and put them again.
func (c *Client) KeepAliveOnce(ctx context.Context, id int64) error {
	op := "keep lease " + strconv.FormatInt(id, 16) + " alive" // hex, as etcdctl prints lease ids
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, "/v3/lease/keepalive", leaseIDRequest{ID: i64(id)})
	if err != nil {
		return c.wrap(op, err)
	}
	defer resp.Body.Close()
	var msg leaseKeepAliveResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&msg); err != nil {
		if resp.StatusCode != http.StatusOK {
			return c.wrap(op, errors.New(resp.Status))
		}
		return c.wrap(op, fmt.Errorf("bad answer: %w", transportError(ctx, err)))
	}
	if e := toError(msg.Error, msg.Message, msg.Code); e != nil {
		return c.wrap(op, e)
	}
	// An unknown lease is not a stream error: etcd answers it with TTL 0
	// (and clientv3 turns that into ErrLeaseNotFound, as here).
	if msg.Result == nil || msg.Result.TTL <= 0 {
		return c.wrap(op, &Error{Code: CodeNotFound, Message: "etcdserver: requested lease not found"})
	}
	return nil
}

// Revoke ends lease id at once, deleting its keys: a host that stops
// cleanly withdraws its presence now instead of TTL seconds later. A
// lease that has already expired is not an error (its keys are gone
// either way).
func (c *Client) Revoke(ctx context.Context, id int64) error {
	op := "revoke lease " + strconv.FormatInt(id, 16)
	err := c.post(ctx, op, "/v3/lease/revoke", leaseIDRequest{ID: i64(id)}, &empty{})
	var e *Error
	if errors.As(err, &e) && e.Code == CodeNotFound {
		return nil
	}
	return err
}
