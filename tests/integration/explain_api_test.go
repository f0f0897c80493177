//go:build integration

package integration

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// apiEvent is what `explain api --json` says of one step.
type apiEvent struct {
	Step struct {
		ID    string `json:"id"`
		Title struct {
			EN string `json:"en"`
		} `json:"title"`
	} `json:"step"`
	Evidence     string `json:"evidence"`
	EvidenceText *struct {
		PT string `json:"pt"`
		EN string `json:"en"`
	} `json:"evidenceText"`
	Error string `json:"error"`
}

// `minirun explain api` runs Debian's docker client against the daemon's
// code and narrates each request the daemon serves (method, path,
// status), with the daemon's steps beneath it, then the chain of real
// processes: the client, the daemon, the shim, the init.
func TestExplainAPI(t *testing.T) {
	if dockerClient() == "" {
		t.Fatal("the docker client is missing: scripts/setup.sh installs Debian's docker.io for it")
	}
	out := ok(t, "explain", "api", "--json", "--lang", "en")
	var evs []apiEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var ev apiEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		evs = append(evs, ev)
	}
	ev := func(e apiEvent) string {
		if e.EvidenceText != nil {
			return e.EvidenceText.EN
		}
		return e.Evidence
	}
	var requests []string
	startAt, prevReq := -1, -1
	var chain string
	for i, e := range evs {
		if e.Error != "" {
			t.Errorf("step %s (%s) failed: %s", e.Step.ID, e.Step.Title.EN, e.Error)
		}
		switch e.Step.ID {
		case "components-api-request":
			req := strings.TrimPrefix(e.Step.Title.EN, "HTTP request: ")
			requests = append(requests, req+" → "+ev(e))
			// Events come at each step's end: the daemon's steps for a
			// request come before the request's own event.
			if startAt < 0 && regexp.MustCompile(`^POST /v1\.41/containers/[0-9a-f]{64}/start$`).MatchString(req) {
				startAt = i
			} else if startAt < 0 {
				prevReq = i
			}
		case "components-api-chain":
			chain = ev(e)
		}
	}
	all := strings.Join(requests, "\n")
	for _, want := range []string{
		`HEAD /_ping → response 200 \(OK\)`,
		`GET /v1\.41/version → response 200 \(OK\)`,
		`POST /v1\.41/containers/create\?name=api-\d+ → response 201 \(Created\)`,
		`POST /v1\.41/containers/[0-9a-f]{64}/attach\?stderr=1&stdout=1&stream=1 → response 101 \(Switching Protocols\)`,
		`POST /v1\.41/containers/[0-9a-f]{64}/wait\?condition=removed → response 200 \(OK\)`,
		`POST /v1\.41/containers/[0-9a-f]{64}/start → response 204 \(No Content\)`,
		`GET /v1\.41/containers/json\?all=1&filters=\S+ → response 200 \(OK\)`,
	} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(all) {
			t.Errorf("no request %s in:\n%s", want, all)
		}
	}
	// Beneath start: the shim's cgroup and veth, narrated by the daemon.
	beneath := map[string]bool{}
	if startAt > 0 {
		for _, e := range evs[prevReq+1 : startAt] {
			beneath[e.Step.ID] = true
		}
	}
	for _, id := range []string{"rootfs-overlay-mount", "network-ipam", "cgroups-create", "network-veth"} {
		if !beneath[id] {
			t.Errorf("step %s is not beneath the start request (saw %v)", id, beneath)
		}
	}
	answered := false
	for _, e := range evs {
		answered = answered || (e.Step.ID == "components-api-answer" && strings.Contains(ev(e), "busybox ok"))
	}
	if !answered {
		t.Error("the client's answer `busybox ok` is not narrated")
	}
	// The chain: client (a child of explain), daemon (explain itself),
	// shim (the daemon's child), init (the shim's child, now sleep).
	line := regexp.MustCompile(`(?m)^pid (\d+) ppid (\d+): (.*)$`)
	m := line.FindAllStringSubmatch(chain, -1)
	if len(m) != 4 {
		t.Fatalf("chain evidence: %q", chain)
	}
	pid := func(i, j int) int { n, _ := strconv.Atoi(m[i][j]); return n }
	switch {
	case !strings.Contains(m[0][3], "docker run --rm --name api-chain-"):
		t.Errorf("client: %q", m[0][0])
	case pid(0, 2) != pid(1, 1):
		t.Errorf("the client's parent is not the daemon: %q", chain)
	case !strings.Contains(m[1][3], "minirun"):
		t.Errorf("daemon: %q", m[1][0])
	case pid(2, 2) != pid(1, 1) || !strings.HasPrefix(m[2][3], "minirun-shim "):
		t.Errorf("shim: %q", m[2][0])
	case pid(3, 2) != pid(2, 1) || m[3][3] != "sleep 3":
		t.Errorf("init: %q", m[3][0])
	}
	// Nothing of the chapter's is left: its containers were --rm.
	if out, _ := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "ps", "-a", "--format", "{{.Names}}").Output(); strings.Contains(string(out), "api-") {
		t.Errorf("containers left: %s", out)
	}
	if t.Failed() {
		t.Log(out)
	}
}
