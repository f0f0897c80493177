// Package buildtest is the end-to-end test of a Dockerfile build with a
// real container runner: RUN commands executed by busybox in a container
// on an overlayfs mount, their upper directories committed as layers.
//
// The builder (package build) does not run containers; whoever implements
// build.Runner (the container manager) calls Run from its own tests to
// prove the two fit:
//
//	func TestBuildWithRealContainers(t *testing.T) {
//		buildtest.Run(t, func(t *testing.T, dataRoot string) build.Runner {
//			m, err := container.Open(dataRoot, t.TempDir())
//			...
//			return m.BuildRunner()
//		})
//	}
//
// It needs root (MINIRUN_TEST_ROOT=1) and Debian's busybox-static, and it
// removes everything it creates.
package buildtest

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/image/build"
	"github.com/minirun/minirun/internal/testutil"
)

// Dockerfile exercises what a RUN step must get right: files written,
// files and directories deleted (whiteouts, opaque directories), USER,
// WORKDIR created on demand, ENV and ARG in the environment, exit codes.
const Dockerfile = `FROM busybox
ARG WHO=world
RUN echo "hello $WHO" > /hello && rm /bin/vi && mkdir -p /var/cache/app && echo old > /var/cache/app/old
RUN rm -rf /var/cache/app && mkdir /var/cache/app && echo new > /var/cache/app/new
ENV GREETING=ola
WORKDIR /work
RUN pwd > /tmp/pwd && echo $GREETING > /tmp/env
USER nobody
RUN id -u > /tmp/uid
`

// Run builds Dockerfile on a busybox image with the runner newRunner
// returns for a store under dataRoot, and checks every layer.
func Run(t *testing.T, newRunner func(t *testing.T, dataRoot string) build.Runner) {
	t.Helper()
	testutil.RequireRoot(t)
	busybox := busyboxTar(t)
	dataRoot := t.TempDir()
	s, err := image.Open(dataRoot)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.Import(f, "busybox", &v1.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}, nil); err != nil {
		t.Fatal(err)
	}
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(Dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	runner := newRunner(t, dataRoot)
	var out bytes.Buffer
	img, err := build.Build(s, build.Options{ContextDir: ctx, Tags: []string{"buildtest:latest"}, Out: &out, Runner: runner})
	t.Logf("build output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	d := img.Config.RootFS.DiffIDs
	if len(d) != 5 {
		t.Fatalf("%d layers, want busybox + 4 RUN layers", len(d))
	}
	l1 := entries(t, s, d[1].String())
	if l1["hello"] != "hello world\n" {
		t.Errorf("RUN 1: /hello = %q", l1["hello"])
	}
	if _, ok := l1["bin/.wh.vi"]; !ok {
		t.Errorf("RUN 1: no whiteout for the deleted /bin/vi: %v", names(l1))
	}
	l2 := entries(t, s, d[2].String())
	_, opaque := l2["var/cache/app/.wh..wh..opq"]
	_, whiteout := l2["var/cache/.wh.app"]
	if l2["var/cache/app/new"] != "new\n" || (!opaque && !whiteout) {
		t.Errorf("RUN 2: a directory deleted and made again must hide the old one: %v", names(l2))
	}
	if _, ok := l2["var/cache/app/old"]; ok {
		t.Errorf("RUN 2: the deleted file is in the layer")
	}
	l3 := entries(t, s, d[3].String())
	if l3["tmp/pwd"] != "/work\n" || l3["tmp/env"] != "ola\n" {
		t.Errorf("RUN 3: pwd %q env %q", l3["tmp/pwd"], l3["tmp/env"])
	}
	l4 := entries(t, s, d[4].String())
	if l4["tmp/uid"] != "65534\n" {
		t.Errorf("RUN 4 (USER nobody): uid %q", l4["tmp/uid"])
	}
	// A failing command fails the build with its code.
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN exit 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = build.Build(s, build.Options{ContextDir: ctx, Runner: runner, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "non-zero code: 7") {
		t.Errorf("RUN exit 7: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dataRoot, "image", "tmp")); len(ents) != 0 {
		t.Errorf("scratch directories left behind: %v", ents)
	}
}

// busyboxTar builds the course's busybox rootfs with scripts/mkbusybox.sh.
func busyboxTar(t *testing.T) string {
	t.Helper()
	status, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "busybox-static").Output()
	if err != nil || !strings.Contains(string(status), "install ok installed") {
		t.Skip("needs Debian's busybox-static (apt-get install busybox-static)")
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "..", "scripts", "mkbusybox.sh")
	out := filepath.Join(t.TempDir(), "busybox.tar")
	if msg, err := exec.Command("bash", script, out).CombinedOutput(); err != nil {
		t.Fatalf("mkbusybox.sh: %v\n%s", err, msg)
	}
	return out
}

// entries reads a stored layer's tar: name → content ("" for non-files).
func entries(t *testing.T, s *image.Store, diffID string) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.LayerTar(&buf, diffID); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimSuffix(h.Name, "/")] = string(b)
	}
}

func names(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
