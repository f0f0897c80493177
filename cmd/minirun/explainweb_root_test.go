package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minirun/minirun/internal/testutil"
	"github.com/minirun/minirun/projector/headless"
)

// TestExplainWebNetworkChapterInChromium drives the real network chapter
// (`explain network --pause --web ADDR`, a minirun built from this tree)
// from headless Chromium at 1280×720, advancing every step with the
// page's Next button. When the chapter waits before network-dns-rr, web1
// and web2 run with --network-alias web; the page, switched to all
// panels, must show what the host says, read here on its own: each
// container's init pid (state.json), its shim's pid (the init's PPid in
// /proc/PID/status, a process called minirun-shim), and the DNS server
// answering the alias "web" with both containers' addresses (the
// network's file). Screenshots go to the test's artifacts.
func TestExplainWebNetworkChapterInChromium(t *testing.T) {
	testutil.RequireRoot(t)
	headless.Browser(t) // skips without chromium, before anything is built
	top := t.TempDir()
	bin, root, data := filepath.Join(top, "minirun"), filepath.Join(top, "run"), filepath.Join(top, "lib")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build minirun: %v\n%s", err, out)
	}
	tar := filepath.Join(top, "busybox.tar")
	if out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "mkbusybox.sh"), tar).CombinedOutput(); err != nil {
		t.Fatalf("mkbusybox: %v\n%s", err, out)
	}
	mr := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--root", root, "--data-root", data}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := mr("image", "import", "--change", `CMD ["sh"]`, tar, "busybox"); err != nil {
		t.Fatalf("import busybox: %v\n%s", err, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(top, "explain.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--root", root, "--data-root", data, "explain", "network", "--pause", "--web", addr, "--lang", "en")
	cmd.Env = append(os.Environ(), "MINIRUN_PULL=never")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	logText := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	defer func() {
		select {
		case <-exited:
			return
		default:
		}
		// Given up half way: the chapter's own teardown did not run.
		cmd.Process.Kill()
		<-exited
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				mr("rm", "-f", e.Name())
			}
		}
		mr("network", "rm", "curso-"+strconv.Itoa(cmd.Process.Pid))
	}()

	ctx := headless.Open(t, 4*time.Minute)
	var navErr error
	for i := 0; i < 100; i++ {
		if navErr = chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); navErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if navErr != nil {
		t.Fatalf("no projector at %s: %v\n%s", addr, navErr, logText())
	}
	eval := func(js string) string { t.Helper(); return headless.Text(t, ctx, js) }
	// The full text of a node of the diagram: its <title>.
	node := func(id string) string {
		return eval(`(function(){const n=document.getElementById(` + strconv.Quote("n-"+id) + `);return n?n.querySelector('title').textContent:''})()`)
	}

	checked := false
	for steps := 0; ; steps++ {
		// Wait for a step that waits on Next, or for the end.
		state, err := chromedp.Run(ctx, chromedp.Poll[string](`(function(){
			if (document.getElementById('status').textContent.startsWith('The narration is over')) return 'done';
			return document.getElementById('next').disabled ? null : document.getElementById('where').textContent })()`,
			chromedp.WithPollingTimeout(90*time.Second)))
		if err != nil {
			t.Fatalf("after %d steps, the page neither waits nor ends: %v\n%s", steps, err, logText())
		}
		if state == "done" {
			break
		}
		if strings.HasSuffix(state, " network-dns-rr") && !checked {
			checked = true
			checkNetworkPage(t, root, data, cmd.Process.Pid, eval, node)
			headless.Shot(t, ctx, "network-dns-rr-all-panels.png")
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#next"))); err != nil {
			t.Fatal(err)
		}
		// The button is disabled at once; the next step re-enables it.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('next').disabled || null`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if !checked {
		t.Fatalf("the page never waited before network-dns-rr\n%s", logText())
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("explain network: %v\n%s", err, logText())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("explain did not exit after the narration")
	}
	if lat, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.minirunLatency`)); err == nil && len(lat) > 0 {
		sort.Float64s(lat)
		t.Logf("step end -> page, real network chapter in headless chromium: median %.1f ms over %d steps (max %.1f)", lat[len(lat)/2], len(lat), lat[len(lat)-1])
	}
}

// checkNetworkPage switches the page to all panels and compares the
// components and DNS nodes with the host, read independently: state.json
// for the init's pid, /proc/PID/status for its parent, the network's file
// for the addresses.
func checkNetworkPage(t *testing.T, root, data string, explainPid int, eval func(string) string, node func(string) string) {
	t.Helper()
	// 'a' shows every panel; the network chapter's focus is its own.
	if eval(`(function(){document.dispatchEvent(new KeyboardEvent('keydown',{key:'a'}));return document.getElementById('panel-components')?'ok':''})()`) != "ok" {
		t.Fatal("no components panel after the all-panels key")
	}
	inits := 0
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var st struct {
			Pid int `json:"pid"`
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "state.json"))
		if err != nil || json.Unmarshal(b, &st) != nil || st.Pid == 0 {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
		if err != nil {
			continue
		}
		m := regexp.MustCompile(`(?m)^PPid:\s+(\d+)$`).FindSubmatch(status)
		if m == nil {
			t.Fatalf("no PPid in /proc/%d/status", st.Pid)
		}
		shim := string(m[1])
		if c, _ := os.ReadFile("/proc/" + shim + "/cmdline"); !strings.HasPrefix(string(c), "minirun-shim\x00") {
			t.Fatalf("the parent of init %d is %s (%q), not a shim", st.Pid, shim, c)
		}
		inits++
		id := e.Name()
		if got := node("cp-init-" + id); !strings.HasPrefix(got, "init "+strconv.Itoa(st.Pid)+"\n") {
			t.Errorf("components panel: init node of %s = %q, want the init's pid %d", id[:12], got, st.Pid)
		}
		if got := node("cp-shim-" + id); !strings.HasPrefix(got, "shim "+shim+"\n") || !strings.Contains(got, "/.shims/"+id[:12]+".sock") {
			t.Errorf("components panel: shim node of %s = %q, want the shim's pid %s and its socket", id[:12], got, shim)
		}
	}
	if inits != 2 {
		t.Fatalf("%d running containers before network-dns-rr, want web1 and web2", inits)
	}
	if got := node("cp-client"); !strings.HasPrefix(got, "client "+strconv.Itoa(explainPid)+"\n") {
		t.Errorf("components panel: client node = %q, want the explain process %d", got, explainPid)
	}
	// The alias: both containers' addresses, from the network's file.
	files, _ := filepath.Glob(filepath.Join(data, "network", "*", "network.json"))
	for _, f := range files {
		var n struct {
			Name       string `json:"Name"`
			ID         string `json:"Id"`
			Containers map[string]struct {
				IPv4Address string   `json:"IPv4Address"`
				Aliases     []string `json:"Aliases"`
			} `json:"Containers"`
		}
		b, _ := os.ReadFile(f)
		if json.Unmarshal(b, &n) != nil || n.Name != "curso-"+strconv.Itoa(explainPid) {
			continue
		}
		var ips []string
		for _, ep := range n.Containers {
			for _, a := range ep.Aliases {
				if a == "web" {
					ip, _, _ := strings.Cut(ep.IPv4Address, "/")
					ips = append(ips, ip)
				}
			}
		}
		sort.Strings(ips)
		want := "web → " + strings.Join(ips, " ") + " (alias)"
		if got := node("net-dns-" + n.ID); len(ips) != 2 || !strings.Contains(got, "\n"+want) {
			t.Errorf("network panel: DNS node = %q, want a line %q", got, want)
		}
		return
	}
	t.Fatalf("no network curso-%d in %v", explainPid, files)
}
