package projector

import (
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/projector/headless"
)

// TestPageInHeadlessChromium opens the page at 1280×720 in a real browser
// while a paused narration runs on the recorded host, and checks what the
// class sees: the step's title and why, the container's namespace inode
// beside (and different from) the host's, the shared user namespace
// marked; then it advances with the page's button and with the space key,
// switches to high contrast, and saves screenshots as test artifacts
// (go test -artifacts).
func TestPageInHeadlessChromium(t *testing.T) {
	p := New(explain.EN, explain.ChapterNamespaces, true, recorded())
	srv := serve(t, p)
	var ran atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- explain.New(p).Run(explain.Plan{step("ns-a", &ran), step("ns-b", &ran), step("ns-c", &ran)}, nil)
	}()

	ctx := headless.Open(t, 90*time.Second)
	shot := func(name string) { headless.Shot(t, ctx, name) }
	waitTitle := func(want string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('title').textContent === `+jsString(want)+
			` && !document.getElementById('next').disabled`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("waiting for step %q with Next enabled: %v", want, err)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	waitTitle("step ns-a")
	const id = "6934324900d41801cc5c32f61b6481a61ec809157955e372d8b1dc25efff5ecb"
	text := func(js string) string { t.Helper(); return headless.Text(t, ctx, js) }
	why := text(`document.getElementById('why').textContent`)
	header := text(`document.getElementById('where').textContent`)
	hostNet := text(`document.querySelector('#n-ns-host-net .label').textContent`)
	ctrNet := text(`document.querySelector('#n-ns-` + id + `-net .label').textContent`)
	userNS := text(`document.querySelector('#n-ns-` + id + `-user').getAttribute('class')`)
	if why != "because" || !strings.Contains(header, "namespaces") {
		t.Errorf("why %q, header %q", why, header)
	}
	if hostNet != "net:[4026531833]" || ctrNet != "net:[4026532180]" {
		t.Errorf("host net %q, container net %q: want the recorded inodes, different", hostNet, ctrNet)
	}
	if !strings.Contains(userNS, "shared") {
		t.Errorf("the shared user namespace is not marked: class %q", userNS)
	}
	shot("1-step-a.png")
	if ran.Load() != 0 {
		t.Fatal("a step ran before Next")
	}

	// The page's button advances one step.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#next"))); err != nil {
		t.Fatal(err)
	}
	waitTitle("step ns-b")
	if ran.Load() != 1 {
		t.Fatalf("after the button: %d steps ran, want 1", ran.Load())
	}
	// So does the space key.
	if err := chromedp.Do(ctx, chromedp.KeyEvent(" ")); err != nil {
		t.Fatal(err)
	}
	waitTitle("step ns-c")
	if ran.Load() != 2 {
		t.Fatalf("after space: %d steps ran, want 2", ran.Load())
	}
	// High contrast.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#hc"))); err != nil {
		t.Fatal(err)
	}
	bodyClass := text(`document.body.className`)
	if bodyClass != "hc" {
		t.Errorf("body class after the toggle = %q", bodyClass)
	}
	shot("2-step-c-high-contrast.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#next"))); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lat, err := chromedp.Run(ctx, chromedp.Poll[[]float64](`window.minirunLatency.length >= 3 ? window.minirunLatency : null`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	sort.Float64s(lat)
	t.Logf("step end -> page (headless chromium): median %.1f ms over %d steps", lat[len(lat)/2], len(lat))
	if lat[len(lat)/2] > 200 {
		t.Errorf("median %.1f ms > 200 ms", lat[len(lat)/2])
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
