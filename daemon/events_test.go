package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/blkiodev"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

func msg(typ events.Type, action events.Action, id string, attrs map[string]string) events.Message {
	return events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}, Scope: "local"}
}

// TestEventFilterMatchesAsDockerd is daemon/events/filter.go's Include,
// case by case.
func TestEventFilterMatchesAsDockerd(t *testing.T) {
	ctr := msg(events.ContainerEventType, events.ActionStart, "abcdef123456", map[string]string{"name": "web", "image": "busybox:latest", "tier": "front"})
	execCreate := msg(events.ContainerEventType, "exec_create: sh -c true", "abcdef123456", map[string]string{"name": "web", "image": "busybox"})
	netConnect := msg(events.NetworkEventType, events.ActionConnect, "n1d2", map[string]string{"name": "back", "type": "bridge", "container": "abcdef123456"})
	vol := msg(events.VolumeEventType, events.ActionCreate, "data", map[string]string{"driver": "local"})
	img := msg(events.ImageEventType, events.ActionTag, "sha256:feed", map[string]string{"name": "docker.io/library/alpine:3.19"})
	for _, c := range []struct {
		filters map[string][]string
		m       events.Message
		want    bool
	}{
		{nil, ctr, true},
		{map[string][]string{"type": {"container"}}, ctr, true},
		{map[string][]string{"type": {"network"}}, ctr, false},
		{map[string][]string{"type": {"network", "volume"}}, vol, true}, // values of one key: OR
		{map[string][]string{"event": {"start"}}, ctr, true},
		{map[string][]string{"event": {"die"}}, ctr, false},
		{map[string][]string{"event": {"exec_create"}}, execCreate, true}, // moby#25798: the prefix
		{map[string][]string{"event": {"exec"}}, execCreate, false},
		{map[string][]string{"container": {"abc"}}, ctr, true}, // an id prefix
		{map[string][]string{"container": {"web"}}, ctr, true}, // the name
		{map[string][]string{"container": {"db"}}, ctr, false},
		// container= applies to every type: a network event's actor is
		// the network, so it is left out, as dockerd leaves it out.
		{map[string][]string{"container": {"web"}}, netConnect, false},
		{map[string][]string{"network": {"back"}}, netConnect, true},
		{map[string][]string{"network": {"n1"}}, netConnect, true},
		{map[string][]string{"network": {"front"}}, netConnect, false},
		{map[string][]string{"volume": {"data"}}, vol, true},
		{map[string][]string{"volume": {"other"}}, vol, false},
		{map[string][]string{"type": {"container"}, "event": {"start"}}, ctr, true}, // keys: AND
		{map[string][]string{"type": {"container"}, "event": {"stop"}}, ctr, false},
		{map[string][]string{"label": {"tier"}}, ctr, true},
		{map[string][]string{"label": {"tier=front"}}, ctr, true},
		{map[string][]string{"label": {"tier=back"}}, ctr, false},
		{map[string][]string{"label": {"tier=front", "env"}}, ctr, false}, // every label must match
		{map[string][]string{"image": {"busybox"}}, ctr, true},            // the tag stripped
		{map[string][]string{"image": {"busybox:latest"}}, ctr, true},
		{map[string][]string{"image": {"alpine"}}, ctr, false},
		{map[string][]string{"image": {"alpine"}}, img, true}, // docker.io/library/ and the tag stripped
		{map[string][]string{"image": {"sha256:feed"}}, img, true},
		{map[string][]string{"scope": {"local"}}, ctr, true},
		{map[string][]string{"scope": {"swarm"}}, ctr, false},
	} {
		if got := newEventFilter(c.filters).include(c.m); got != c.want {
			t.Errorf("filters %v on %s %s %s: %v, want %v", c.filters, c.m.Type, c.m.Action, c.m.Actor.ID, got, c.want)
		}
	}
}

// TestEventBusSinceUntilAndRing: the ring keeps the last eventsLimit
// events, and subscribe replays those between since and until.
func TestEventBusSinceUntilAndRing(t *testing.T) {
	var b eventBus
	for i := 0; i < eventsLimit+10; i++ {
		b.publish(msg(events.ContainerEventType, events.ActionCreate, strconv.Itoa(i), nil))
	}
	if len(b.ring) != eventsLimit || b.ring[0].Actor.ID != "10" || b.ring[eventsLimit-1].Actor.ID != strconv.Itoa(eventsLimit+9) {
		t.Fatalf("ring holds %d events, %s … %s", len(b.ring), b.ring[0].Actor.ID, b.ring[len(b.ring)-1].Actor.ID)
	}
	// No since nor until: nothing past, only what comes.
	past, s := b.subscribe(time.Time{}, time.Time{}, eventFilter{})
	b.unsubscribe(s)
	if len(past) != 0 {
		t.Fatalf("without since: %d past events", len(past))
	}
	mid := time.Unix(0, b.ring[100].TimeNano)
	end := time.Unix(0, b.ring[200].TimeNano)
	past, s = b.subscribe(mid, end, eventFilter{})
	b.unsubscribe(s)
	if len(past) != 101 || past[0].Actor.ID != b.ring[100].Actor.ID || past[100].Actor.ID != b.ring[200].Actor.ID {
		t.Fatalf("since..until: %d events", len(past))
	}
	past, s = b.subscribe(mid, time.Time{}, newEventFilter(map[string][]string{"container": {"150"}}))
	defer b.unsubscribe(s)
	if len(past) != 1 || past[0].Actor.ID != "150" {
		t.Fatalf("since with a filter: %v", past)
	}
	// What comes next is live, and filtered.
	b.publish(msg(events.ContainerEventType, events.ActionStart, "999", nil))
	b.publish(msg(events.ContainerEventType, events.ActionStart, "150", nil))
	select {
	case m := <-s.ch:
		if m.Actor.ID != "150" || m.Action != events.ActionStart || m.TimeNano == 0 || m.Scope != "local" {
			t.Fatalf("live event %+v", m)
		}
	case <-time.After(time.Second):
		t.Fatal("no live event")
	}
}

// TestEventBusDropsSlowSubscriber: a subscriber that does not read is
// dropped when its buffer is full; publish never blocks on it, and the
// others go on getting events.
func TestEventBusDropsSlowSubscriber(t *testing.T) {
	var b eventBus
	_, slow := b.subscribe(time.Time{}, time.Time{}, eventFilter{})
	_, other := b.subscribe(time.Time{}, time.Time{}, newEventFilter(map[string][]string{"event": {"destroy"}}))
	done := make(chan struct{})
	go func() {
		for i := 0; i < subscriberBuffer+5; i++ {
			b.publish(msg(events.ContainerEventType, events.ActionCreate, strconv.Itoa(i), nil))
		}
		b.publish(msg(events.ContainerEventType, events.ActionDestroy, "x", nil))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publish blocked on a subscriber that does not read")
	}
	n := 0
	for range slow.ch { // closed by the bus: the loop ends
		n++
	}
	if n != subscriberBuffer {
		t.Fatalf("slow subscriber got %d events before being dropped, want %d", n, subscriberBuffer)
	}
	b.unsubscribe(slow) // already dropped: must not panic on a closed channel
	if m := <-other.ch; m.Action != events.ActionDestroy {
		t.Fatalf("other subscriber got %+v", m)
	}
	b.unsubscribe(other)
	if len(b.subs) != 0 {
		t.Fatalf("%d subscribers left", len(b.subs))
	}
}

func TestEventTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                     {},
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.5":         time.Unix(1700000000, 500000000),
		"1700000000.000000001": time.Unix(1700000000, 1),
	} {
		got, err := eventTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("eventTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"soon", "1.x", "1.1234567890", "1."} {
		if _, err := eventTime(bad); err == nil {
			t.Errorf("eventTime(%q) accepted", bad)
		}
	}
}

// TestEventsEndpoint: GET /events with since and until in the past sends
// the matching events of the ring and ends; API versions before 1.52 get
// the old status/id/from fields, newer ones not.
func TestEventsEndpoint(t *testing.T) {
	d := newTestDaemon(t)
	since := time.Now().Add(-time.Second)
	d.emit(events.NetworkEventType, events.ActionCreate, "net1", map[string]string{"name": "back", "type": "bridge"})
	d.emit(events.ContainerEventType, events.ActionCreate, "c1", map[string]string{"name": "web", "image": "busybox"})
	d.emit(events.NetworkEventType, events.ActionDestroy, "net1", map[string]string{"name": "back", "type": "bridge"})
	until := time.Now()
	q := func(filters string) string {
		v := url.Values{}
		v.Set("since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()))
		v.Set("until", fmt.Sprintf("%d.%09d", until.Unix(), until.Nanosecond()))
		if filters != "" {
			v.Set("filters", filters)
		}
		return v.Encode()
	}
	code, h, body := do(t, d, "GET", "/v1.57/events?"+q(`{"type":{"network":true}}`), "")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /events: %d %v %s", code, h, body)
	}
	var got []events.Message
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var m events.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0].Action != events.ActionCreate || got[1].Action != events.ActionDestroy || got[0].Actor.Attributes["name"] != "back" {
		t.Fatalf("network events: %+v", got)
	}
	if strings.Contains(body, `"status"`) {
		t.Fatalf("API 1.57 sent the old status field: %s", body)
	}
	_, _, body = do(t, d, "GET", "/v1.41/events?"+q(`{"container":{"web":true}}`), "")
	var old struct {
		Status, ID, From string
		Type             events.Type
	}
	if err := json.Unmarshal([]byte(body), &old); err != nil || old.Status != "create" || old.ID != "c1" || old.From != "busybox" || old.Type != events.ContainerEventType {
		t.Fatalf("API 1.41 event: %s (%v)", body, err)
	}
	code, _, body = do(t, d, "GET", "/events?since=later", "")
	wantDockerError(t, "bad since", code, body, 400, "invalid timestamp")
	code, _, body = do(t, d, "GET", "/events?since=20&until=10", "")
	wantDockerError(t, "until before since", code, body, 400, "cannot be after")
	code, _, body = do(t, d, "GET", "/events?filters=nope", "")
	wantDockerError(t, "bad filters", code, body, 400, "invalid filters")
}

func TestStatsEndpointErrors(t *testing.T) {
	d := newTestDaemon(t)
	code, _, body := do(t, d, "GET", "/v1.41/containers/nope/stats?stream=0", "")
	wantDockerError(t, "no such container", code, body, 404, "nope")
	code, _, body = do(t, d, "GET", "/v1.41/containers/nope/stats?one-shot=1", "")
	wantDockerError(t, "stream with one-shot", code, body, 400, "one-shot")
}

// TestCreateResources: the request's limits become the ones `minirun run
// -m --cpus --pids-limit` sets, checked as they are; devices are refused.
func TestCreateResources(t *testing.T) {
	pids := int64(20)
	req := &ctypes.CreateRequest{Config: &ctypes.Config{Image: "busybox"}, HostConfig: &ctypes.HostConfig{
		Resources: ctypes.Resources{Memory: 64 << 20, NanoCPUs: 500_000_000, PidsLimit: &pids}}}
	o, err := runOpts("x", req)
	if err != nil {
		t.Fatal(err)
	}
	r := o.Resources
	if r == nil || r.Memory == nil || *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 ||
		r.CPU == nil || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.Pids == nil || *r.Pids.Limit != 20 {
		t.Fatalf("resources %+v", r)
	}
	req.HostConfig.Resources = ctypes.Resources{}
	if o, err := runOpts("x", req); err != nil || o.Resources != nil {
		t.Fatalf("no limits: %+v, %v", o.Resources, err)
	}
	req.HostConfig.Resources = ctypes.Resources{Memory: 1 << 20}
	if _, err := runOpts("x", req); err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Fatalf("1 MiB memory: %v", err)
	}
	req.HostConfig.Resources = ctypes.Resources{Devices: []ctypes.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/nul2", CgroupPermissions: "r"}}}
	if o, err := runOpts("x", req); err != nil || len(o.Devices) != 1 || o.Devices[0].Path != "/dev/nul2" ||
		len(o.Resources.Devices) != 1 || o.Resources.Devices[0].Access != "r" {
		t.Fatalf("--device /dev/null:/dev/nul2:r: %+v, %v", o, err)
	}
	req.HostConfig.Resources = ctypes.Resources{DeviceCgroupRules: []string{"c 1:* rwm", "b 8:3 r"}}
	o, err = runOpts("x", req)
	if err != nil || len(o.Resources.Devices) != 2 {
		t.Fatalf("--device-cgroup-rule: %+v, %v", o, err)
	}
	if r := o.Resources.Devices[0]; !r.Allow || r.Type != "c" || r.Major == nil || *r.Major != 1 || r.Minor != nil || r.Access != "rwm" {
		t.Fatalf("'c 1:* rwm' became %+v", r)
	}
	if r := o.Resources.Devices[1]; r.Type != "b" || *r.Major != 8 || *r.Minor != 3 || r.Access != "r" {
		t.Fatalf("'b 8:3 r' became %+v", r)
	}
	for _, bad := range []string{"c 1:3", "x 1:3 r", "c 1-3 r", "c 1:3 rwx", "c a:3 r", "c 1:3 rrrr"} {
		req.HostConfig.Resources = ctypes.Resources{DeviceCgroupRules: []string{bad}}
		if _, err := runOpts("x", req); err == nil || !strings.Contains(err.Error(), "--device-cgroup-rule") {
			t.Errorf("--device-cgroup-rule %q: %v, want a refusal naming the flag", bad, err)
		}
	}
	req.HostConfig.Resources = ctypes.Resources{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: "/dev/null", Weight: 200}}}
	if _, err := runOpts("x", req); err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Fatalf("--blkio-weight-device /dev/null:200: %v, want not a block device", err)
	}
	if dev, major, minor := someBlockDevice(); dev != "" {
		req.HostConfig.Resources = ctypes.Resources{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: dev, Weight: 200}}}
		o, err := runOpts("x", req)
		if err != nil || o.Resources.BlockIO == nil || len(o.Resources.BlockIO.WeightDevice) != 1 {
			t.Fatalf("--blkio-weight-device %s:200: %+v, %v", dev, o, err)
		}
		if w := o.Resources.BlockIO.WeightDevice[0]; w.Major != major || w.Minor != minor || *w.Weight != 200 {
			t.Fatalf("--blkio-weight-device %s:200 became %+v", dev, w)
		}
		req.HostConfig.Resources = ctypes.Resources{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: dev, Weight: 5}}}
		if _, err := runOpts("x", req); err == nil || !strings.Contains(err.Error(), "between 10 and 1000") {
			t.Fatalf("--blkio-weight-device %s:5: %v, want the range", dev, err)
		}
	}
}

// someBlockDevice is a block device node of this machine, if it has one.
func someBlockDevice() (string, int64, int64) {
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		p := "/dev/" + e.Name()
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return p, int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		}
	}
	return "", 0, 0
}
