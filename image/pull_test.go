package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image/layer"
)

// testRegistry serves an in-memory registry on loopback, as the course's
// local registry would. tamper, when set, may replace a blob's bytes on
// their way out (a lying registry or a corrupted cache).
type testRegistry struct {
	host   string
	tamper func(path string, body []byte) []byte
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	reg := &testRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reg.tamper == nil || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		body := reg.tamper(r.URL.Path, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	reg.host = strings.TrimPrefix(srv.URL, "http://")
	return reg
}

// entries builds a layer tar from "name" → content; a name ending in "/"
// is a directory.
func entries(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range names {
		n, body, _ := strings.Cut(n, "=")
		h := &tar.Header{Name: n, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body)), ModTime: mtime}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// remoteImage makes a registry image of the given layer tars (gzipped on
// the way, as registries hold them), with a Cmd and a label to tell images
// apart.
func remoteImage(t *testing.T, label string, tars ...[]byte) ggcr.Image {
	t.Helper()
	img := empty.Image
	for _, b := range tars {
		b := b
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Labels = map[string]string{"test": label}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t *testing.T, reg *testRegistry, ref string, img ggcr.Image) string {
	t.Helper()
	r, err := name.ParseReference(reg.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d.String()
}

// The base layer has files; the top layer deletes one (a whiteout) and
// hides a directory of the base (opaque), then adds files.
func whiteoutLayers(t *testing.T) (base, top []byte) {
	base = entries(t, "etc/", "etc/motd=hello\n", "etc/issue=Debian\n", "var/", "var/cache/", "var/cache/a=1", "var/cache/b=2")
	topNames := []string{"etc/", "etc/.wh.issue=", "app/", "app/run=#!/bin/sh\n"}
	if os.Geteuid() == 0 {
		// trusted.overlay.opaque needs CAP_SYS_ADMIN.
		topNames = append(topNames, "var/", "var/cache/", "var/cache/.wh..wh..opq=", "var/cache/c=3")
	}
	return base, entries(t, topNames...)
}

func TestPullMultiLayerWithWhiteouts(t *testing.T) {
	reg := newRegistry(t)
	base, top := whiteoutLayers(t)
	remoteImg := remoteImage(t, "app", base, top)
	push(t, reg, "course/app:v1", remoteImg)

	s, _ := newStore(t)
	var out bytes.Buffer
	rec := &explain.Recorder{}
	img, err := s.Pull(reg.host+"/course/app:v1", PullOptions{Progress: &out, Tracer: explain.New(rec)})
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot create whiteouts here: %v", err)
		}
		t.Fatalf("Pull: %v\n%s", err, out.String())
	}
	t.Logf("pull output:\n%s", out.String())
	// The image ID is the registry's config digest: the config was kept
	// byte for byte.
	want, _ := remoteImg.ConfigName()
	if img.ID != want.String() {
		t.Errorf("image ID %s, want the config digest %s", img.ID, want)
	}
	if !slices.Equal(img.Names, []string{reg.host + "/course/app:v1"}) || len(img.RepoDigests) != 1 {
		t.Errorf("names %v, digests %v", img.Names, img.RepoDigests)
	}
	if !slices.Equal(img.Config.Config.Cmd, []string{"/bin/sh"}) {
		t.Errorf("cmd %v", img.Config.Config.Cmd)
	}
	for _, line := range []string{"v1: Pulling from course/app", "Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete", "Digest: sha256:", "Status: Downloaded newer image for " + reg.host + "/course/app:v1"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q", line)
		}
	}
	ids := strings.Join(rec.IDs(), " ")
	if !strings.HasPrefix(ids, "images-pull-manifest images-pull-config images-pull-layer images-layer-extract images-pull-layer images-layer-extract images-layer-commit images-layer-commit images-config-write images-tag") {
		t.Errorf("steps: %s", ids)
	}

	dirs, err := s.LayerDirs(img)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("LayerDirs: %v %v", dirs, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dirs[0], "etc/issue"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("top layer etc/issue: %v mode %o; want an overlay whiteout (char 0/0)", err, st.Mode)
	}
	if os.Geteuid() == 0 {
		v := make([]byte, 4)
		n, err := unix.Lgetxattr(filepath.Join(dirs[0], "var/cache"), layer.OpaqueXattr, v)
		if err != nil || string(v[:n]) != "y" {
			t.Errorf("var/cache is not opaque: %q %v", v[:n], err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dirs[1], "etc/issue")); string(b) != "Debian\n" {
		t.Errorf("base layer etc/issue = %q", b)
	}

	// Pulling again: up to date, nothing downloaded.
	out.Reset()
	again, err := s.Pull(reg.host+"/course/app:v1", PullOptions{Progress: &out})
	if err != nil || again.ID != img.ID || !strings.Contains(out.String(), "Image is up to date") {
		t.Errorf("second pull: %v %v\n%s", again, err, out.String())
	}
	// By digest: the same image, named by its digest.
	dgst, _ := remoteImg.Digest()
	got, err := s.Get(reg.host + "/course/app@" + dgst.String())
	if err != nil || got.ID != img.ID {
		t.Errorf("Get by digest: %v %v", got, err)
	}
}

// A manifest list with two platforms: the store gets the amd64 one.
func TestPullIndexPicksPlatform(t *testing.T) {
	reg := newRegistry(t)
	amd := remoteImage(t, "amd64", entries(t, "arch=amd64"))
	arm := remoteImage(t, "arm64", entries(t, "arch=arm64"))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: ggcr.Descriptor{Platform: &ggcr.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: ggcr.Descriptor{Platform: &ggcr.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	r, _ := name.ParseReference(reg.host + "/multi:latest")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	var out bytes.Buffer
	img, err := s.Pull(reg.host+"/multi", PullOptions{Platform: "linux/amd64", Progress: &out})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if img.Config.Config.Labels["test"] != "amd64" {
		t.Errorf("pulled the %q image", img.Config.Config.Labels["test"])
	}
	if !strings.Contains(out.String(), "Using default tag: latest") {
		t.Errorf("output:\n%s", out.String())
	}
	// The digest reference is the index's, as Docker records it.
	idxDigest, _ := idx.Digest()
	if !slices.Equal(img.RepoDigests, []string{reg.host + "/multi@" + idxDigest.String()}) {
		t.Errorf("repo digests %v, want the index digest %s", img.RepoDigests, idxDigest)
	}
	if _, err := s.Pull(reg.host+"/multi", PullOptions{Platform: "linux/s390x"}); err == nil || !strings.Contains(err.Error(), "linux/arm64/v8") {
		t.Errorf("pull of a missing platform: %v", err)
	}
}

// Pull by digest, and two images sharing their base: the base layer is
// downloaded and stored once, and removing one image keeps the other whole.
func TestPullByDigestSharesLayers(t *testing.T) {
	reg := newRegistry(t)
	base := entries(t, "usr/", "usr/big="+strings.Repeat("x", 1<<20))
	one := remoteImage(t, "one", base, entries(t, "one=1"))
	two := remoteImage(t, "two", base, entries(t, "two=2"))
	d1 := push(t, reg, "one:latest", one)
	push(t, reg, "two:latest", two)

	s, dataRoot := newStore(t)
	img1, err := s.Pull(reg.host+"/one@"+d1, PullOptions{})
	if err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
	if len(img1.Names) != 0 || !slices.Equal(img1.RepoDigests, []string{reg.host + "/one@" + d1}) {
		t.Errorf("names %v digests %v", img1.Names, img1.RepoDigests)
	}
	usage1 := diskUsage(t, dataRoot)
	var out bytes.Buffer
	img2, err := s.Pull(reg.host+"/two", PullOptions{Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ": Already exists") || strings.Count(out.String(), "Pulling fs layer") != 1 {
		t.Errorf("the shared layer was downloaded again:\n%s", out.String())
	}
	if grew := diskUsage(t, dataRoot) - usage1; grew > 256<<10 {
		t.Errorf("the second image took %d more bytes: its 1 MiB base was stored twice", grew)
	}
	if n := countDir(t, s.layersDir()); n != 3 {
		t.Errorf("%d layers stored, want 3", n)
	}
	if err := s.Remove(reg.host+"/one@"+d1, nil); err != nil {
		t.Fatalf("remove by digest: %v", err)
	}
	dirs, err := s.LayerDirs(img2)
	if err != nil {
		t.Fatalf("the other image lost a layer: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[1], "usr/big")); err != nil || len(b) != 1<<20 {
		t.Errorf("shared layer content: %d bytes, %v", len(b), err)
	}
	if n := countDir(t, s.layersDir()); n != 2 {
		t.Errorf("%d layers after removing one image, want 2", n)
	}
	if n := countDir(t, s.manifestsDir()); n != 1 {
		t.Errorf("%d manifests kept, want 1 (two's)", n)
	}
}

// A registry that serves a blob whose bytes do not hash to its digest is
// caught, and the store is left as it was.
func TestPullRejectsWrongDigest(t *testing.T) {
	for _, what := range []string{"layer", "config"} {
		t.Run(what, func(t *testing.T) {
			reg := newRegistry(t)
			img := remoteImage(t, "x", entries(t, "f="+strings.Repeat("a", 4096)))
			push(t, reg, "bad:latest", img)
			var target string
			if what == "layer" {
				ls, _ := img.Layers()
				d, _ := ls[0].Digest()
				target = d.String()
			} else {
				d, _ := img.ConfigName()
				target = d.String()
			}
			reg.tamper = func(path string, body []byte) []byte {
				if strings.HasSuffix(path, target) && len(body) > 20 {
					body = bytes.Clone(body)
					body[len(body)/2] ^= 0xff // same size, other content
				}
				return body
			}
			s, dataRoot := newStore(t)
			before := tree(t, dataRoot)
			_, err := s.Pull(reg.host+"/bad", PullOptions{})
			if err == nil {
				t.Fatal("Pull accepted a blob that does not match its digest")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), "sha256") {
				t.Errorf("error does not name the digest: %v", err)
			}
			if after := tree(t, dataRoot); !slices.Equal(before, after) {
				t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestPullDryRunNarrates(t *testing.T) {
	s, dataRoot := newStore(t)
	before := tree(t, dataRoot)
	rec := &explain.Recorder{}
	// No registry listens there: a dry run must not try.
	img, err := s.Pull("127.0.0.1:1/nothing:v1", PullOptions{Tracer: explain.NewDryRun(rec)})
	if err != nil || img != nil {
		t.Fatalf("dry run: %v %v", img, err)
	}
	want := "images-pull-manifest images-pull-config images-pull-layer images-layer-extract images-layer-commit images-config-write images-tag"
	if got := strings.Join(rec.IDs(), " "); got != want {
		t.Errorf("steps %s", got)
	}
	for _, ev := range rec.Events {
		if ev.Step.Shell == "" || ev.Step.Why.PT == "" || ev.Step.Why.EN == "" {
			t.Errorf("step %s incomplete", ev.Step.ID)
		}
	}
	if after := tree(t, dataRoot); !slices.Equal(before, after) {
		t.Error("dry run changed the store")
	}
}
