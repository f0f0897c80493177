// Package headless opens the projector page in a real browser for tests:
// Debian's chromium, headless, through the DevTools protocol
// (github.com/chromedp/chromedp), at the projector's 1280×720. Only tests
// import it, so the browser driver stays out of the minirun binary.
package headless

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Width and Height are the projector's resolution (issue #17).
const (
	Width  = 1280
	Height = 720
)

// Browser finds chromium ($MINIRUN_CHROMIUM first; scripts/setup.sh
// installs Debian's), and skips the test without it.
func Browser(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("MINIRUN_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium: apt-get install chromium")
	return ""
}

// Open starts a headless chromium for the test, with a profile of its own
// in a temporary directory, and returns a tab's context that ends after
// timeout (the browser is closed when the test ends).
func Open(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	exe := Browser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(Width, Height), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// Text evaluates a JavaScript expression that gives a string.
func Text(t testing.TB, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// Shot saves a screenshot of the page as the test artifact name
// (`go test -artifacts` keeps them).
func Shot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
