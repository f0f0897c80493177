package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/explain"
)

func TestImportThenGet(t *testing.T) {
	s, _ := newStore(t)
	tarball := layerTar(t, map[string]string{"bin/hello": "hello world\n", "etc/motd": "hi\n"})
	img, err := s.Import(bytes.NewReader(tarball), "app:v1", &v1.ImageConfig{Cmd: []string{"/bin/hello"}}, nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	// The diff ID is what `sha256sum layer.tar` prints.
	if got, want := img.Config.RootFS.DiffIDs, []digest.Digest{digest.Digest("sha256:" + sha256hex(tarball))}; !slices.Equal(got, want) {
		t.Errorf("diff_ids = %v, want %v", got, want)
	}
	if img.Size != int64(len("hello world\n")+len("hi\n")) {
		t.Errorf("Size = %d", img.Size)
	}
	if img.Created.IsZero() || img.Config.OS != "linux" || img.Config.RootFS.Type != "layers" {
		t.Errorf("config incomplete: created %v os %q rootfs %q", img.Created, img.Config.OS, img.Config.RootFS.Type)
	}
	if !slices.Equal(img.Names, []string{"app:v1"}) {
		t.Errorf("Names = %v", img.Names)
	}
	hexID := strings.TrimPrefix(img.ID, "sha256:")
	for _, ref := range []string{"app:v1", img.ID, hexID, hexID[:12], hexID[:4]} {
		got, err := s.Get(ref)
		if err != nil {
			t.Errorf("Get(%q): %v", ref, err)
			continue
		}
		if got.ID != img.ID || !slices.Equal(got.Config.Config.Cmd, []string{"/bin/hello"}) {
			t.Errorf("Get(%q) = %s cmd %v", ref, got.ID, got.Config.Config.Cmd)
		}
	}
	// The config on disk hashes to the ID: the ID is a content address.
	data, err := os.ReadFile(s.configPath(digest.Digest(img.ID)))
	if err != nil || digest.FromBytes(data).String() != img.ID {
		t.Errorf("config file does not hash to the ID: %v", err)
	}
	for _, ref := range []string{"app", "app:v2", "sha256:" + strings.Repeat("0", 64), "ffff"} {
		if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", ref, err)
		}
	}
	if _, err := s.Get(hexID[:3]); err == nil {
		t.Errorf("Get of a 3-digit prefix succeeded")
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != img.ID {
		t.Errorf("List = %v, %v", list, err)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("LayerDirs = %v, %v", dirs, err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[0], "bin/hello")); err != nil || string(b) != "hello world\n" {
		t.Errorf("layer content: %q, %v", b, err)
	}
}

func TestImportGzipAndNilConfig(t *testing.T) {
	s, _ := newStore(t)
	tarball := layerTar(t, map[string]string{"a": "x"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball)
	zw.Close()
	img, err := s.Import(&gz, "", nil, nil)
	if err != nil {
		t.Fatalf("Import gzip: %v", err)
	}
	// Same diff ID as the plain tar: it is the digest of the uncompressed stream.
	if got := img.Config.RootFS.DiffIDs[0].Encoded(); got != sha256hex(tarball) {
		t.Errorf("diff ID %s, want sha256 of the uncompressed tar %s", got, sha256hex(tarball))
	}
	// nil config: nothing assumed, not even a shell.
	c := img.Config.Config
	if len(c.Cmd) != 0 || len(c.Entrypoint) != 0 || len(c.Env) != 0 || c.WorkingDir != "" {
		t.Errorf("nil config produced defaults: %+v", c)
	}
	if len(img.Names) != 0 {
		t.Errorf("untagged import got names %v", img.Names)
	}
}

// TestSharedLayerStoredOnce imports the same rootfs as two images: the
// layer must exist once on disk, and survive until its last image goes.
func TestSharedLayerStoredOnce(t *testing.T) {
	s, _ := newStore(t)
	tarball := layerTar(t, map[string]string{"big": strings.Repeat("x", 1<<20)})
	a, err := s.Import(bytes.NewReader(tarball), "a", &v1.ImageConfig{Cmd: []string{"a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	duOne := diskUsage(t, s.layersDir())
	b, err := s.Import(bytes.NewReader(tarball), "b", &v1.ImageConfig{Cmd: []string{"b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatal("different configs gave the same image ID")
	}
	if n := countDir(t, s.layersDir()); n != 1 {
		t.Errorf("%d layer directories, want 1 shared", n)
	}
	duTwo := diskUsage(t, s.layersDir())
	t.Logf("layers on disk: %d bytes with one image, %d with two", duOne, duTwo)
	if duOne < 1<<20 || duTwo != duOne {
		t.Errorf("disk usage %d → %d: the shared layer must be stored once", duOne, duTwo)
	}

	if err := s.Remove("a", nil); err != nil {
		t.Fatalf("Remove a: %v", err)
	}
	if _, err := s.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get a after Remove: %v", err)
	}
	img, err := s.Get("b")
	if err != nil {
		t.Fatalf("Get b: %v", err)
	}
	if dirs, err := s.LayerDirs(img); err != nil {
		t.Errorf("b lost its layer when a was removed: %v", err)
	} else if _, err := os.Stat(filepath.Join(dirs[0], "big")); err != nil {
		t.Errorf("b's layer content: %v", err)
	}

	if err := s.Remove("b", nil); err != nil {
		t.Fatalf("Remove b: %v", err)
	}
	if n := countDir(t, s.layersDir()); n != 0 {
		t.Errorf("%d layers left after the last image went", n)
	}
	if n := countDir(t, s.configsDir()); n != 0 {
		t.Errorf("%d configs left", n)
	}
	if n := countDir(t, s.tmpDir()); n != 0 {
		t.Errorf("%d entries left in tmp/", n)
	}
}

func TestRemoveNamesInUseAndTwice(t *testing.T) {
	s, _ := newStore(t)
	img, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "one", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("one", "two:x"); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	used := func(id string) bool { return id == img.ID }

	// Two names: removing one only untags, even while in use.
	if err := s.Remove("one", used); err != nil {
		t.Fatalf("Remove one (other name left): %v", err)
	}
	if got, err := s.Get("two:x"); err != nil || !slices.Equal(got.Names, []string{"two:x"}) {
		t.Fatalf("after untag: %v, %v", got, err)
	}
	// Last name, in use: refused, nothing changed.
	err = s.Remove("two:x", used)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove of an image in use: %v, want ErrInUse", err)
	}
	t.Logf("refusal reads: %v", err)
	if _, err := s.Get("two:x"); err != nil {
		t.Fatalf("refused Remove changed the store: %v", err)
	}
	// By ID prefix, not in use: gone, names and all.
	if err := s.Remove(img.ID[len("sha256:"):][:8], func(string) bool { return false }); err != nil {
		t.Fatalf("Remove by ID prefix: %v", err)
	}
	if _, err := s.Get("two:x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("name survived its image: %v", err)
	}
	// Again: a clear not-found, nothing else.
	if err := s.Remove("two:x", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
}

// TestTagMovesName checks that tagging a name that pointed elsewhere
// leaves the old image in place, untagged.
func TestTagMovesName(t *testing.T) {
	s, _ := newStore(t)
	a, _ := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "a"})), "app", nil, nil)
	b, _ := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "b"})), "other", nil, nil)
	if err := s.Tag(b.ID, "app"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get("app")
	if got.ID != b.ID {
		t.Errorf("app -> %s, want %s", got.ID, b.ID)
	}
	old, err := s.Get(a.ID)
	if err != nil || len(old.Names) != 0 {
		t.Errorf("old image: %v names %v, want kept and untagged", err, old.Names)
	}
	if err := s.Tag("nonexistent", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tag of a missing image: %v", err)
	}
	if err := s.Tag("app", "Bad/Name"); err == nil {
		t.Error("Tag accepted an invalid name")
	}
}

func TestLayerDirsTopFirst(t *testing.T) {
	s, _ := newStore(t)
	bottom := layerTar(t, map[string]string{"etc/os": "base"})
	top := layerTar(t, map[string]string{"app/bin": "app"})
	img := v1.Image{Platform: v1.Platform{OS: "linux"}}
	got, err := s.create(sources(bottom, top), img, createOpts{tag: "stack:latest"}, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	dirs, err := s.LayerDirs(got)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("LayerDirs = %v, %v", dirs, err)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "app/bin")); err != nil {
		t.Errorf("dirs[0] must be the top layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirs[1], "etc/os")); err != nil {
		t.Errorf("dirs[1] must be the bottom layer: %v", err)
	}
	// A config whose layers do not match is refused (what pull will rely on).
	img.RootFS.DiffIDs = []digest.Digest{digest.FromString("something else")}
	if _, err := s.create(sources(bottom), img, createOpts{}, nil); err == nil {
		t.Error("create accepted layers that do not match the config's diff_ids")
	}
	// A missing layer directory is reported, not returned.
	os.Rename(dirs[0], dirs[0]+".gone")
	if _, err := s.LayerDirs(got); err == nil {
		t.Error("LayerDirs returned a missing directory")
	}
}

func TestGetAmbiguousPrefix(t *testing.T) {
	s, _ := newStore(t)
	base, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Find two configs whose IDs share their first 4 hex digits (a
	// birthday search: a few hundred tries), and store both.
	seen := map[string]v1.Image{}
	var pair [2]v1.Image
	for i := 0; ; i++ {
		img := base.Config
		img.Config.Labels = map[string]string{"n": fmt.Sprint(i)}
		data, _ := json.Marshal(img)
		p := digest.FromBytes(data).Encoded()[:4]
		if other, ok := seen[p]; ok {
			pair = [2]v1.Image{other, img}
			break
		}
		seen[p] = img
	}
	var ids []digest.Digest
	for _, img := range pair {
		data, _ := json.Marshal(img)
		id, err := s.commit(nil, data, createOpts{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	prefix := ids[0].Encoded()[:4]
	if _, err := s.Get(prefix); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("Get(%q) with two matches: %v, want an ambiguity error", prefix, err)
	}
	if got, err := s.Get(ids[1].Encoded()[:20]); err != nil || got.ID != ids[1].String() {
		t.Errorf("a longer prefix must pick one image: %v, %v", got, err)
	}
}

func TestParseRef(t *testing.T) {
	good := map[string]string{
		"busybox":                    "busybox:latest",
		"busybox:1.36":               "busybox:1.36",
		"library/busybox:musl":       "library/busybox:musl",
		"localhost:5000/team/app:v1": "localhost:5000/team/app:v1",
		"ghcr.io/o/a":                "ghcr.io/o/a:latest",
		"my-app_x.y__z":              "my-app_x.y__z:latest",
		"a--b:Tag_1.0-rc":            "a--b:Tag_1.0-rc",
	}
	for in, want := range good {
		r, err := ParseRef(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRef(%q) = %q, %v; want %q", in, r, err, want)
		}
	}
	bad := map[string]string{
		"":                                    "empty",
		"Busybox":                             "lowercase",
		"team/App:1":                          "lowercase",
		"../busybox":                          `".."`,
		"a/../b":                              `".."`,
		"/busybox":                            "'/'",
		"busybox/":                            "'/'",
		"a//b":                                "'/'",
		"busybox:":                            "tag",
		"busybox:-x":                          "tag",
		"busybox:" + strings.Repeat("t", 129): "tag",
		"a b":                                 "name components",
		"-a":                                  "name components",
		"x@sha256:abcd":                       "digest",
		strings.Repeat("ab", 32):              "image ID",
		strings.Repeat("a", 256):              "longer",
		"bad_host.:1/x":                       "registry host",
	}
	for in, want := range bad {
		_, err := ParseRef(in)
		if err == nil {
			t.Errorf("ParseRef(%q) accepted", in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "invalid reference") {
			t.Errorf("ParseRef(%q) error %q: want one line mentioning %q", in, msg, want)
		}
	}
	// Import refuses a bad name before touching the disk.
	s, _ := newStore(t)
	if _, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "Bad", nil, nil); err == nil {
		t.Error("Import accepted an invalid name")
	}
	if n := countDir(t, s.layersDir()); n != 0 {
		t.Errorf("refused Import stored %d layers", n)
	}
}

// TestImportFailureLeavesNothing feeds inputs that fail at different
// points; each time the store must be exactly as it was.
func TestImportFailureLeavesNothing(t *testing.T) {
	s, dataRoot := newStore(t)
	// An image already there, to check rollback does not touch it.
	keep := layerTar(t, map[string]string{"keep": "me"})
	if _, err := s.Import(bytes.NewReader(keep), "keep", nil, nil); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dataRoot)
	hostile := layerTar(t, map[string]string{"ok": "1"})
	hostile = append(hostile[:len(hostile)-1024:len(hostile)-1024], layerTarRaw(t, "../escape", "x")...)
	cases := map[string][]byte{
		"garbage":        bytes.Repeat([]byte("this is not a tar archive\n"), 200),
		"empty":          nil,
		"truncated tar":  layerTar(t, map[string]string{"f": strings.Repeat("y", 5000)})[:2048],
		"bad gzip":       {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3},
		"zstd":           {0x28, 0xb5, 0x2f, 0xfd, 0, 0},
		"hostile tar":    hostile,
		"same layer bad": append(append([]byte{}, keep[:512]...), bytes.Repeat([]byte{'z'}, 600)...),
	}
	for name, input := range cases {
		_, err := s.Import(bytes.NewReader(input), "broken:"+strings.ReplaceAll(name, " ", "-"), nil, nil)
		if err == nil {
			t.Errorf("%s: Import succeeded", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if after := tree(t, dataRoot); !slices.Equal(before, after) {
			t.Errorf("%s: store changed:\nbefore %v\nafter  %v", name, before, after)
		}
	}
}

// layerTarRaw is a one-entry archive with a name layerTar would not write.
func layerTarRaw(t testing.TB, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

// TestImportRollbackAfterCommit makes the last step (the tag) fail, after
// the layer and config were stored: both must be undone.
func TestImportRollbackAfterCommit(t *testing.T) {
	s, dataRoot := newStore(t)
	before := tree(t, dataRoot)
	// A directory where repositories.json should be: reading the names fails.
	if err := os.Mkdir(s.reposPath(), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := &explain.Recorder{}
	_, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"f": "1"})), "x", nil, explain.New(rec))
	if err == nil {
		t.Fatal("Import succeeded with a broken names file")
	}
	t.Logf("error: %v", err)
	os.Remove(s.reposPath())
	if after := tree(t, dataRoot); !slices.Equal(before, after) {
		t.Errorf("rollback left:\nbefore %v\nafter  %v", before, after)
	}
	// The steps, then their undos, narrated in reverse: the rollback is
	// visible.
	var got []string
	for _, ev := range rec.Events {
		id := ev.Step.ID
		if ev.Undo {
			id = "undo " + id
		}
		got = append(got, id)
	}
	if want := []string{"images-layer-extract", "images-layer-commit", "images-config-write", "images-tag",
		"undo images-config-write", "undo images-layer-commit"}; !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
}

func TestImportNarration(t *testing.T) {
	s, dataRoot := newStore(t)
	rec := &explain.Recorder{}
	tarball := layerTar(t, map[string]string{"f": "1"})
	if _, err := s.Import(bytes.NewReader(tarball), "n", nil, explain.New(rec)); err != nil {
		t.Fatal(err)
	}
	want := []string{"images-layer-extract", "images-layer-commit", "images-config-write", "images-tag"}
	if got := rec.IDs(); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	for _, ev := range rec.Events {
		st := ev.Step
		if st.Chapter != explain.ChapterImages || st.Title.PT == "" || st.Title.EN == "" ||
			st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" || ev.Err != "" {
			t.Errorf("step %s incomplete: %+v", st.ID, ev)
		}
	}
	if ev := rec.Events[0]; !strings.Contains(ev.Evidence, sha256hex(tarball)) {
		t.Errorf("extract evidence %q does not show the diff ID", ev.Evidence)
	}
	// A second import of the same layer says it was shared.
	rec2 := &explain.Recorder{}
	s.Import(bytes.NewReader(tarball), "n2", nil, explain.New(rec2))
	// It says so in each language apart (EvidenceText), so that --lang pt
	// prints no English.
	if ev := rec2.Events[1]; ev.EvidenceText == nil || !strings.Contains(ev.EvidenceText.EN, "shared") ||
		!strings.Contains(ev.EvidenceText.PT, "compartilhada") || strings.Contains(ev.EvidenceText.PT, "shared") {
		t.Errorf("commit evidence %q (%+v), want it to say the layer was shared, in each language apart", ev.Evidence, ev.EvidenceText)
	}

	// A dry run narrates the same steps and changes nothing.
	before := tree(t, dataRoot)
	dry := &explain.Recorder{}
	img, err := s.Import(bytes.NewReader(tarball), "dry", nil, explain.NewDryRun(dry))
	if err != nil || img != nil {
		t.Errorf("dry run: %v, %v", img, err)
	}
	if got := dry.IDs(); !slices.Equal(got, want) {
		t.Errorf("dry-run steps %v, want %v", got, want)
	}
	if after := tree(t, dataRoot); !slices.Equal(before, after) {
		t.Errorf("dry run changed the store")
	}
}

// TestConcurrentWriters runs imports and tags in parallel. flock is held
// per open file, so goroutines exclude each other as separate minirun
// processes would: no name may be lost.
func TestConcurrentWriters(t *testing.T) {
	s, _ := newStore(t)
	tarball := layerTar(t, map[string]string{"f": "shared"})
	base, err := s.Import(bytes.NewReader(tarball), "base", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.Import(bytes.NewReader(tarball), fmt.Sprintf("imp:%d", i), &v1.ImageConfig{Cmd: []string{fmt.Sprint(i)}}, nil)
			errs <- err
		}()
		go func() {
			defer wg.Done()
			errs <- s.Tag(base.ID, fmt.Sprintf("tag:%d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < n; i++ {
		for _, ref := range []string{fmt.Sprintf("imp:%d", i), fmt.Sprintf("tag:%d", i)} {
			if _, err := s.Get(ref); err != nil {
				t.Errorf("lost %s: %v", ref, err)
			}
		}
	}
	if c := countDir(t, s.layersDir()); c != 1 {
		t.Errorf("%d layer dirs, want 1", c)
	}
	list, _ := s.List()
	if len(list) != n+1 {
		t.Errorf("List has %d images, want %d", len(list), n+1)
	}
}

// Removing a built image's last name deletes the anonymous build steps
// below it that nothing else needs, down to the first named image, as
// `docker rmi` does; their layers go, the named base's stay.
func TestRemoveWalksDownTheBuildChain(t *testing.T) {
	s, _ := newStore(t)
	base, err := s.Import(bytes.NewReader(layerTar(t, map[string]string{"a": "1"})), "base", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	step := func(parent *Image, files map[string]string) *Image {
		t.Helper()
		cfg := parent.Config
		cfg.History = append(cfg.History, v1.History{CreatedBy: "step"})
		img, err := s.Commit(parent, bytes.NewReader(layerTar(t, files)), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	mid := step(base, map[string]string{"b": "2"})
	top := step(mid, map[string]string{"c": "3"})
	if err := s.Tag(top.ID, "app"); err != nil {
		t.Fatal(err)
	}
	rm, err := s.RemoveImage("app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{top.ID, mid.ID}; !slices.Equal(rm.Deleted, want) {
		t.Errorf("deleted %v, want %v (the top, then the anonymous step below)", rm.Deleted, want)
	}
	if _, err := s.Get(mid.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the anonymous step is still there: %v", err)
	}
	if _, err := s.Get("base"); err != nil {
		t.Errorf("the named base went too: %v", err)
	}
}
