package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// The request and response messages below are the JSON forms of the
// messages in etcd's rpc.proto and kv.proto
// (https://etcd.io/docs/v3.4/dev-guide/api_reference_v3/), with only the
// fields minirun uses. []byte fields are proto "bytes": encoding/json's
// base64 is the proto3 JSON encoding of them.

// i64 is a proto int64 in JSON: proto3's JSON mapping writes it as a
// string ("revision":"42") because JSON numbers lose precision past 2^53.
// It reads both forms.
type i64 int64

// MarshalJSON writes the quoted decimal form.
func (n i64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

// UnmarshalJSON reads "42" or 42.
func (n *i64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad int64 %s", b)
	}
	*n = i64(v)
	return nil
}

// responseHeader is etcdserverpb.ResponseHeader; revision is the store's
// revision when the request was served.
type responseHeader struct {
	Revision i64 `json:"revision"`
}

// keyValue is mvccpb.KeyValue.
type keyValue struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision i64    `json:"create_revision"`
	ModRevision    i64    `json:"mod_revision"`
	Lease          i64    `json:"lease"`
}

// rangeRequest is RangeRequest: keys in [key, range_end), or just key
// when range_end is empty.
type rangeRequest struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

type rangeResponse struct {
	Header responseHeader `json:"header"`
	Kvs    []keyValue     `json:"kvs"`
	More   bool           `json:"more"`
}

// putRequest is PutRequest; lease 0 means none.
type putRequest struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value,omitempty"`
	Lease i64    `json:"lease,omitempty"`
}

type deleteRangeRequest struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

// compare is Compare: target CREATE compares create_revision, VALUE the
// value; result EQUAL. The compared field is a member of a proto oneof
// (target_union) and is always written, "0" and "" included (pointers,
// not omitempty): a oneof left out is "not set" rather than zero. etcd
// 3.4's compareKV happens to read "not set" as zero (checked: PutNew
// passes either way), but the request should say what it compares.
// Comparing VALUE on a key that does not exist always fails (compareKV's
// caller, applyCompare), so CompareAndDelete of a missing key is false.
type compare struct {
	Key            []byte  `json:"key"`
	Target         string  `json:"target"`
	Result         string  `json:"result"`
	CreateRevision *i64    `json:"create_revision,omitempty"`
	Value          *[]byte `json:"value,omitempty"`
}

// requestOp is RequestOp, a oneof: exactly one field is set.
type requestOp struct {
	Put         *putRequest         `json:"request_put,omitempty"`
	DeleteRange *deleteRangeRequest `json:"request_delete_range,omitempty"`
}

type txnRequest struct {
	Compare []compare   `json:"compare"`
	Success []requestOp `json:"success"`
}

type txnResponse struct {
	Header    responseHeader `json:"header"`
	Succeeded bool           `json:"succeeded"`
}

// empty is an answer whose content is not used (only its status is).
type empty struct{}

// prefixEnd returns the range_end that makes a range cover every key that
// starts with prefix: the prefix with its last byte below 0xff increased
// by one and the rest cut off ("/a/b/" → "/a/b0"), as clientv3's
// GetPrefixRangeEnd does. A prefix of only 0xff bytes has no such key,
// and "\x00" as range_end means "to the end of the keyspace" (rpc.proto,
// RangeRequest.range_end).
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// prefixRange returns the key and range_end of a prefix range. An empty
// prefix is the whole keyspace: key "\x00", range_end "\x00", as clientv3's
// WithPrefix does (a range needs a non-empty key).
func prefixRange(prefix string) (key, end []byte) {
	if prefix == "" {
		return []byte{0}, []byte{0}
	}
	return []byte(prefix), prefixEnd(prefix)
}

// Get returns key's value; ok is false if the key does not exist.
// It is a linearizable read (Range, https://etcd.io/docs/v3.4/learning/api/#range).
func (c *Client) Get(ctx context.Context, key string) (val []byte, ok bool, err error) {
	var resp rangeResponse
	if err := c.post(ctx, "get "+key, "/v3/kv/range", rangeRequest{Key: []byte(key)}, &resp); err != nil {
		return nil, false, err
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	v := resp.Kvs[0].Value
	if v == nil {
		v = []byte{} // proto3 leaves an empty value out; the key exists
	}
	return v, true, nil
}

// List returns every key that starts with prefix and its value, and the
// store's revision at that read. A caller that keeps a copy up to date
// passes rev+1 to Watch: it then misses no change and sees none twice.
// A prefix ending in "/" lists that directory only: "/a/b/" does not list
// "/a/bc".
func (c *Client) List(ctx context.Context, prefix string) (kvs map[string][]byte, rev int64, err error) {
	key, end := prefixRange(prefix)
	var resp rangeResponse
	if err := c.post(ctx, "list "+prefix, "/v3/kv/range", rangeRequest{Key: key, RangeEnd: end}, &resp); err != nil {
		return nil, 0, err
	}
	if resp.More {
		// Only with a limit, which List does not set; guard anyway so a
		// partial list is never taken for the whole.
		return nil, 0, c.wrap("list "+prefix, fmt.Errorf("answer was truncated"))
	}
	kvs = make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		v := kv.Value
		if v == nil {
			v = []byte{}
		}
		kvs[string(kv.Key)] = v
	}
	return kvs, int64(resp.Header.Revision), nil
}

// Put sets key to val (Put, https://etcd.io/docs/v3.4/learning/api/#put).
func (c *Client) Put(ctx context.Context, key string, val []byte) error {
	return c.post(ctx, "put "+key, "/v3/kv/put", putRequest{Key: []byte(key), Value: val}, &empty{})
}

// PutLease sets key to val, attached to lease (from Grant): when the lease
// expires or is revoked, etcd deletes the key. This is how a host's
// presence is published: it vanishes when the host stops keeping the lease
// alive.
func (c *Client) PutLease(ctx context.Context, key string, val []byte, lease int64) error {
	req := putRequest{Key: []byte(key), Value: val, Lease: i64(lease)}
	return c.post(ctx, "put "+key, "/v3/kv/put", req, &empty{})
}

// PutNew creates key with val only if it does not exist, atomically:
// one transaction comparing the key's create_revision with 0 (a key that
// does not exist has create_revision 0; Txn,
// https://etcd.io/docs/v3.4/learning/api/#transaction). created reports
// whether this call made it. Of any number of hosts racing for the same
// key exactly one gets true, which is how VXLAN ids, subnets and
// addresses are claimed across hosts.
func (c *Client) PutNew(ctx context.Context, key string, val []byte) (created bool, err error) {
	req := txnRequest{
		Compare: []compare{{Key: []byte(key), Target: "CREATE", Result: "EQUAL", CreateRevision: new(i64)}},
		Success: []requestOp{{Put: &putRequest{Key: []byte(key), Value: val}}},
	}
	var resp txnResponse
	if err := c.post(ctx, "create "+key, "/v3/kv/txn", req, &resp); err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// Delete removes key; a key that does not exist is not an error.
func (c *Client) Delete(ctx context.Context, key string) error {
	return c.post(ctx, "delete "+key, "/v3/kv/deleterange", deleteRangeRequest{Key: []byte(key)}, &empty{})
}

// DeletePrefix removes every key that starts with prefix (as List sees
// them); none is not an error. An empty prefix is refused: it would wipe
// the whole store, which other programs may share.
func (c *Client) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return c.wrap("delete prefix", fmt.Errorf("refusing to delete every key: empty prefix"))
	}
	key, end := prefixRange(prefix)
	return c.post(ctx, "delete prefix "+prefix, "/v3/kv/deleterange", deleteRangeRequest{Key: key, RangeEnd: end}, &empty{})
}

// CompareAndDelete removes key only if its value is still val, in one
// transaction comparing the value. deleted is false if the key is gone or
// holds something else: a host releases a claim (an address, a subnet)
// only while it is still its own, never one another host took since.
func (c *Client) CompareAndDelete(ctx context.Context, key string, val []byte) (deleted bool, err error) {
	if val == nil {
		val = []byte{} // written as "", not null
	}
	req := txnRequest{
		Compare: []compare{{Key: []byte(key), Target: "VALUE", Result: "EQUAL", Value: &val}},
		Success: []requestOp{{DeleteRange: &deleteRangeRequest{Key: []byte(key)}}},
	}
	var resp txnResponse
	if err := c.post(ctx, "delete "+key+" if unchanged", "/v3/kv/txn", req, &resp); err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}
