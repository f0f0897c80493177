//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExplainWebFollowsTheRootfsChapter drives a real chapter from the
// projector page's side (issue #17): `explain rootfs --pause --web ADDR`,
// an SSE client that POSTs /next for every waiting step, as the page's
// button does. The diagrams must come from the kernel: after the overlay
// mount the rootfs panel names the merged dir and the image's layer, the
// container's pid namespace differs from the host's, and when the
// narration ends the server is gone.
func TestExplainWebFollowsTheRootfsChapter(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out, err := os.CreateTemp("", "minirun-web-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "explain", "rootfs", "--pause", "--web", addr, "--lang", "en")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	defer func() {
		// Kill a narration the test gave up on; a closed channel means
		// it was already waited for.
		cmd.Process.Kill()
		<-exited
	}()
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + addr + "/events"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("no projector at %s: %v\n%s", addr, err, b)
	}
	defer resp.Body.Close()
	type view struct {
		Seq     int    `json:"seq"`
		Phase   string `json:"phase"`
		ID      string `json:"id"`
		Waiting bool   `json:"waiting"`
		SVG     string `json:"svg"`
		SVGAll  string `json:"svgAll"`
	}
	ends := map[string]view{}
	var order []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	deadline := time.AfterFunc(2*time.Minute, func() { resp.Body.Close() })
	defer deadline.Stop()
	done := false
	for !done && sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v view
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		switch {
		case v.Phase == "done":
			done = true
		case v.Waiting:
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/next?seq="+itoa(v.Seq), nil)
			req.Header.Set("X-Minirun", "next")
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
		case v.Phase == "end":
			ends[v.ID] = v
			order = append(order, v.ID)
		}
	}
	if !done {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("the stream ended before the narration (steps %v)\n%s", order, b)
	}
	select {
	case err := <-exited:
		if err != nil {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("explain: %v\n%s", err, b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("explain did not exit after the narration")
	}
	mount, ok := ends["rootfs-overlay-mount"]
	if !ok {
		t.Fatalf("no end of rootfs-overlay-mount among %v", order)
	}
	for _, want := range []string{"merged ", "lower 1: sha256:", "upper (writable)"} {
		if !strings.Contains(mount.SVG, want) {
			t.Errorf("after the overlay mount the rootfs panel lacks %q", want)
		}
	}
	last := ends[order[len(order)-1]]
	label := func(id string) string {
		m := regexp.MustCompile(`id="n-` + id + `"><title>([^<\n]*)`).FindStringSubmatch(last.SVGAll)
		if m == nil {
			return ""
		}
		return m[1]
	}
	host := label("ns-host-pid")
	ctr := regexp.MustCompile(`id="n-ns-[0-9a-f]{64}-pid"><title>([^<\n]*)`).FindStringSubmatch(last.SVGAll)
	if host == "" || ctr == nil || ctr[1] == host || !strings.HasPrefix(ctr[1], "pid:[") {
		t.Errorf("pid namespaces: host %q, container %v", host, ctr)
	}
	if _, err := http.Get("http://" + addr + "/state"); err == nil {
		t.Error("the projector still answers after the narration")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
