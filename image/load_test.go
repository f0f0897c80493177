package image

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/minirun/minirun/image/layer"
)

// A `docker save` archive written by another implementation
// (go-containerregistry's tarball package: manifest.json, gzipped layers)
// loads with its tags, and its ID is the config's digest.
func TestLoadDockerSaveTar(t *testing.T) {
	img := remoteImage(t, "saved", entries(t, "etc/", "etc/os=base"), entries(t, "app=1"))
	tag, _ := name.NewTag("course/app:v2")
	path := filepath.Join(t.TempDir(), "app.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	var out bytes.Buffer
	imgs, err := s.Load(path, LoadOptions{Progress: &out})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want, _ := img.ConfigName()
	if len(imgs) != 1 || imgs[0].ID != want.String() {
		t.Fatalf("loaded %v, want ID %s", imgs, want)
	}
	if !slices.Equal(imgs[0].Names, []string{"course/app:v2"}) || out.String() != "Loaded image: course/app:v2\n" {
		t.Errorf("names %v, output %q", imgs[0].Names, out.String())
	}
	dirs, err := s.LayerDirs(imgs[0])
	if err != nil || len(dirs) != 2 {
		t.Fatalf("LayerDirs %v %v", dirs, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dirs[1], "etc/os")); string(b) != "base" {
		t.Errorf("base layer: %q", b)
	}
	// From stdin, gzipped, as `docker save | gzip | minirun load` does.
	raw, _ := os.ReadFile(path)
	s2, _ := newStore(t)
	imgs, err = s2.Load("-", LoadOptions{Stdin: bytes.NewReader(gzipBytes(t, raw))})
	if err != nil || len(imgs) != 1 || imgs[0].ID != want.String() {
		t.Errorf("load from gzipped stdin: %v %v", imgs, err)
	}
	if n := countDir(t, s2.tmpDir()); n != 0 {
		t.Errorf("%d files left in tmp/", n)
	}
}

// An OCI image layout (go-containerregistry's layout package), as a
// directory and as a tar, with a name in its index annotations.
func TestLoadOCILayout(t *testing.T) {
	img := remoteImage(t, "oci", entries(t, "bin/", "bin/app=app"))
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{ociRefName: "registry.example:5000/team/app:1.0"})); err != nil {
		t.Fatal(err)
	}
	want, _ := img.ConfigName()

	s, _ := newStore(t)
	imgs, err := s.Load(dir, LoadOptions{})
	if err != nil || len(imgs) != 1 || imgs[0].ID != want.String() {
		t.Fatalf("load dir: %v %v", imgs, err)
	}
	if !slices.Equal(imgs[0].Names, []string{"registry.example:5000/team/app:1.0"}) {
		t.Errorf("names %v", imgs[0].Names)
	}

	var tarball bytes.Buffer
	if err := layer.WriteTar(&tarball, dir); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "layout.tar")
	os.WriteFile(tarPath, tarball.Bytes(), 0o644)
	s2, _ := newStore(t)
	if imgs, err := s2.Load(tarPath, LoadOptions{}); err != nil || len(imgs) != 1 || imgs[0].ID != want.String() {
		t.Fatalf("load tar: %v %v", imgs, err)
	}

	// A blob that does not hash to its name is refused.
	l, _ := img.Layers()
	d, _ := l[0].Digest()
	blob := filepath.Join(dir, "blobs", "sha256", d.Hex)
	b, _ := os.ReadFile(blob)
	b[len(b)/2] ^= 0xff
	os.WriteFile(blob, b, 0o644)
	s3, dataRoot := newStore(t)
	before := tree(t, dataRoot)
	if _, err := s3.Load(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Errorf("load of a corrupted layout: %v", err)
	}
	if after := tree(t, dataRoot); !slices.Equal(before, after) {
		t.Errorf("store changed:\n%v\n%v", before, after)
	}
}

// save → load gives the same image IDs, for an imported image (plain tar
// layers) and a pulled one (gzipped layers, now saved uncompressed), and
// saving twice gives the same bytes.
func TestSaveLoadRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	imported, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"bin/x": "x", "etc/y": strings.Repeat("y", 9000)})), "local/imp:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	base, top := whiteoutLayers(t)
	push(t, reg, "pulled:latest", remoteImage(t, "p", base, top))
	pulled, err := s.Pull(reg.host+"/pulled", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("local/imp:1", "local/imp:other"); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := s.Save(&a, []string{"local/imp:1", "local/imp:other", reg.host + "/pulled"}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := s.Save(&b, []string{"local/imp:1", "local/imp:other", reg.host + "/pulled"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two saves of the same images differ")
	}
	path := filepath.Join(t.TempDir(), "saved.tar")
	os.WriteFile(path, a.Bytes(), 0o644)

	s2, _ := newStore(t)
	imgs, err := s2.Load(path, LoadOptions{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var ids []string
	for _, img := range imgs {
		ids = append(ids, img.ID)
	}
	if !slices.Equal(ids, []string{imported.ID, pulled.ID}) {
		t.Fatalf("loaded %v, want %s %s", ids, imported.ID, pulled.ID)
	}
	if !slices.Equal(imgs[0].Names, []string{"local/imp:1", "local/imp:other"}) {
		t.Errorf("names %v", imgs[0].Names)
	}
	// The same archive is also a valid OCI layout for other tools.
	ociDir := t.TempDir()
	if _, err := layer.ExtractRecorded(bytes.NewReader(a.Bytes()), ociDir, io.Discard); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(ociDir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 3 {
		t.Errorf("index has %d entries, want one per name (3)", len(im.Manifests))
	}
	oimg, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if cn, _ := oimg.ConfigName(); cn.String() != imported.ID {
		t.Errorf("OCI view: config %s", cn)
	}
	if err := validateLayers(oimg); err != nil {
		t.Errorf("OCI view: %v", err)
	}
}

// validateLayers checks each layer's diff ID against its content.
func validateLayers(img ggcr.Image) error {
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		d, _ := l.DiffID()
		if sha256hex(buf.Bytes()) != d.Hex {
			return os.ErrInvalid
		}
	}
	return nil
}
