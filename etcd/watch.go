package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// EventType says what happened to a key.
type EventType int

// The two kinds of change etcd reports (mvccpb.Event.EventType).
const (
	// EventPut is a create or an update.
	EventPut EventType = iota
	// EventDelete is a delete, a lease expiry included.
	EventDelete
)

// String returns "PUT" or "DELETE", etcd's names.
func (t EventType) String() string {
	if t == EventDelete {
		return "DELETE"
	}
	return "PUT"
}

// WatchEvent is one change seen by Watch, or, with Err set, the reason the
// watch ended; such an event is the last before the channel closes.
type WatchEvent struct {
	// Type is EventPut or EventDelete.
	Type EventType
	// Key is the full key.
	Key string
	// Value is the new value of a put; nil for a delete.
	Value []byte
	// ModRevision is the store revision of this change; a watch started
	// again from ModRevision+1 continues right after it.
	ModRevision int64
	// Err, when set, is why the watch ended: ErrCompacted (wrapped),
	// a cancel by the server, or a broken stream.
	Err error
}

// ErrCompacted is the error (wrapped) of a watch whose start revision etcd
// has already compacted away: the changes in between are lost, so the
// caller must List again and watch from the new revision.
var ErrCompacted = errors.New("required revision has been compacted")

// watchCreateRequest is WatchRequest{create_request: WatchCreateRequest}.
type watchCreateRequest struct {
	Create struct {
		Key           []byte `json:"key"`
		RangeEnd      []byte `json:"range_end,omitempty"`
		StartRevision i64    `json:"start_revision,omitempty"`
	} `json:"create_request"`
}

// watchMessage is one line of the watch stream, as etcd 3.4.23 writes it:
//
//	{"result":{"header":{...,"revision":"8"},"created":true}}
//	{"result":{"header":{...},"events":[{"kv":{"key":"dzE=","mod_revision":"7",...,"value":"MQ=="}},
//	                                    {"type":"DELETE","kv":{"key":"dzE=","mod_revision":"8"}}]}}
//	{"result":{"header":{...},"canceled":true,"compact_revision":"3"}}
//
// "type" is left out for PUT, its zero value.
type watchMessage struct {
	Result *struct {
		Header          responseHeader `json:"header"`
		Created         bool           `json:"created"`
		Canceled        bool           `json:"canceled"`
		CompactRevision i64            `json:"compact_revision"`
		CancelReason    string         `json:"cancel_reason"`
		Events          []struct {
			Type string   `json:"type"`
			Kv   keyValue `json:"kv"`
		} `json:"events"`
	} `json:"result"`
	gatewayError
}

// Watch reports every change to keys that start with prefix, from
// revision fromRev on (0: from now; List's rev+1: right after that list),
// in revision order (Watch API, https://etcd.io/docs/v3.4/learning/api/#watch-api;
// through the gateway it is one POST /v3/watch whose answer streams one
// JSON object per line).
//
// Watch returns once etcd has confirmed the watch (or with an error, within
// RequestTimeout). The channel closes when ctx ends or the stream breaks:
// a compaction past fromRev (ErrCompacted), a cancel by the server, or a
// lost connection (etcd restarted). Except when ctx ended, the last event
// before the close has Err set. Either way the caller cannot know what it
// missed: it must List the prefix again and Watch from the new revision
// +1, which is also how it reconnects to an etcd that came back.
//
// NOTE: a peer that vanishes without closing the connection (power cut,
// partition) is noticed only by TCP keepalive (about 2.5 minutes on
// Linux defaults); callers that need sooner should also poll.
func (c *Client) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan WatchEvent, error) {
	op := "watch " + prefix
	if fromRev < 0 {
		return nil, c.wrap(op, fmt.Errorf("bad start revision %d", fromRev))
	}
	var req watchCreateRequest
	req.Create.Key, req.Create.RangeEnd = prefixRange(prefix)
	req.Create.StartRevision = i64(fromRev)

	// The stream has no deadline, only ctx; until etcd confirms the watch,
	// a timer stands in for one so a server that accepts the connection
	// and says nothing cannot hang the caller.
	wctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(RequestTimeout, cancel)
	fail := func(err error) (<-chan WatchEvent, error) {
		timer.Stop()
		// Only the timer can have ended wctx while ctx is live.
		if ctx.Err() == nil && wctx.Err() != nil {
			err = fmt.Errorf("no answer in %v: %w", RequestTimeout, err)
		}
		cancel()
		return nil, c.wrap(op, err)
	}
	resp, err := c.send(wctx, "/v3/watch", req)
	if err != nil {
		return fail(err)
	}
	dec := json.NewDecoder(resp.Body)
	var first watchMessage
	if err := dec.Decode(&first); err != nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fail(errors.New(resp.Status))
		}
		return fail(err)
	}
	if err := c.watchError(&first); err != nil {
		resp.Body.Close()
		return fail(err)
	}
	if first.Result == nil || !first.Result.Created {
		resp.Body.Close()
		return fail(errors.New("etcd did not confirm the watch"))
	}
	if !timer.Stop() {
		resp.Body.Close()
		return fail(context.DeadlineExceeded)
	}

	ch := make(chan WatchEvent)
	go func() {
		defer close(ch)
		defer cancel()
		defer resp.Body.Close()
		send := func(ev WatchEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-wctx.Done():
				return false
			}
		}
		for {
			var msg watchMessage
			if err := dec.Decode(&msg); err != nil {
				if wctx.Err() != nil {
					return // the caller's ctx ended: no error to tell
				}
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = fmt.Errorf("stream ended (%w)", err)
				}
				send(WatchEvent{Err: c.wrap(op, err)})
				return
			}
			if err := c.watchError(&msg); err != nil {
				send(WatchEvent{Err: c.wrap(op, err)})
				return
			}
			if msg.Result == nil {
				continue
			}
			for _, e := range msg.Result.Events {
				ev := WatchEvent{Key: string(e.Kv.Key), ModRevision: int64(e.Kv.ModRevision)}
				if e.Type == "DELETE" {
					ev.Type = EventDelete
				} else {
					ev.Value = e.Kv.Value
					if ev.Value == nil {
						ev.Value = []byte{}
					}
				}
				if !send(ev) {
					return
				}
			}
		}
	}()
	return ch, nil
}

// watchError returns the error a stream message carries: a gateway error,
// or a cancel by the server (the watch is over then).
func (c *Client) watchError(msg *watchMessage) error {
	if e := toError(msg.Error, msg.Message, msg.Code); e != nil {
		return e
	}
	r := msg.Result
	if r == nil || !r.Canceled {
		return nil
	}
	if r.CompactRevision > 0 {
		return fmt.Errorf("%w (compacted up to revision %d)", ErrCompacted, r.CompactRevision)
	}
	if r.CancelReason != "" {
		return fmt.Errorf("canceled by etcd: %s", r.CancelReason)
	}
	return errors.New("canceled by etcd")
}
