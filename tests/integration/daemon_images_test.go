//go:build integration

package integration

// The daemon's image endpoints driven by Debian's docker 20.10 client:
// build (the classic builder's stream), history, pull from a loopback
// registry (the JSON progress stream), save and load, import, tag, rmi
// with its conflicts, and prune. Names with a registry port, slashes and
// a tag go through every per-image route.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// rmiAtEnd removes images (by name or ID) when the test ends, through
// minirun's CLI, so a failed test leaves no image behind.
func rmiAtEnd(t *testing.T, refs ...string) {
	t.Cleanup(func() {
		for _, r := range refs {
			mr(t, "image", "rm", r)
		}
	})
}

// imageID is the ID the daemon reports for ref, "" when it has none.
func (d *daemonUnderTest) imageID(t *testing.T, ref string) string {
	t.Helper()
	r := d.docker(t, "image", "inspect", "--format", "{{.Id}}", ref)
	if r.code != 0 {
		return ""
	}
	return strings.TrimSpace(r.stdout)
}

// importBusybox makes an image of its own from the suite's busybox rootfs
// through `docker import` (a new ID each time: the config holds the
// time), named ref ("" leaves it untagged); it returns the ID.
func (d *daemonUnderTest) importBusybox(t *testing.T, ref string) string {
	t.Helper()
	args := []string{"import", "--change", `CMD ["sh"]`, busyboxTar}
	if ref != "" {
		args = append(args, ref)
	}
	id := strings.TrimSpace(d.dockerOK(t, args...))
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("docker import printed %q, want the image ID", id)
	}
	rmiAtEnd(t, id)
	return id
}

func TestDaemonImageBuildRunHistory(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dib-run")
	rmiAtEnd(t, "dib:1", "dib:latest")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("copied from the context\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(`FROM busybox
ARG GREETING=unset
RUN echo "built with $GREETING" > /built.txt
COPY hello.txt /hello.txt
CMD ["sh", "-c", "cat /built.txt /hello.txt"]
`), 0o644)
	out := d.dockerOK(t, "build", "-t", "dib:1", "--build-arg", "GREETING=ola", "--label", "course=containers", dir)
	for _, want := range []string{"Step 1/6 : FROM busybox", "Step 3/6 : RUN echo", "Step 6/6 : LABEL", "Removing intermediate container",
		"Successfully built ", "Successfully tagged dib:1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker build: no %q in\n%s", want, out)
		}
	}
	r := d.docker(t, "run", "--rm", "--name", "dib-run", "dib:1")
	if r.code != 0 || r.stdout != "built with ola\ncopied from the context\n" {
		t.Fatalf("docker run --rm dib:1: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if l := strings.TrimSpace(d.dockerOK(t, "image", "inspect", "--format", "{{.Config.Labels.course}}", "dib:1")); l != "containers" {
		t.Fatalf("the --label of the build: %q", l)
	}
	hist := d.dockerOK(t, "history", "--no-trunc", "dib:1")
	for _, want := range []string{"echo \"built with $GREETING\"", "COPY", `CMD ["sh","-c","cat /built.txt /hello.txt"]`, "minirun import"} {
		if !strings.Contains(hist, want) {
			t.Fatalf("docker history dib:1: no %q in\n%s", want, hist)
		}
	}
	// The steps built here have their IDs; busybox's import step too,
	// while the history of a pulled image would show <missing>.
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 1+6 || !strings.HasPrefix(lines[1], d.imageID(t, "dib:1")) {
		t.Fatalf("docker history dib:1: want a header and 6 steps (busybox import, ARG, RUN, COPY, CMD, LABEL), newest (the image) first:\n%s", hist)
	}
	// Again: every step from the cache, and -q prints only the ID.
	again := d.dockerOK(t, "build", "-q", "-t", "dib:latest", "--build-arg", "GREETING=ola", "--label", "course=containers", dir)
	if strings.TrimSpace(again) != d.imageID(t, "dib:1") {
		t.Fatalf("docker build -q of the same context: %q, want the cached image %s", again, d.imageID(t, "dib:1"))
	}
}

func TestDaemonImageBuildErrors(t *testing.T) {
	d := startDaemon(t)
	rmiAtEnd(t, "dib-bad:1")
	dir := t.TempDir()
	// A Dockerfile that does not parse: refused before the build starts
	// (400), printed by the client.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nFROBNICATE all\n"), 0o644)
	r := d.docker(t, "build", "-t", "dib-bad:1", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "unknown instruction") {
		t.Fatalf("docker build of an unknown instruction: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// A RUN that fails: the error comes in the stream, after the steps.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo about to fail; exit 3\n"), 0o644)
	r = d.docker(t, "build", "-t", "dib-bad:1", dir)
	if r.code == 0 || !strings.Contains(r.stdout, "about to fail") || !strings.Contains(r.stderr, "returned a non-zero code: 3") {
		t.Fatalf("docker build of a failing RUN: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if d.imageID(t, "dib-bad:1") != "" {
		t.Fatal("a failed build tagged its image")
	}
	// -f names a Dockerfile the context does not have.
	r = d.docker(t, "build", "-f", filepath.Join(dir, "nope"), dir)
	if r.code == 0 {
		t.Fatalf("docker build -f of a missing file: exit 0\n%s", r.stdout)
	}
}

// A loopback registry of the test's own, holding the suite's busybox.
func TestDaemonImagePull(t *testing.T) {
	d := startDaemon(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:PORT
	ref := host + "/course/bb:1"
	layer, err := tarball.LayerFromFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	// The busybox layer is in the store already (the suite imported
	// it); the second one, a file of this test, must be downloaded.
	own, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarOf(t, "pulled.txt", "from the registry\n"))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer, own)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goruntime.GOARCH
	cf.Config.Cmd = []string{"sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	nref, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(nref, img); err != nil {
		t.Fatal(err)
	}
	cfgDigest, _ := img.ConfigName()
	rmAtEnd(t, "dip-run")
	rmiAtEnd(t, ref)

	out := d.dockerOK(t, "pull", ref)
	for _, want := range []string{"1: Pulling from course/bb", "Already exists", "Pull complete", "Digest: sha256:", "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker pull %s: no %q in\n%s", ref, want, out)
		}
	}
	if id := d.imageID(t, ref); id != cfgDigest.String() {
		t.Fatalf("the pulled image's ID is %q, want the config digest %s", id, cfgDigest)
	}
	if r := d.docker(t, "run", "--rm", "--name", "dip-run", ref, "cat", "/pulled.txt"); r.code != 0 || r.stdout != "from the registry\n" {
		t.Fatalf("docker run --rm %s echo pulled: exit %d, %q %q", ref, r.code, r.stdout, r.stderr)
	}
	if out := d.dockerOK(t, "pull", ref); !strings.Contains(out, "Image is up to date for "+ref) {
		t.Fatalf("a second docker pull: %s", out)
	}
	// docker run of an image that is not here: create answers 404, and
	// the client pulls through POST /images/create, then creates again.
	d.dockerOK(t, "rmi", ref)
	r := d.docker(t, "run", "--rm", "--name", "dip-run", ref, "cat", "/pulled.txt")
	if r.code != 0 || r.stdout != "from the registry\n" || !strings.Contains(r.stderr, "Unable to find image") || !strings.Contains(r.stderr, "Pull complete") {
		t.Fatalf("docker run of a missing image: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// A tag the registry does not have: the client prints the error.
	if r := d.docker(t, "pull", host+"/course/bb:2"); r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "manifest") {
		t.Fatalf("docker pull of a missing tag: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// docker rmi NAME@sha256:… untags that digest reference only, as
	// dockerd does, also when the image has a tag in another repository
	// (it was taken for a removal by ID: a 409 "referenced in multiple
	// repositories").
	rmiAtEnd(t, "dip-other:1")
	d.dockerOK(t, "tag", ref, "dip-other:1")
	pinned := strings.TrimSpace(d.dockerOK(t, "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref))
	if !strings.Contains(pinned, "/course/bb@sha256:") {
		t.Fatalf("the pulled image's RepoDigests[0] is %q", pinned)
	}
	if out := d.dockerOK(t, "rmi", pinned); out != "Untagged: "+pinned+"\n" {
		t.Fatalf("docker rmi %s: %q, want only its untag", pinned, out)
	}
	left := strings.TrimSpace(d.dockerOK(t, "image", "inspect", "--format", "{{.RepoTags}} {{.RepoDigests}}", cfgDigest.String()))
	if left != "["+ref+" dip-other:1] []" {
		t.Fatalf("after docker rmi %s the image has %s, want its two tags and no digest", pinned, left)
	}
}

func TestDaemonImageImportSaveLoad(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "disl-run")
	id := d.importBusybox(t, "disl:1")
	rmiAtEnd(t, "disl:1")
	if r := d.docker(t, "run", "--rm", "--name", "disl-run", "disl:1", "echo", "imported"); r.code != 0 || r.stdout != "imported\n" {
		t.Fatalf("docker run --rm of the imported image: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// The import read from stdin (fromSrc=-) too.
	in, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	r := d.dockerIn(t, string(in), "import", "-", "disl:stdin")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("docker import - : exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	rmiAtEnd(t, strings.TrimSpace(r.stdout))

	archive := filepath.Join(t.TempDir(), "disl.tar")
	d.dockerOK(t, "save", "-o", archive, "disl:1")
	if out := d.dockerOK(t, "rmi", "disl:1"); !strings.Contains(out, "Untagged: disl:1") || !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("docker rmi disl:1: %s", out)
	}
	if d.imageID(t, "disl:1") != "" {
		t.Fatal("docker rmi left disl:1")
	}
	// docker load < archive: the same image, by ID, comes back.
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	r = d.dockerIn(t, string(data), "load")
	if r.code != 0 || !strings.Contains(r.stdout, "Loaded image: disl:1") {
		t.Fatalf("docker load: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if got := d.imageID(t, "disl:1"); got != id {
		t.Fatalf("after save, rmi, load: ID %q, want %s", got, id)
	}
	// docker save | docker load, through a pipe.
	sh := exec.Command("bash", "-o", "pipefail", "-c", dockerClient()+" save disl:1 | "+dockerClient()+" load")
	sh.Env = d.env
	if out, err := sh.CombinedOutput(); err != nil || !strings.Contains(string(out), "Loaded image: disl:1") {
		t.Fatalf("docker save | docker load: %v\n%s", err, out)
	}
	// Not an archive: the client gets the error.
	if r := d.dockerIn(t, "not a tar at all", "load"); r.code == 0 {
		t.Fatalf("docker load of garbage: exit 0, %q", r.stdout)
	}
}

func TestDaemonImageTagRmi(t *testing.T) {
	d := startDaemon(t)
	const long = "localhost:5000/course/app:1"
	rmiAtEnd(t, long)
	busybox := d.imageID(t, "busybox")
	d.dockerOK(t, "tag", "busybox", long)
	out := d.dockerOK(t, "images")
	if !strings.Contains(out, "localhost:5000/course/app") || !regexpLine(out, `^busybox\s+latest\s`) {
		t.Fatalf("docker images after tag: want both names\n%s", out)
	}
	// Every per-image route takes the name with its port, slashes and tag.
	if id := d.imageID(t, long); id != busybox {
		t.Fatalf("docker image inspect %s: %q, want %s", long, id, busybox)
	}
	if out := d.dockerOK(t, "history", "-q", long); !strings.Contains(out, strings.TrimPrefix(busybox, "sha256:")[:12]) {
		t.Fatalf("docker history %s:\n%s", long, out)
	}
	if code, body := d.curl(t, "http://docker/v1.41/images/"+long+"/get"); code != "200" || !strings.Contains(body, "manifest.json") {
		t.Fatalf("GET /images/%s/get: %s (%d bytes)", long, code, len(body))
	}
	if out := d.dockerOK(t, "rmi", long); strings.TrimSpace(out) != "Untagged: "+long {
		t.Fatalf("docker rmi %s: %q, want only the name untagged", long, out)
	}
	if d.imageID(t, "busybox") != busybox {
		t.Fatal("docker rmi of a second name removed busybox")
	}
	if r := d.docker(t, "rmi", "no-such-image:1"); r.code == 0 || !strings.Contains(r.stderr, "No such image") {
		t.Fatalf("docker rmi of a missing image: %d %q", r.code, r.stderr)
	}

	// A container uses the image: 409, by name and by ID; -f untags it.
	rmAtEnd(t, "dirm-stopped", "dirm-running")
	id := d.importBusybox(t, "dirm:1")
	d.dockerOK(t, "create", "--name", "dirm-stopped", "dirm:1", "true")
	r := d.docker(t, "rmi", "dirm:1")
	if r.code == 0 || !strings.Contains(r.stderr, "conflict: unable to remove repository reference") {
		t.Fatalf("docker rmi of an image a container uses: exit %d, %q", r.code, r.stderr)
	}
	if code, body := d.curl(t, "-X", "DELETE", "http://docker/v1.41/images/dirm:1"); code != "409" || !strings.Contains(body, "must force") {
		t.Fatalf("DELETE /images/dirm:1 while a container uses it: %s %s", code, body)
	}
	if r := d.docker(t, "rmi", id); r.code == 0 || !strings.Contains(r.stderr, "being used by stopped container") {
		t.Fatalf("docker rmi ID of an image a stopped container uses: exit %d, %q", r.code, r.stderr)
	}
	d.dockerOK(t, "run", "-d", "--name", "dirm-running", id, "sleep", "60")
	if r := d.docker(t, "rmi", "-f", id); r.code == 0 || !strings.Contains(r.stderr, "(cannot be forced) - image is being used by running container") {
		t.Fatalf("docker rmi -f ID of an image a running container uses: exit %d, %q", r.code, r.stderr)
	}
	if out := d.dockerOK(t, "rmi", "-f", "dirm:1"); strings.TrimSpace(out) != "Untagged: dirm:1" {
		t.Fatalf("docker rmi -f dirm:1: %q", out)
	}
	if out := d.dockerOK(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(out, "dirm:1") {
		t.Fatalf("docker images after rmi -f: %s", out)
	}
	if d.imageID(t, id) != id {
		t.Fatal("rmi -f deleted an image containers use")
	}

	// The containers gone, the image is dangling: prune removes it.
	d.dockerOK(t, "rm", "-f", "dirm-stopped", "dirm-running")
	out = d.dockerOK(t, "image", "prune", "-f")
	if !strings.Contains(out, "deleted: "+id) {
		t.Fatalf("docker image prune -f: no %s in\n%s", id, out)
	}
	if d.imageID(t, id) != "" {
		t.Fatal("the dangling image survived the prune")
	}
	if d.imageID(t, "busybox") != busybox {
		t.Fatal("prune removed busybox, which has a name")
	}
}

func TestDaemonImagePruneFilters(t *testing.T) {
	d := startDaemon(t)
	old := d.importBusybox(t, "")
	// until=1h: the image made a moment ago is kept; label=…: no image
	// of the import has the label, so none goes.
	for _, f := range []string{"until=1h", "label=course=containers"} {
		code, body := d.curl(t, "-X", "POST", "http://docker/v1.41/images/prune?filters="+urlQuery(`{"`+strings.Replace(f, "=", `":{"`, 1)+`":true}}`))
		var rep struct {
			ImagesDeleted []struct{ Deleted string }
		}
		if code != "200" || json.Unmarshal([]byte(body), &rep) != nil {
			t.Fatalf("prune %s: %s %s", f, code, body)
		}
		for _, del := range rep.ImagesDeleted {
			if del.Deleted == old {
				t.Fatalf("prune with %s removed %s", f, old)
			}
		}
	}
	if d.imageID(t, old) != old {
		t.Fatal("a filtered prune removed the image")
	}
	if code, body := d.curl(t, "-X", "POST", "http://docker/v1.41/images/prune?filters="+urlQuery(`{"colour":{"red":true}}`)); code != "400" {
		t.Fatalf("prune with an unknown filter: %s %s", code, body)
	}
	if out := d.dockerOK(t, "image", "prune", "-f", "--filter", "until=0s"); !strings.Contains(out, "deleted: "+old) {
		t.Fatalf("docker image prune -f --filter until=0s: %s", out)
	}
}

// regexpLine reports whether a line of out matches the pattern.
func regexpLine(out, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(out)
}

// tarOf is a tar of one file.
func tarOf(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	tw.Close()
	return buf.Bytes()
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// sleepers lists the processes whose command line is argv exactly.
func sleepers(argv ...string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && string(b) == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A client that hangs up (Ctrl-C on `docker build`) ends the build, as
// with dockerd: the RUN step's container is killed and deleted within
// seconds, not left to its `sleep` for five minutes.
func TestDaemonImageBuildCancel(t *testing.T) {
	d := startDaemon(t)
	rmiAtEnd(t, "dibc:1")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN sleep 297\nRUN touch /never\n"), 0o644)
	cmd := exec.Command(dockerClient(), "build", "-t", "dibc:1", dir)
	cmd.Env = d.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	running := regexp.MustCompile(`Running in ([0-9a-f]{12})`)
	var id string
	buf := make([]byte, 4096)
	var seen []byte
	for deadline := time.Now().Add(30 * time.Second); id == "" && time.Now().Before(deadline); {
		n, err := out.Read(buf)
		seen = append(seen, buf[:n]...)
		if m := running.FindSubmatch(seen); m != nil {
			id = string(m[1])
		}
		if err != nil {
			break
		}
	}
	if id == "" {
		t.Fatalf("docker build: no RUN step started:\n%s", seen)
	}
	// The step's sleep must be running before the client goes.
	for deadline := time.Now().Add(10 * time.Second); len(sleepers("sleep", "297")) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the RUN step's sleep 297 never ran")
		}
	}
	cmd.Process.Kill() // SIGKILL: the connection closes as on Ctrl-C
	cmd.Wait()
	t0 := time.Now()
	state := filepath.Join(stateRoot, "build-"+id)
	for {
		_, serr := os.Lstat(state)
		left := sleepers("sleep", "297")
		if len(left) == 0 && os.IsNotExist(serr) {
			break
		}
		if time.Since(t0) > 10*time.Second {
			for _, pid := range left { // the test's own container's sleep
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("10s after the client was killed: sleep pids %v, state %s: %v", left, state, serr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the build container was gone %v after the client", time.Since(t0).Round(time.Millisecond))
	if d.imageID(t, "dibc:1") != "" {
		t.Fatal("the cancelled build tagged dibc:1")
	}
}
