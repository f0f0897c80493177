package course

import (
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// The dry run of `explain api` walks the live run's story: the socket,
// the daemon serving, then per docker command the client, the requests
// it sends (as Debian's client sends them) and its answer, and the chain
// in the middle of the second run; each request step carries the curl
// line for the chapter's socket.
func TestAPIDryRunDescribesTheRequests(t *testing.T) {
	rec := &explain.Recorder{}
	env := &Env{Image: "busybox", DataRoot: "/var/lib/minirun", StateRoot: "/run/minirun"}
	if _, err := Narrate(explain.ChapterAPI, env, rec, nil, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range rec.Events {
		s := ev.Step.ID
		if ev.Step.ID == "components-api-request" {
			s = ev.Step.Title.EN
			if !strings.HasPrefix(ev.Step.Shell, "curl -s --unix-socket /tmp/minirun-api.") {
				t.Errorf("request step's shell: %q", ev.Step.Shell)
			}
		}
		got = append(got, s)
	}
	run := []string{"components-api-client", "HTTP request: HEAD /_ping", "HTTP request: POST /v1.41/containers/create?name=$NAME",
		"HTTP request: POST /v1.41/containers/$ID/attach?stderr=1&stdout=1&stream=1",
		"HTTP request: POST /v1.41/containers/$ID/wait?condition=removed", "HTTP request: POST /v1.41/containers/$ID/start"}
	want := append([]string{"components-daemon-socket", "components-api-serve",
		"components-api-client", "HTTP request: HEAD /_ping", "HTTP request: GET /v1.41/version", "components-api-answer"},
		run...)
	want = append(want, "components-api-answer")
	want = append(want, run...)
	want = append(want, "components-api-chain",
		"components-api-client", "HTTP request: HEAD /_ping", "HTTP request: GET /v1.41/containers/json?all=1&filters=$FILTER", "components-api-answer")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dry run:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The api chapter shows its own steps and, of the daemon's, only those
// it keeps, never their undos.
func TestKeepSinkShowsOnlyKeptSteps(t *testing.T) {
	rec := &explain.Recorder{}
	c, _ := Get(explain.ChapterAPI)
	k := &keepSink{Sink: rec, own: c.Shows[0], keep: c.Keep}
	for _, ev := range []explain.Event{
		{Step: explain.Step{ID: "components-api-request", Chapter: explain.ChapterComponents}},
		{Step: explain.Step{ID: "cgroups-create", Chapter: explain.ChapterCgroups}},
		{Step: explain.Step{ID: "cgroups-write", Chapter: explain.ChapterCgroups}},
		{Step: explain.Step{ID: "network-veth", Chapter: explain.ChapterNetwork}, Undo: true},
		{Step: explain.Step{ID: "network-veth", Chapter: explain.ChapterNetwork}},
	} {
		ev := ev
		if k.Begin(&ev) == nil {
			k.End(&ev)
		}
	}
	if got := strings.Join(rec.IDs(), " "); got != "components-api-request cgroups-create network-veth" {
		t.Fatalf("shown: %s", got)
	}
}
