package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/etcdtest"
)

// newClient starts an etcd for t and returns a client of it.
func newClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(etcdtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestNewURL(t *testing.T) {
	for _, tc := range []struct{ url, addr, err string }{
		{"etcd://127.0.0.1:2379", "127.0.0.1:2379", ""},
		{"http://10.0.0.5:12379/", "10.0.0.5:12379", ""},
		{"etcd://store.example", "store.example:2379", ""},
		{"etcd://[::1]:2379", "[::1]:2379", ""},
		{"127.0.0.1:2379", "", "no scheme"},
		{"https://127.0.0.1:2379", "", "TLS is not supported"},
		{"consul://127.0.0.1:8500", "", `scheme "consul" is not supported`},
		{"etcd://a:2379,b:2379", "", "one endpoint only"},
		{"etcd://127.0.0.1:2379/minirun", "", "path"},
		{"etcd://u:p@127.0.0.1:2379", "", "user names"},
		{"etcd://:2379", "", "no host"},
		{"etcd://h:99999", "", "bad port"},
		{"etcd://h:x", "", "invalid port"},
		{"etcd://h:2379?x=1", "", "query"},
	} {
		c, err := New(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New(%q) = %v, want one line containing %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || c.Addr() != tc.addr {
			t.Errorf("New(%q) = %v, %v; want %s", tc.url, c, err, tc.addr)
		}
	}
}

// TestPrefixEnd checks the range end against clientv3's GetPrefixRangeEnd
// results.
func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ prefix, end string }{
		{"/a/b/", "/a/b0"},
		{"a", "b"},
		{"a\xff", "b"},
		{"a\xff\xff", "b"},
		{"\xff\xff", "\x00"},
	} {
		if got := string(prefixEnd(tc.prefix)); got != tc.end {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.prefix, got, tc.end)
		}
	}
}

func TestKV(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()

	if _, ok, err := c.Get(ctx, "/k"); err != nil || ok {
		t.Fatalf("Get of a missing key = %v, %v; want not found", ok, err)
	}
	if err := c.Put(ctx, "/k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "/k"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v, %v; want v1", v, ok, err)
	}
	// Binary and empty values survive the base64 round trip.
	bin := []byte{0, 1, 0xfe, 0xff, '\n', '"'}
	if err := c.Put(ctx, "/bin", bin); err != nil {
		t.Fatal(err)
	}
	if v, _, err := c.Get(ctx, "/bin"); err != nil || !bytes.Equal(v, bin) {
		t.Fatalf("Get(/bin) = %q, %v", v, err)
	}
	if err := c.Put(ctx, "/empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "/empty"); err != nil || !ok || v == nil || len(v) != 0 {
		t.Fatalf("Get(/empty) = %q, %v, %v; want an existing empty value", v, ok, err)
	}
	if err := c.Delete(ctx, "/k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get(ctx, "/k"); err != nil || ok {
		t.Fatalf("Get after Delete = %v, %v", ok, err)
	}
	if err := c.Delete(ctx, "/k"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

// TestListPrefix: listing /a/b/ must not return /a/b or /a/bc (a sibling
// prefix), and the revision is the store's.
func TestListPrefix(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, k := range []string{"/a/b", "/a/bc", "/a/bc/x", "/a/b/1", "/a/b/2/deep", "/a/c"} {
		if err := c.Put(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	kvs, rev, err := c.List(ctx, "/a/b/")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"/a/b/1": []byte("v/a/b/1"), "/a/b/2/deep": []byte("v/a/b/2/deep")}
	if !reflect.DeepEqual(kvs, want) {
		t.Errorf("List(/a/b/) = %q, want %q", kvs, want)
	}
	if rev != 7 { // 6 puts after the store's first revision, 1
		t.Errorf("List revision = %d, want 7", rev)
	}
	if kvs, _, err := c.List(ctx, "/none/"); err != nil || len(kvs) != 0 {
		t.Errorf("List(/none/) = %q, %v; want empty", kvs, err)
	}
	all, _, err := c.List(ctx, "")
	if err != nil || len(all) != 6 {
		t.Errorf("List(\"\") = %d keys, %v; want 6", len(all), err)
	}

	if err := c.DeletePrefix(ctx, "/a/b/"); err != nil {
		t.Fatal(err)
	}
	left, _, err := c.List(ctx, "/a/")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 4 || left["/a/b"] == nil || left["/a/bc"] == nil || left["/a/bc/x"] == nil {
		t.Errorf("after DeletePrefix(/a/b/): %q; want /a/b, /a/bc, /a/bc/x and /a/c kept", left)
	}
	if err := c.DeletePrefix(ctx, ""); err == nil {
		t.Error("DeletePrefix(\"\") was accepted")
	}
}

func TestPutNewAndCompareAndDelete(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	if ok, err := c.PutNew(ctx, "/vni/4097", []byte("host-a")); err != nil || !ok {
		t.Fatalf("first PutNew = %v, %v", ok, err)
	}
	if ok, err := c.PutNew(ctx, "/vni/4097", []byte("host-b")); err != nil || ok {
		t.Fatalf("second PutNew = %v, %v; want not created", ok, err)
	}
	if v, _, _ := c.Get(ctx, "/vni/4097"); string(v) != "host-a" {
		t.Fatalf("value after losing PutNew = %q", v)
	}
	// Compare on the value: someone else's claim (or an empty guess)
	// stays.
	for _, notOurs := range [][]byte{[]byte("host-b"), nil} {
		if ok, err := c.CompareAndDelete(ctx, "/vni/4097", notOurs); err != nil || ok {
			t.Fatalf("CompareAndDelete(%q) = %v, %v; want not deleted", notOurs, ok, err)
		}
	}
	if _, ok, _ := c.Get(ctx, "/vni/4097"); !ok {
		t.Fatal("CompareAndDelete with another value deleted the key")
	}
	if ok, err := c.CompareAndDelete(ctx, "/vni/4097", []byte("host-a")); err != nil || !ok {
		t.Fatalf("CompareAndDelete(ours) = %v, %v", ok, err)
	}
	if _, ok, _ := c.Get(ctx, "/vni/4097"); ok {
		t.Fatal("key still there after CompareAndDelete")
	}
	if ok, err := c.CompareAndDelete(ctx, "/vni/4097", []byte("host-a")); err != nil || ok {
		t.Fatalf("CompareAndDelete of a missing key = %v, %v", ok, err)
	}
	// Empty value: claimable and releasable.
	if ok, err := c.PutNew(ctx, "/e", nil); err != nil || !ok {
		t.Fatalf("PutNew(/e, empty) = %v, %v", ok, err)
	}
	if ok, err := c.CompareAndDelete(ctx, "/e", []byte("x")); err != nil || ok {
		t.Fatalf("CompareAndDelete(/e, x) = %v, %v", ok, err)
	}
	if ok, err := c.CompareAndDelete(ctx, "/e", nil); err != nil || !ok {
		t.Fatalf("CompareAndDelete(/e, empty) = %v, %v", ok, err)
	}
}

// TestPutNewRace: 20 hosts claim the same subnet at once; exactly one wins
// and the key holds the winner's value.
func TestPutNewRace(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	won := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			won[i], errs[i] = c.PutNew(ctx, "/subnet/10.20.0.0-24", fmt.Appendf(nil, "host-%d", i))
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("PutNew %d: %v", i, errs[i])
		}
		if won[i] {
			if winner >= 0 {
				t.Fatalf("both %d and %d created the key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no PutNew created the key")
	}
	if v, _, _ := c.Get(ctx, "/subnet/10.20.0.0-24"); string(v) != fmt.Sprintf("host-%d", winner) {
		t.Fatalf("key holds %q, winner was host-%d", v, winner)
	}
}

// nextEvent waits for one watch event.
func nextEvent(t *testing.T, ch <-chan WatchEvent) WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event in 5 s")
	}
	return WatchEvent{}
}

// TestWatch: changes made before the watch started (from a List's
// revision) and after it arrive in order, puts with values, deletes
// without; a sibling prefix is not seen; ending ctx closes the channel
// without an error.
func TestWatch(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	if err := c.Put(ctx, "/net/ep/1", []byte("old")); err != nil {
		t.Fatal(err)
	}
	_, rev, err := c.List(ctx, "/net/ep/")
	if err != nil {
		t.Fatal(err)
	}
	// Before the watch: these must be replayed from rev+1.
	c.Put(ctx, "/net/ep/2", []byte("two"))
	c.Put(ctx, "/net/epx", []byte("sibling"))
	c.Delete(ctx, "/net/ep/1")

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Watch(wctx, "/net/ep/", rev+1)
	if err != nil {
		t.Fatal(err)
	}
	// After the watch started.
	c.Put(ctx, "/net/ep/3", []byte("three"))
	c.Delete(ctx, "/net/ep/2")

	want := []WatchEvent{
		{Type: EventPut, Key: "/net/ep/2", Value: []byte("two"), ModRevision: rev + 1},
		{Type: EventDelete, Key: "/net/ep/1", ModRevision: rev + 3},
		{Type: EventPut, Key: "/net/ep/3", Value: []byte("three"), ModRevision: rev + 4},
		{Type: EventDelete, Key: "/net/ep/2", ModRevision: rev + 5},
	}
	for i, w := range want {
		if got := nextEvent(t, ch); !reflect.DeepEqual(got, w) {
			t.Fatalf("event %d = %+v (%s), want %+v (%s)", i, got, got.Type, w, w.Type)
		}
	}
	cancel()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("event after cancel: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after ctx ended")
	}
}

// TestWatchCompacted: a watch from a compacted revision ends with
// ErrCompacted (the caller must list again).
func TestWatchCompacted(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for i := range 3 {
		c.Put(ctx, "/c/k", []byte{byte('0' + i)})
	}
	_, rev, _ := c.List(ctx, "/c/")
	var resp empty
	if err := c.post(ctx, "compact", "/v3/kv/compaction", struct {
		Revision i64 `json:"revision"`
	}{i64(rev)}, &resp); err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctx, "/c/", 2)
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, ch)
	if !errors.Is(ev.Err, ErrCompacted) || !strings.Contains(ev.Err.Error(), "etcd "+c.Addr()) {
		t.Fatalf("event = %+v, want ErrCompacted naming the server", ev)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after the error event")
	}
}

// TestWatchServerGone: when etcd dies the watch ends with an error event
// and a closed channel, and after a restart on the same port a new
// List+Watch sees the data and new changes (what a daemon's reconnect
// loop does).
func TestWatchServerGone(t *testing.T) {
	srv := etcdtest.StartServer(t)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Put(ctx, "/h/a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctx, "/h/", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ev := nextEvent(t, ch)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "etcd "+c.Addr()+": watch /h/") {
		t.Fatalf("event after etcd died = %+v, want a stream error", ev)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open")
	}

	srv.Restart()
	kvs, rev, err := c.List(ctx, "/h/")
	if err != nil || string(kvs["/h/a"]) != "1" {
		t.Fatalf("List after restart = %q, %v", kvs, err)
	}
	ch, err = c.Watch(ctx, "/h/", rev+1)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(ctx, "/h/b", []byte("2"))
	if ev := nextEvent(t, ch); ev.Key != "/h/b" || ev.Err != nil {
		t.Fatalf("event after restart = %+v", ev)
	}
}

func TestLease(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	id, err := c.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutLease(ctx, "/hosts/a", []byte("10.0.0.1"), id); err != nil {
		t.Fatal(err)
	}
	// Kept alive well past its TTL, the key stays.
	for range 6 {
		if err := c.KeepAliveOnce(ctx, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, ok, err := c.Get(ctx, "/hosts/a"); err != nil || !ok {
		t.Fatalf("leased key gone while kept alive: %v, %v", ok, err)
	}
	// Left alone, the lease expires and the key goes with it. etcd checks
	// expiry every 500 ms, after the TTL (1 s here, the minimum with the
	// test's 100 ms election timeout).
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ok, err := c.Get(ctx, "/hosts/a")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leased key still there 10 s after the last keepalive")
		}
		time.Sleep(100 * time.Millisecond)
	}
	err = c.KeepAliveOnce(ctx, id)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNotFound || !strings.Contains(err.Error(), "lease not found") {
		t.Fatalf("KeepAliveOnce of an expired lease = %v, want lease not found", err)
	}
	if err := c.Revoke(ctx, id); err != nil {
		t.Fatalf("Revoke of an expired lease = %v, want nil", err)
	}
	if err := c.PutLease(ctx, "/hosts/b", nil, id); err == nil || !strings.Contains(err.Error(), "etcd "+c.Addr()+": put /hosts/b: etcdserver: requested lease not found") {
		t.Fatalf("PutLease with an expired lease = %v", err)
	}

	// Revoke deletes the keys at once.
	id, err = c.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	c.PutLease(ctx, "/hosts/c", []byte("x"), id)
	if err := c.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "/hosts/c"); ok {
		t.Fatal("key still there after Revoke")
	}
	if _, err := c.Grant(ctx, 0); err == nil {
		t.Fatal("Grant(0) accepted")
	}
}

// TestErrorCarriesEtcdMessage: an error etcd answers keeps its words and
// code, behind the server and the operation.
func TestErrorCarriesEtcdMessage(t *testing.T) {
	c := newClient(t)
	err := c.PutLease(context.Background(), "/x", []byte("v"), 12345)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("err = %#v, want an *Error with code %d", err, CodeNotFound)
	}
	want := "etcd " + c.Addr() + ": put /x: etcdserver: requested lease not found"
	if err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

// TestDeadServer: a stopped etcd fails every call at once with a clear
// error (connection refused), not after a timeout.
func TestDeadServer(t *testing.T) {
	srv := etcdtest.StartServer(t)
	srv.Stop()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"get":   func() error { _, _, err := c.Get(ctx, "/k"); return err },
		"put":   func() error { return c.Put(ctx, "/k", nil) },
		"grant": func() error { _, err := c.Grant(ctx, 5); return err },
		"keep":  func() error { return c.KeepAliveOnce(ctx, 1) },
		"watch": func() error { _, err := c.Watch(ctx, "/k/", 0); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s: no error from a stopped etcd", name)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "etcd "+c.Addr()+": ") ||
			!strings.HasSuffix(err.Error(), "connection refused") || strings.Contains(err.Error(), `Post "`) ||
			strings.Contains(err.Error(), "no answer") {
			t.Errorf("%s: %q; want 'etcd %s: ...: connection refused'", name, err, c.Addr())
		}
		if took > time.Second {
			t.Errorf("%s: took %v to fail", name, took)
		}
		t.Logf("%s: %v (%v)", name, err, took)
	}
}

// TestUnansweredServer: a server that accepts and never answers gives a
// timeout error within the context's deadline, naming the server.
func TestUnansweredServer(t *testing.T) {
	srv := etcdtest.StartServer(t)
	srv.Stop()
	// SIGSTOP-like: a listener that never reads. Reuse the stopped port.
	l, err := listenSilent(srv.ClientAddr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", srv.ClientAddr, err)
	}
	defer l.Close()
	c, _ := New(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = c.Get(ctx, "/k")
	if err == nil || !strings.Contains(err.Error(), "no answer in time") || !strings.HasPrefix(err.Error(), "etcd "+c.Addr()) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := c.Watch(ctx2, "/k/", 0); err == nil || !strings.HasPrefix(err.Error(), "etcd "+c.Addr()+": watch /k/") {
		t.Fatalf("watch err = %v", err)
	}
}

// listenSilent accepts connections on addr and never answers them.
func listenSilent(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return l, nil
}

// TestGatewayErrorShapes: the two error bodies of grpc-gateway v1, the
// unary one and the one a failed stream writes, both keep etcd's words
// and code.
func TestGatewayErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Error
	}{
		{`{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}`,
			Error{Code: 11, Message: "etcdserver: mvcc: required revision has been compacted"}},
		{`{"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found","http_status":"Not Found"}}`,
			Error{Code: 5, Message: "etcdserver: requested lease not found"}},
		{`{"error":"invalid character 'x'","code":3}`, Error{Code: 3, Message: "invalid character 'x'"}},
	} {
		var ge gatewayError
		if err := json.Unmarshal([]byte(tc.body), &ge); err != nil {
			t.Fatal(err)
		}
		got := toError(ge.Error, ge.Message, ge.Code)
		if got == nil || *got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.body, got, tc.want)
		}
	}
	if e := toError(nil, "", 0); e != nil {
		t.Errorf("no error field gave %v", e)
	}
}

// NewDial's client opens every connection with the given dial (the
// overlay chapter's hosts dial from inside their namespaces), and
// refuses what New refuses.
func TestNewDialUsesTheDial(t *testing.T) {
	url := etcdtest.Start(t)
	var mu sync.Mutex
	var dialed []string
	c, err := NewDial(url, func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Put(ctx, "/k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "/k"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("get /k: %q %v %v", v, ok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) == 0 || dialed[0] != c.Addr() {
		t.Errorf("dialed %v, want %s", dialed, c.Addr())
	}
	if _, err := NewDial("https://127.0.0.1:2379", nil); err == nil {
		t.Error("NewDial took a URL New refuses")
	}
}
