//go:build integration

package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShimCollectsOnlyWhenIdle: the shim starts the container with Go's
// default GOGC, so its start-up heap (under 4 MB) needs no garbage
// collection on the path of every run; once idle it lowers GOGC and
// returns its memory, which is one forced collection. GODEBUG=gctrace=1,
// which the shim inherits from `run -d`, writes a line per collection to
// shim.log ("(forced)" at the end of a forced one). With GOGC=20 in the
// shim's environment there were four before the idle one.
func TestShimCollectsOnlyWhenIdle(t *testing.T) {
	cmd := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "run", "-d", "--name", "gcidle", "busybox", "sleep", "30")
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	out, err := cmd.Output()
	rmAtEnd(t, "gcidle")
	if err != nil {
		t.Fatalf("run -d: %v", err)
	}
	id := strings.TrimSpace(string(out))
	log := filepath.Join(dataRoot, "containers", id, "shim.log")
	var lines []string
	// The idle release comes 300 ms after the start (shim.idleAfter).
	eventually(t, "the idle collection", 10*time.Second, func() bool {
		b, _ := os.ReadFile(log)
		lines = nil
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "gc ") {
				lines = append(lines, l)
			}
		}
		return len(lines) > 0 && strings.HasSuffix(lines[len(lines)-1], "(forced)")
	})
	for _, l := range lines {
		if !strings.HasSuffix(l, "(forced)") {
			t.Errorf("the shim collected before it went idle: %s", l)
		}
	}
}

// TestRunRmReturnsAfterNetworkRemoval: the shim removes the container's
// veth beside its unmount and removal (shimEvents.Exited), but `run --rm`
// still returns only once both are done: right after it, no veth of it is
// on the host and the network lists no container.
func TestRunRmReturnsAfterNetworkRemoval(t *testing.T) {
	veths := func() map[string]bool {
		out := map[string]bool{}
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			l := i.Name
			if len(l) == 14 && strings.HasPrefix(l, "mr") && (strings.HasSuffix(l, "h") || strings.HasSuffix(l, "c")) {
				out[l] = true
			}
		}
		return out
	}
	for i := 0; i < 3; i++ {
		before := veths()
		ok(t, "run", "--rm", "busybox", "true")
		for l := range veths() {
			if !before[l] {
				t.Fatalf("veth %s still on the host when run --rm returned", l)
			}
		}
		var nets []map[string]interface{}
		if err := json.Unmarshal([]byte(ok(t, "network", "inspect", "bridge")), &nets); err != nil || len(nets) != 1 {
			t.Fatalf("network inspect bridge: %v", err)
		}
		if c, _ := nets[0]["Containers"].(map[string]interface{}); len(c) != 0 {
			t.Fatalf("the network still lists %v when run --rm returned", c)
		}
	}
}
