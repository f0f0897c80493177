//go:build integration

package integration

// `docker events` and `docker stats` against minirun's daemon, with the
// real docker client.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dockerEvent is what `docker events --format '{{json .}}'` prints of an
// event (events.Message).
type dockerEvent struct {
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	TimeNano int64 `json:"timeNano"`
}

func unixArg(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

func parseEvents(t *testing.T, out string) []dockerEvent {
	t.Helper()
	var evs []dockerEvent
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e dockerEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("docker events printed %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestDaemonEventsContainer: `docker events --since … --until … --filter
// container=X` lists what a `docker run --rm` did to X, in order: create,
// start, die with its exit code, destroy; and nothing of another
// container run at the same time.
func TestDaemonEventsContainer(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dev1", "dev2")
	since := time.Now()
	if r := d.docker(t, "run", "--rm", "--name", "dev1", "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("docker run --rm … exit 3: exit %d, stderr %q", r.code, r.stderr)
	}
	d.dockerOK(t, "run", "--rm", "--name", "dev2", "busybox", "true")
	var evs []dockerEvent
	var actions []string
	// The destroy of a --rm container is heard when its shim hangs up,
	// about when the client returns: ask again for a moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := d.dockerOK(t, "events", "--since", unixArg(since), "--until", unixArg(time.Now()),
			"--filter", "container=dev1", "--format", "{{json .}}")
		evs = parseEvents(t, out)
		actions = actions[:0]
		for _, e := range evs {
			actions = append(actions, e.Action)
		}
		if strings.Contains(strings.Join(actions, " "), "destroy") || time.Now().After(deadline) {
			break
		}
	}
	// docker run attaches before it starts; dockerd's order.
	want := []string{"create", "attach", "start", "die", "destroy"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("events of dev1: %v, want %v", actions, want)
	}
	id := evs[0].Actor.ID
	for i, e := range evs {
		if e.Type != "container" || e.Actor.ID != id || e.Actor.Attributes["name"] != "dev1" || e.Actor.Attributes["image"] != "busybox" {
			t.Fatalf("event %d: %+v, want container %s named dev1 of busybox", i, e, id)
		}
		if i > 0 && e.TimeNano < evs[i-1].TimeNano {
			t.Fatalf("events out of time order: %+v", evs)
		}
	}
	if len(id) != 64 {
		t.Fatalf("actor id %q, want the full container id", id)
	}
	if code := evs[3].Actor.Attributes["exitCode"]; code != "3" {
		t.Fatalf("die event: exitCode %q, want 3", code)
	}
	// until before the events: none of them.
	if out := d.dockerOK(t, "events", "--since", unixArg(since.Add(-time.Minute)), "--until", unixArg(since),
		"--filter", "container=dev1"); strings.TrimSpace(out) != "" {
		t.Fatalf("events until before the run: %q", out)
	}
}

// TestDaemonEventsNetwork: a live `docker events --filter type=network`
// shows a network's create and destroy as they happen, and not the volume
// made between them.
func TestDaemonEventsNetwork(t *testing.T) {
	d := startDaemon(t)
	t.Cleanup(func() { mr(t, "network", "rm", "devnet"); mr(t, "volume", "rm", "devvol") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerClient(), "events", "--filter", "type=network", "--format", "{{json .}}")
	cmd.Env = d.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	// The client is subscribed once the daemon counts it: wait for that
	// by a network made before this test looks (there is no other sign).
	time.Sleep(500 * time.Millisecond)
	netID := strings.TrimSpace(d.dockerOK(t, "network", "create", "--subnet", "10.79.9.0/24", "devnet"))
	d.dockerOK(t, "volume", "create", "devvol")
	d.dockerOK(t, "network", "rm", "devnet")
	d.dockerOK(t, "volume", "rm", "devvol")
	var got []dockerEvent
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("docker events ended after %v", got)
			}
			got = append(got, parseEvents(t, l)...)
		case <-timeout:
			t.Fatalf("docker events --filter type=network: %+v after 10 s, want create and destroy of devnet", got)
		}
	}
	for i, want := range []string{"create", "destroy"} {
		e := got[i]
		if e.Type != "network" || e.Action != want || e.Actor.ID != netID || e.Actor.Attributes["name"] != "devnet" || e.Actor.Attributes["type"] != "bridge" {
			t.Fatalf("event %d: %+v, want network %s of devnet (%s, bridge)", i, e, want, netID)
		}
	}
	select {
	case l := <-lines:
		t.Fatalf("an event that is not the network's came through the filter: %s", l)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestDaemonStats: `docker stats --no-stream` shows a running container's
// memory, above zero, against the limit -m set; the API's answer has
// Docker's shape, with precpu_stats filled for stream=0 and empty for
// one-shot; and `minirun stats` reads the same limit.
func TestDaemonStats(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dstat")
	// A 4 MB shell variable: memory the container surely uses.
	d.dockerOK(t, "run", "-d", "-m", "64m", "--name", "dstat", "busybox", "sh", "-c", `x=$(head -c 4000000 /dev/zero | tr '\0' a); exec sleep 100`)
	time.Sleep(500 * time.Millisecond)
	out := strings.TrimSpace(d.dockerOK(t, "stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", "dstat"))
	f := strings.Split(out, "|")
	if len(f) != 3 || f[0] != "dstat" {
		t.Fatalf("docker stats --no-stream dstat: %q", out)
	}
	usage, limit, _ := strings.Cut(f[1], " / ")
	if limit != "64MiB" {
		t.Fatalf("docker stats: limit %q, want 64MiB (-m 64m)", limit)
	}
	if n, err := strconv.ParseFloat(strings.TrimRight(usage, "KMGiB"), 64); err != nil || n <= 0 || usage == "0B" {
		t.Fatalf("docker stats: memory usage %q, want above zero", usage)
	}
	if f[2] == "0" {
		t.Fatalf("docker stats: PIDs %q, want the container's", f[2])
	}

	var s struct {
		ID, Name string
		CPU      struct {
			Usage struct {
				Total uint64 `json:"total_usage"`
			} `json:"cpu_usage"`
			System uint64 `json:"system_cpu_usage"`
			Online uint32 `json:"online_cpus"`
		} `json:"cpu_stats"`
		PreCPU struct {
			System uint64 `json:"system_cpu_usage"`
		} `json:"precpu_stats"`
		Memory struct {
			Usage, Limit uint64
			Stats        map[string]uint64
		} `json:"memory_stats"`
		Pids struct {
			Current uint64
		} `json:"pids_stats"`
		Networks map[string]struct {
			RxBytes uint64 `json:"rx_bytes"`
		}
	}
	code, body := d.curl(t, "http://docker/v1.41/containers/dstat/stats?stream=0")
	if code != "200" || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("GET stats?stream=0: %s %s", code, body)
	}
	if s.Name != "/dstat" || s.Memory.Limit != 64<<20 || s.Memory.Usage == 0 || len(s.Memory.Stats) == 0 || s.Pids.Current == 0 ||
		s.CPU.System == 0 || s.PreCPU.System == 0 || s.CPU.System <= s.PreCPU.System || s.CPU.Online == 0 || s.CPU.Usage.Total == 0 {
		t.Fatalf("GET stats?stream=0: %s", body)
	}
	if _, ok := s.Networks["eth0"]; !ok {
		t.Fatalf("GET stats?stream=0: no eth0 in networks: %s", body)
	}
	s.PreCPU.System = 0
	code, body = d.curl(t, "http://docker/v1.41/containers/dstat/stats?stream=0&one-shot=1")
	if code != "200" || json.Unmarshal([]byte(body), &s) != nil || s.PreCPU.System != 0 || s.CPU.System == 0 {
		t.Fatalf("GET stats?one-shot=1: %s %s, want no precpu_stats", code, body)
	}
	// stream=1: a sample a second, each with the one before as precpu.
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://docker/v1.41/containers/dstat/stats", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET stats (stream): %v", err)
	}
	dec := json.NewDecoder(resp.Body)
	var reads []time.Time
	for i := 0; i < 2; i++ {
		var f struct {
			Read   time.Time
			PreCPU struct {
				System uint64 `json:"system_cpu_usage"`
			} `json:"precpu_stats"`
		}
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("GET stats (stream): sample %d: %v", i, err)
		}
		if (i == 0) != (f.PreCPU.System == 0) {
			t.Fatalf("GET stats (stream): sample %d has precpu system %d", i, f.PreCPU.System)
		}
		reads = append(reads, f.Read)
	}
	resp.Body.Close()
	if gap := reads[1].Sub(reads[0]); gap < 900*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("GET stats (stream): samples %v apart, want about a second", gap)
	}
	// The CLI's stats is the same reading.
	var row struct{ MemLimit int64 }
	if err := json.Unmarshal([]byte(ok(t, "stats", "--no-stream", "--format", "json", "dstat")), &row); err != nil || row.MemLimit != 64<<20 {
		t.Fatalf("minirun stats dstat: memLimit %d (%v), want %d", row.MemLimit, err, 64<<20)
	}
	d.dockerOK(t, "rm", "-f", "dstat")
}

// TestDaemonEventsLifecycle: the events of a container's whole life
// through the daemon, each where dockerd tells it: exec's three, pause,
// unpause, stop (kill, then die, then stop), restart, rm -f.
func TestDaemonEventsLifecycle(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "devl")
	since := time.Now()
	id := strings.TrimSpace(d.dockerOK(t, "run", "-d", "--name", "devl", "busybox", "sleep", "100"))
	if r := d.docker(t, "exec", "devl", "sh", "-c", "exit 4"); r.code != 4 {
		t.Fatalf("docker exec … exit 4: exit %d, %q", r.code, r.stderr)
	}
	d.dockerOK(t, "pause", "devl")
	d.dockerOK(t, "unpause", "devl")
	d.dockerOK(t, "stop", "-t", "1", "devl")
	d.dockerOK(t, "start", "devl")
	d.dockerOK(t, "restart", "-t", "1", "devl")
	d.dockerOK(t, "rm", "-f", "devl")
	out := d.dockerOK(t, "events", "--since", unixArg(since), "--until", unixArg(time.Now()),
		"--filter", "container="+id[:12], "--format", "{{json .}}")
	evs := parseEvents(t, out)
	var actions []string
	for _, e := range evs {
		a, _, _ := strings.Cut(e.Action, ":")
		actions = append(actions, a)
	}
	want := "create start exec_create exec_start exec_die pause unpause kill die stop start kill die stop start restart kill die destroy"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("events of devl:\n got %s\nwant %s", got, want)
	}
	for _, e := range evs {
		switch a := e.Action; {
		case a == "exec_create: sh -c exit 4" || a == "exec_start: sh -c exit 4":
			if e.Actor.Attributes["execID"] == "" {
				t.Fatalf("%s without execID: %+v", a, e)
			}
		case strings.HasPrefix(a, "exec_"):
			if a != "exec_die" || e.Actor.Attributes["exitCode"] != "4" {
				t.Fatalf("exec event %+v, want exec_die with exitCode 4 (or the command after exec_create:)", e)
			}
		case a == "die":
			// sleep as pid 1 ignores SIGTERM: stop's SIGKILL ends it.
			if c := e.Actor.Attributes["exitCode"]; c != "137" {
				t.Fatalf("die with exitCode %q, want 137: %+v", c, e)
			}
		}
	}
}

// TestDaemonEventsLiveRestore: a daemon started under a running container
// (the one before was killed) hears its exit, even one it did not cause:
// the container killed by the CLI, the new daemon's events show its die.
func TestDaemonEventsLiveRestore(t *testing.T) {
	rmAtEnd(t, "devr")
	d := startRestorable(t)
	id := strings.TrimSpace(d.dockerOK(t, "run", "-d", "--network", "none", "--name", "devr", "busybox", "sleep", "300"))
	d.kill(t)
	since := time.Now()
	d.restart(t)
	ok(t, "kill", "-s", "KILL", "devr") // the CLI, not the daemon
	var evs []dockerEvent
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		evs = parseEvents(t, d.dockerOK(t, "events", "--since", unixArg(since), "--until", unixArg(time.Now()),
			"--filter", "container="+id, "--filter", "event=die", "--format", "{{json .}}"))
		if len(evs) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(evs) != 1 || evs[0].Actor.Attributes["exitCode"] != "137" || evs[0].Actor.Attributes["name"] != "devr" {
		t.Fatalf("die events of devr from the new daemon: %+v, want one with exitCode 137", evs)
	}
	d.dockerOK(t, "rm", "devr")
}

// TestDaemonEventsImage: docker tag and rmi are image events, the actor
// being the image's ID and the name an attribute, as dockerd logs them.
func TestDaemonEventsImage(t *testing.T) {
	d := startDaemon(t)
	since := time.Now().Add(-time.Second)
	d.dockerOK(t, "tag", "busybox", "evtag:1")
	d.dockerOK(t, "rmi", "evtag:1")
	out := d.dockerOK(t, "events", "--since", unixArg(since), "--until", unixArg(time.Now()),
		"--filter", "type=image", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.ID}}")
	id := strings.TrimSpace(d.dockerOK(t, "image", "inspect", "-f", "{{.Id}}", "busybox"))
	for _, want := range []string{"tag evtag:1 " + id, "untag evtag:1 " + id} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker events --filter type=image: %q, want a line %q", out, want)
		}
	}
}
