package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image"
)

// fakeRunner stands in for a container: it understands a few shell
// commands and applies them to the upper directory as the kernel's
// overlayfs would (a deletion becomes a whiteout, a 0/0 character device).
// It proves the builder's side — the upper directory becomes the layer —
// without namespaces; buildtest.Run proves it with a real container.
type fakeRunner struct {
	specs []RunSpec
}

func (f *fakeRunner) Run(spec RunSpec) (int, error) {
	f.specs = append(f.specs, spec)
	if len(spec.Cmd) != 3 || spec.Cmd[0] != "/bin/sh" || spec.Cmd[1] != "-c" {
		return 0, fmt.Errorf("fake runner: only /bin/sh -c, not %q", spec.Cmd)
	}
	env := map[string]string{}
	for _, kv := range spec.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	expand := func(s string) string { return os.Expand(s, func(k string) string { return env[k] }) }
	up := func(p string) string {
		if !filepath.IsAbs(p) {
			p = filepath.Join(spec.Config.WorkingDir, p)
		}
		return filepath.Join(spec.Upper, p)
	}
	for _, c := range strings.Split(spec.Cmd[2], "&&") {
		w := strings.Fields(expand(strings.TrimSpace(c)))
		switch {
		case len(w) >= 4 && w[0] == "echo" && w[len(w)-2] == ">":
			p := up(w[len(w)-1])
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(strings.Join(w[1:len(w)-2], " ")+"\n"), 0o644); err != nil {
				return 0, err
			}
			fmt.Fprintf(spec.Output, "wrote %s\n", w[len(w)-1])
		case len(w) == 3 && w[0] == "rm" && w[1] == "-rf":
			p := up(w[2])
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
				return 0, err
			}
		case len(w) == 2 && w[0] == "exit":
			n, _ := strconv.Atoi(w[1])
			return n, nil
		default:
			return 0, fmt.Errorf("fake runner: unknown command %q", c)
		}
	}
	return 0, nil
}

// newStore opens a store in a temporary data root whose layers a non-root
// test can clean up.
func newStore(t *testing.T) *image.Store {
	t.Helper()
	root := t.TempDir()
	s, err := image.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return s
}

// baseImage imports a small base: users, a directory to delete, a shell.
func baseImage(t *testing.T, s *image.Store) *image.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range []struct{ name, body string }{
		{"bin/", ""}, {"bin/sh", "#!fake shell"},
		{"etc/", ""},
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"},
		{"etc/group", "root:x:0:\napp:x:1001:\nstaff:x:50:\n"},
		{"data/", ""}, {"data/old", "old data"},
		{"srv/", ""},
	} {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), ModTime: mt}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
			if e.name == "srv/" {
				h.Mode = 0o750
			}
		}
		tw.WriteHeader(h)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	img, err := s.Import(&buf, "base:latest", &v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeContext creates a build context from "name" → content.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, body := range files {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// layerEntries lists a stored layer's tar as "name uid:gid" lines.
func layerEntries(t *testing.T, s *image.Store, diffID string) map[string]*tar.Header {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.LayerTar(&buf, diffID); err != nil {
		t.Fatalf("LayerTar: %v", err)
	}
	out := map[string]*tar.Header{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestParseEveryInstruction(t *testing.T) {
	df := `# syntax is Docker's
ARG BASE=busybox
FROM $BASE
ARG V=1
ENV A=1 B="two words"
LABEL org.example.k=v
WORKDIR /app
USER 1000:1000
COPY --chown=1000:1000 a b /app/
ADD t.tar /opt/
RUN echo hi
CMD ["sh"]
ENTRYPOINT /entry
EXPOSE 80 53/udp
VOLUME /data
SHELL ["/bin/bash", "-c"]
STOPSIGNAL SIGTERM
`
	stages, meta, escape, err := Parse([]byte(df))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 1 || len(meta) != 1 || escape != '\\' || stages[0].BaseName != "$BASE" {
		t.Fatalf("stages %d meta %d base %q", len(stages), len(meta), stages[0].BaseName)
	}
	var got []string
	for _, c := range stages[0].Commands {
		got = append(got, fmt.Sprintf("%T", c))
	}
	want := []string{"*instructions.ArgCommand", "*instructions.EnvCommand", "*instructions.LabelCommand",
		"*instructions.WorkdirCommand", "*instructions.UserCommand", "*instructions.CopyCommand",
		"*instructions.AddCommand", "*instructions.RunCommand", "*instructions.CmdCommand",
		"*instructions.EntrypointCommand", "*instructions.ExposeCommand", "*instructions.VolumeCommand",
		"*instructions.ShellCommand", "*instructions.StopSignalCommand"}
	if !slices.Equal(got, want) {
		t.Errorf("commands\n%v\nwant\n%v", got, want)
	}
	cp := stages[0].Commands[5].(*instructions.CopyCommand)
	if cp.Chown != "1000:1000" || !slices.Equal(cp.SourcePaths, []string{"a", "b"}) || cp.DestPath != "/app/" {
		t.Errorf("COPY parsed as %+v", cp)
	}
	if _, _, _, err := Parse([]byte("RUN echo no FROM\n")); err == nil {
		t.Error("a Dockerfile without FROM parsed")
	}
}

// Every config instruction lands in the config, with variables expanded.
func TestBuildConfigInstructions(t *testing.T) {
	s := newStore(t)
	baseImage(t, s)
	ctx := writeContext(t, map[string]string{"Dockerfile": `ARG TAG=latest
FROM base:${TAG}
ARG PORT=8080
ENV HOME=/home/app NAME="minirun app"
ENV GREETING="hello $NAME"
LABEL version="1.0" description="$NAME"
WORKDIR /srv
WORKDIR www
USER app
EXPOSE $PORT 53/udp 7000-7001
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/app"]
CMD serve --port $PORT
`})
	var out bytes.Buffer
	img, err := Build(s, Options{ContextDir: ctx, Tags: []string{"cfg:v1"}, BuildArgs: map[string]string{"PORT": "9090", "UNUSED": "x"}, Out: &out})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, out.String())
	}
	c := img.Config.Config
	if !slices.Contains(c.Env, "HOME=/home/app") || !slices.Contains(c.Env, "GREETING=hello minirun app") || !slices.Contains(c.Env, "PATH=/bin") {
		t.Errorf("Env %v", c.Env)
	}
	if slices.ContainsFunc(c.Env, func(s string) bool { return strings.HasPrefix(s, "PORT=") }) {
		t.Errorf("an ARG leaked into the image's Env: %v", c.Env)
	}
	if c.Labels["version"] != "1.0" || c.Labels["description"] != "minirun app" {
		t.Errorf("Labels %v", c.Labels)
	}
	if c.WorkingDir != "/srv/www" || c.User != "app" || c.StopSignal != "SIGINT" {
		t.Errorf("WorkingDir %q User %q StopSignal %q", c.WorkingDir, c.User, c.StopSignal)
	}
	for _, p := range []string{"9090/tcp", "53/udp", "7000/tcp", "7001/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts %v lacks %s", c.ExposedPorts, p)
		}
	}
	if _, ok := c.Volumes["/logs"]; !ok || len(c.Volumes) != 2 {
		t.Errorf("Volumes %v", c.Volumes)
	}
	if !slices.Equal(c.Entrypoint, []string{"/bin/app"}) || !slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "serve --port $PORT"}) {
		t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
	}
	if len(img.Config.RootFS.DiffIDs) != 1 {
		t.Errorf("config-only instructions added layers: %v", img.Config.RootFS.DiffIDs)
	}
	for _, want := range []string{"Step 1/13 : FROM base:${TAG}", "Step 13/13 : CMD serve --port $PORT", "Successfully built ", "Successfully tagged cfg:v1", "[Warning] One or more build-args [UNUSED] were not consumed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// ENTRYPOINT without a later CMD drops the base image's CMD.
	ctx2 := writeContext(t, map[string]string{"Dockerfile": "FROM base\nENTRYPOINT [\"/x\"]\n"})
	img2, err := Build(s, Options{ContextDir: ctx2})
	if err != nil {
		t.Fatal(err)
	}
	if img2.Config.Config.Cmd != nil {
		t.Errorf("inherited CMD kept after ENTRYPOINT: %v", img2.Config.Config.Cmd)
	}
}

// The whole path with RUN, COPY --chown, .dockerignore, the cache and
// history.
func TestBuildRunCopyCacheHistory(t *testing.T) {
	s := newStore(t)
	base := baseImage(t, s)
	ctx := writeContext(t, map[string]string{
		"Dockerfile": `FROM base
ARG GREETING=hello
ENV APP=/app
WORKDIR $APP
COPY --chown=app:staff . .
COPY run.sh /usr/local/bin/
RUN echo $GREETING from $APP > greeting && rm -rf /data/old
CMD ["/app/run.sh"]
`,
		".dockerignore":           "secret.txt\nnode_modules\n*.log\n!keep.log\n",
		"run.sh":                  "#!/bin/sh\necho run\n",
		"lib/util.sh":             "util",
		"secret.txt":              "password",
		"node_modules/x/index.js": "junk",
		"debug.log":               "noise",
		"keep.log":                "kept",
	})
	run := &fakeRunner{}
	rec := &explain.Recorder{}
	var out bytes.Buffer
	img, err := Build(s, Options{ContextDir: ctx, Tags: []string{"app:v1"}, Out: &out, Runner: run, Tracer: explain.New(rec)})
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot create whiteouts here: %v", err)
		}
		t.Fatalf("Build: %v\n%s", err, out.String())
	}
	t.Logf("build output:\n%s", out.String())
	for _, want := range []string{
		"Step 1/8 : FROM base\n ---> " + strings.TrimPrefix(base.ID, "sha256:")[:12],
		"Step 7/8 : RUN echo $GREETING from $APP > greeting && rm -rf /data/old\n ---> Running in ",
		"wrote greeting\nRemoving intermediate container ",
		"Successfully built " + strings.TrimPrefix(img.ID, "sha256:")[:12],
		"Successfully tagged app:v1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if len(run.specs) != 1 {
		t.Fatalf("runner ran %d times", len(run.specs))
	}
	sp := run.specs[0]
	if !slices.Contains(sp.Config.Env, "GREETING=hello") || !slices.Contains(sp.Config.Env, "APP=/app") || sp.Config.WorkingDir != "/app" {
		t.Errorf("RUN container config %+v", sp.Config)
	}
	if len(sp.Lower) != 3 {
		t.Errorf("RUN lowerdirs %v, want the 3 layers below it", sp.Lower)
	}
	ids := rec.IDs()
	if ids[0] != "images-build-step" || !slices.Contains(ids, "images-build-diff") || !slices.Contains(ids, "images-layer-commit") {
		t.Errorf("steps %v", ids)
	}

	// Layers: base, COPY ., COPY run.sh, RUN.
	d := img.Config.RootFS.DiffIDs
	if len(d) != 4 {
		t.Fatalf("%d layers", len(d))
	}
	copyLayer := layerEntries(t, s, d[1].String())
	for _, name := range []string{"app/run.sh", "app/lib/util.sh", "app/keep.log", "app/Dockerfile"} {
		h, ok := copyLayer[name]
		if !ok {
			t.Errorf("COPY layer lacks %s", name)
			continue
		}
		if h.Uid != 1000 || h.Gid != 50 {
			t.Errorf("%s owned by %d:%d, want app:staff (1000:50)", name, h.Uid, h.Gid)
		}
	}
	for _, name := range []string{"app/secret.txt", "app/node_modules/", "app/node_modules/x/index.js", "app/debug.log"} {
		if _, ok := copyLayer[name]; ok {
			t.Errorf("COPY layer has %s, which .dockerignore excludes", name)
		}
	}
	if h := copyLayer["app/"]; h == nil || h.Uid != 1000 {
		t.Errorf("the created destination app/ is %+v, want owned by --chown's user", h)
	}
	second := layerEntries(t, s, d[2].String())
	if h := second["usr/local/bin/run.sh"]; h == nil || h.Uid != 0 || h.Mode&0o777 != 0o644 {
		t.Errorf("COPY run.sh: %+v", h)
	}
	runLayer := layerEntries(t, s, d[3].String())
	if _, ok := runLayer["app/greeting"]; !ok {
		t.Errorf("RUN layer lacks app/greeting: %v", keys(runLayer))
	}
	if _, ok := runLayer["data/.wh.old"]; !ok {
		t.Errorf("RUN layer lacks the whiteout data/.wh.old: %v", keys(runLayer))
	}
	dirs, _ := s.LayerDirs(img)
	if b, _ := os.ReadFile(filepath.Join(dirs[0], "app/greeting")); string(b) != "hello from /app\n" {
		t.Errorf("greeting = %q", b)
	}

	// History: newest first, one line per instruction plus the import.
	hist, err := s.History("app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 8 {
		t.Fatalf("%d history entries", len(hist))
	}
	if hist[0].ID != img.ID || !strings.Contains(hist[0].CreatedBy, `CMD ["/app/run.sh"]`) || hist[0].Size != 0 {
		t.Errorf("top entry %+v", hist[0])
	}
	if !strings.HasPrefix(hist[1].CreatedBy, "|1 GREETING=hello /bin/sh -c echo") || hist[1].Size == 0 {
		t.Errorf("RUN entry %+v", hist[1])
	}
	if !strings.Contains(hist[3].CreatedBy, "COPY --chown=app:staff dir:") || hist[3].Size == 0 {
		t.Errorf("COPY entry %+v", hist[3])
	}
	if hist[7].ID != base.ID || hist[7].CreatedBy != "minirun import" {
		t.Errorf("bottom entry %+v", hist[7])
	}
	for _, h := range hist {
		if h.ID == "" {
			t.Errorf("a built step shows <missing>: %+v", h)
		}
	}

	// Again: every step from the cache, the same image, no container.
	out.Reset()
	again, err := Build(s, Options{ContextDir: ctx, Tags: []string{"app:v1"}, Out: &out, Runner: run})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != img.ID || strings.Count(out.String(), "Using cache") != 7 || len(run.specs) != 1 {
		t.Errorf("second build: %s vs %s, %d cache hits, %d runs\n%s", again.ID, img.ID, strings.Count(out.String(), "Using cache"), len(run.specs), out.String())
	}
	// Touching a file keeps the cache; changing an ignored file too;
	// changing a copied file rebuilds from that COPY on.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(ctx, "run.sh"), later, later)
	os.WriteFile(filepath.Join(ctx, "secret.txt"), []byte("another password"), 0o644)
	out.Reset()
	if again, err = Build(s, Options{ContextDir: ctx, Out: &out, Runner: run}); err != nil || again.ID != img.ID {
		t.Errorf("touch/ignored change broke the cache: %v\n%s", err, out.String())
	}
	os.WriteFile(filepath.Join(ctx, "lib/util.sh"), []byte("util v2"), 0o644)
	out.Reset()
	changed, err := Build(s, Options{ContextDir: ctx, Tags: []string{"app:v1"}, Out: &out, Runner: run})
	if err != nil {
		t.Fatal(err)
	}
	if changed.ID == img.ID || strings.Count(out.String(), "Using cache") != 3 || len(run.specs) != 2 {
		t.Errorf("after a change: %d cache hits, %d runs\n%s", strings.Count(out.String(), "Using cache"), len(run.specs), out.String())
	}
	// --no-cache runs everything.
	out.Reset()
	if _, err := Build(s, Options{ContextDir: ctx, Out: &out, Runner: run, NoCache: true}); err != nil || strings.Contains(out.String(), "Using cache") {
		t.Errorf("--no-cache: %v\n%s", err, out.String())
	}

	// The first image lost its name: prune removes it and its private
	// steps, keeps the shared ones and everything app:v1 needs.
	rm, freed, err := s.Prune(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Deleted) == 0 || freed == 0 {
		t.Errorf("prune removed %v, freed %d", rm.Deleted, freed)
	}
	if _, err := s.Get(img.ID); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("the dangling image survived prune: %v", err)
	}
	cur, err := s.Get("app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LayerDirs(cur); err != nil {
		t.Errorf("prune broke app:v1: %v", err)
	}
	if _, err := s.Get("base"); err != nil {
		t.Errorf("prune removed the base: %v", err)
	}
}

func keys(m map[string]*tar.Header) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestBuildFailures(t *testing.T) {
	s := newStore(t)
	baseImage(t, s)
	cases := map[string]struct {
		files map[string]string
		want  string
	}{
		"non-zero exit": {map[string]string{"Dockerfile": "FROM base\nRUN exit 3\n"}, "returned a non-zero code: 3"},
		"missing file":  {map[string]string{"Dockerfile": "FROM base\nCOPY nothere /x\n"}, "file not found in build context"},
		"ignored file":  {map[string]string{"Dockerfile": "FROM base\nCOPY s /x\n", "s": "x", ".dockerignore": "s\n"}, "excluded by .dockerignore"},
		"unknown base":  {map[string]string{"Dockerfile": "FROM nosuchimage\n"}, "no such image"},
		// Options.Pull is nil: pulling is off, and the error says so.
		"pull never":   {map[string]string{"Dockerfile": "FROM 127.0.0.1:1/nada:1\n"}, "pulling is off"},
		"unknown user": {map[string]string{"Dockerfile": "FROM base\nCOPY --chown=ghost f /f\n", "f": "x"}, `unable to find "ghost"`},
		"multi dest":   {map[string]string{"Dockerfile": "FROM base\nCOPY a b /x\n", "a": "1", "b": "2"}, "must be a directory"},
		"escape":       {map[string]string{"Dockerfile": "FROM base\nCOPY ../../etc/passwd /x\n"}, "file not found"},
		"multi-stage":  {map[string]string{"Dockerfile": "FROM base AS a\nFROM base\n"}, "multi-stage"},
	}
	for name, c := range cases {
		ctx := writeContext(t, c.files)
		_, err := Build(s, Options{ContextDir: ctx, Tags: []string{"broken:" + strings.ReplaceAll(name, " ", "-")}, Runner: &fakeRunner{}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
		if _, err := s.Get("broken:" + strings.ReplaceAll(name, " ", "-")); err == nil {
			t.Errorf("%s: the failed build was tagged", name)
		}
	}
}

// FROM scratch + COPY: an image from nothing; ADD unpacks a tar.
func TestBuildFromScratchAndAdd(t *testing.T) {
	s := newStore(t)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "lib/libx.so", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3})
	tw.Write([]byte("elf"))
	tw.Close()
	ctx := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY --chmod=0755 app /app\nADD rootfs.tar /\nCMD [\"/app\"]\n",
		"app":        "binary",
		"rootfs.tar": tb.String(),
	})
	img, err := Build(s, Options{ContextDir: ctx, Tags: []string{"tiny"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Config.RootFS.DiffIDs) != 2 || img.Parent == "" {
		t.Fatalf("layers %v parent %q", img.Config.RootFS.DiffIDs, img.Parent)
	}
	l0 := layerEntries(t, s, img.Config.RootFS.DiffIDs[0].String())
	if h := l0["app"]; h == nil || h.Mode&0o7777 != 0o755 {
		t.Errorf("COPY --chmod: %+v", h)
	}
	l1 := layerEntries(t, s, img.Config.RootFS.DiffIDs[1].String())
	if _, ok := l1["lib/libx.so"]; !ok {
		t.Errorf("ADD did not unpack the tar: %v", keys(l1))
	}
	if _, ok := l1["rootfs.tar"]; ok {
		t.Error("ADD copied the tar instead of unpacking it")
	}
}

// The recipes in images/ build: their Dockerfiles with stand-ins for the
// files images/build.sh stages (the real ones are built by that script).
func TestRecipesBuild(t *testing.T) {
	s := newStore(t)
	if err := s.Tag(baseImage(t, s).ID, "busybox"); err != nil {
		t.Fatal(err)
	}
	recipes := map[string]struct {
		staged map[string]string
		port   string
		cmd    string
	}{
		"webserver": {map[string]string{"webserver": "ELF", "main.go": "ignored"}, "8080/tcp", "/usr/local/bin/webserver"},
		"contador":  {map[string]string{"contador": "ELF"}, "5000/tcp", "/usr/local/bin/contador"},
		"redis":     {map[string]string{"rootfs/usr/bin/redis-server": "ELF", "rootfs/lib64/ld-linux-x86-64.so.2": "ld", "rootfs/data/.keep": ""}, "6379/tcp", "/usr/bin/redis-server"},
	}
	for name, r := range recipes {
		files := map[string]string{}
		for _, f := range []string{"Dockerfile", ".dockerignore"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "images", name, f))
			if err == nil {
				files[f] = string(b)
			} else if f == "Dockerfile" {
				t.Fatal(err)
			}
		}
		for k, v := range r.staged {
			files[k] = v
		}
		ctx := writeContext(t, files)
		img, err := Build(s, Options{ContextDir: ctx, Tags: []string{"minirun/" + name}})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c := img.Config.Config
		if _, ok := c.ExposedPorts[r.port]; !ok || len(c.Cmd) == 0 || c.Cmd[0] != r.cmd {
			t.Errorf("%s: ports %v cmd %v", name, c.ExposedPorts, c.Cmd)
		}
		if name == "webserver" {
			l := layerEntries(t, s, img.Config.RootFS.DiffIDs[len(img.Config.RootFS.DiffIDs)-1].String())
			if _, ok := l["usr/local/bin/webserver"]; !ok {
				t.Errorf("webserver layer: %v", keys(l))
			}
		}
	}
}

// ctxRunner is a RUN step that lasts until the build's context is done,
// as `RUN sleep 3600` does until the container is killed; after gives up.
type ctxRunner struct {
	started chan struct{}
	calls   int
	after   time.Duration
}

func (f *ctxRunner) Run(spec RunSpec) (int, error) {
	f.calls++
	close(f.started)
	var done <-chan struct{}
	if spec.Context != nil {
		done = spec.Context.Done()
	}
	select {
	case <-done:
		return 137, fmt.Errorf("killed: %w", context.Cause(spec.Context))
	case <-time.After(f.after):
		return 0, nil // never told: the step ran to its end
	}
}

// A cancelled build (the daemon's client hung up) stops its running RUN
// step and runs no further step: the Runner sees the cancellation.
func TestBuildCancelStopsRun(t *testing.T) {
	s := newStore(t)
	baseImage(t, s)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM base\nRUN sleep 3600\nRUN exit 0\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := &ctxRunner{started: make(chan struct{}), after: 20 * time.Second}
	errc := make(chan error, 1)
	go func() {
		_, err := Build(s, Options{ContextDir: dir, Runner: run, Context: ctx})
		errc <- err
	}()
	<-run.started
	t0 := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Build cancelled: %v, want an error wrapping context.Canceled", err)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Fatalf("Build returned %v after the cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Build still running 10s after its context was cancelled")
	}
	if run.calls != 1 {
		t.Fatalf("%d RUN steps ran, want 1: none after the cancel", run.calls)
	}
}

// cancelRunner cancels the build while its step runs to a normal end.
type cancelRunner struct {
	cancel context.CancelFunc
	calls  int
}

func (f *cancelRunner) Run(RunSpec) (int, error) {
	f.calls++
	f.cancel()
	return 0, nil
}

// Between steps: the context done after a step, the next does not start.
func TestBuildCancelBetweenSteps(t *testing.T) {
	s := newStore(t)
	baseImage(t, s)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM base\nRUN exit 0\nRUN exit 0\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := &cancelRunner{cancel: cancel}
	if _, err := Build(s, Options{ContextDir: dir, Runner: run, Context: ctx}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Build: %v, want an error wrapping context.Canceled", err)
	}
	if run.calls != 1 {
		t.Fatalf("%d RUN steps ran, want 1", run.calls)
	}
}
