package course

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ocireg "github.com/google/go-containerregistry/pkg/registry"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/image/build"
	"github.com/minirun/minirun/internal/cleanup"
)

func init() {
	register(&Chapter{
		Name: explain.ChapterImages,
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			if e.Containers.Images == nil {
				return -1, errors.New("explain images: minirun's image store is not open")
			}
			return 0, imagesDemo(e, tr)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error { return imagesDemo(e, tr) },
	})
}

// The names the images chapter gives what it makes. The base is pushed to,
// and pulled back from, a registry of its own on loopback; the app is built
// FROM it.
const (
	demoRepo = "curso"
	demoApp  = "curso-app:v1"
	// dryRunRegistry is the address a dry run shows: registry:2's port.
	// A live run listens on a port the kernel picks.
	dryRunRegistry = "127.0.0.1:5000"
)

// demoDockerfile is the app: the RUN deletes a file of the base's top
// layer (its layer holds a whiteout), the COPY adds one from the context.
func demoDockerfile(base string) string {
	return "FROM " + base + "\n" +
		"RUN rm /curso.txt && echo construido > /construido.txt\n" +
		"COPY oi.txt /oi.txt\n"
}

// imagesDemo is the images chapter, the way images are used for real:
// a registry on loopback; the image pushed to it, with one layer of this
// run's own on top of busybox's; pulled back under the registry's name
// (busybox's layer is already stored: only the new one comes down); a
// Dockerfile built FROM it, twice (the second time every instruction is a
// cache hit); its history; the layers the three images share; then the
// teardown, each removal a visible step.
//
// One function for both modes: with a dry-run tracer no Do runs, the
// store is only a place (image.At), Pull and Build describe their steps,
// and the values only a live run knows (the port, the IDs) keep their
// dry-run stand-ins. So dry == live by construction; the one thing a dry
// run cannot read, the build cache, is known here: the base's top layer
// holds this run's marker, so the base is new, the first build cannot hit
// the cache and the second, of the same Dockerfile, always does.
func imagesDemo(e *Env, tr *explain.Tracer) (retErr error) {
	dry := tr.DryRun()
	store := image.At(e.DataRoot)
	var runner build.Runner
	var inUse func(string) bool
	if !dry {
		store, runner, inUse = e.Containers.Images, e.Containers.BuildRunner(), e.Containers.InUse
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()

	// 1. The registry.
	addr := dryRunRegistry
	var srv *http.Server
	start := explain.Step{
		ID: "images-registry-start", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "Sobe um registry na interface de loopback", EN: "Start a registry on the loopback interface"},
		Why: explain.Text{PT: "Um registry é um servidor HTTP da API de distribuição do OCI: manifests e blobs por digest. Este ouve só em 127.0.0.1, como um registry:2 local.",
			EN: "A registry is an HTTP server of the OCI distribution API: manifests and blobs by digest. This one listens on 127.0.0.1 only, like a local registry:2."},
		Do: func() error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("registry: %w", err)
			}
			addr = ln.Addr().String()
			srv = &http.Server{Handler: ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			return nil
		},
		Undo:     func() error { return srv.Close() },
		Evidence: func() string { return "http://" + addr + "/v2/" },
	}
	// The shell is registry:2 on its usual port; the evidence shows the
	// port the kernel gave this one.
	start.Shell = "docker run -d --name registro -p " + dryRunRegistry + ":5000 registry:2"
	if err := tr.Do(start, &undo); err != nil {
		return err
	}
	base := addr + "/" + demoRepo + ":v1"

	// 2. The push: busybox plus a layer of this run's own.
	var pushed ggcr.Hash
	push := explain.Step{
		ID: "images-push", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "Envia ao registry o " + e.Image + " com uma camada nova", EN: "Push " + e.Image + " with one new layer to the registry"},
		Why: explain.Text{PT: "O push manda cada blob (camadas, config) e por último o manifest, que os lista por digest; o registry não aceita um manifest que cite um blob que ele não tem.",
			EN: "A push uploads each blob (layers, config) and the manifest last, which lists them by digest; the registry refuses a manifest naming a blob it lacks."},
		Shell: fmt.Sprintf("minirun save %s -o base.tar && crane push --insecure base.tar %s && echo curso > curso.txt && tar -cf curso.tar curso.txt && crane append --insecure -b %s -f curso.tar -t %s",
			e.Image, base, base, base),
		Do: func() error {
			var err error
			pushed, err = pushDemoBase(store, e.Image, base)
			return err
		},
		Evidence: func() string { return base + "@" + pushed.String() },
	}
	if err := tr.Do(push, nil); err != nil {
		return err
	}

	// 3. The pull, by the package that owns its steps.
	if _, err := store.Pull(base, image.PullOptions{Tracer: tr}); err != nil {
		return err
	}
	if !dry {
		undo.Add("remove "+base, removeQuietly(store, base, inUse))
	}

	// 4. The build context.
	dockerfile := demoDockerfile(base)
	var ctxDir string
	write := explain.Step{
		ID: "images-dockerfile", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "Escreve um Dockerfile e o seu contexto", EN: "Write a Dockerfile and its context"},
		Why: explain.Text{PT: "O contexto é o diretório de onde COPY lê; o Dockerfile parte da imagem baixada, apaga um arquivo dela e copia outro.",
			EN: "The context is the directory COPY reads from; the Dockerfile starts from the pulled image, deletes one of its files and copies another in."},
		Shell: fmt.Sprintf(`mkdir -p curso && printf '%s' > curso/Dockerfile && echo oi > curso/oi.txt`, strings.ReplaceAll(dockerfile, "\n", `\n`)),
		Do: func() error {
			var err error
			if ctxDir, err = os.MkdirTemp("", "minirun-curso-"); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(ctxDir, "oi.txt"), []byte("oi\n"), 0o644)
		},
		Undo:     func() error { return os.RemoveAll(ctxDir) },
		Evidence: func() string { return strings.TrimSpace(dockerfile) },
	}
	if err := tr.Do(write, nil); err != nil {
		return err
	}
	// The context is the demo's scratch, not minirun's: it goes in every
	// case, after the builds.
	defer func() {
		if ctxDir != "" {
			retErr = errors.Join(retErr, os.RemoveAll(ctxDir))
		}
	}()

	// 5. The build, twice: the second finds every step in the cache.
	bo := build.Options{ContextDir: ctxDir, DockerfileContent: []byte(dockerfile), Tags: []string{demoApp},
		Runner: runner, Tracer: tr}
	if _, err := build.Build(store, bo); err != nil {
		return err
	}
	if !dry {
		undo.Add("remove "+demoApp, removeQuietly(store, demoApp, inUse))
	}
	if err := tr.Do(whiteoutStep(store), nil); err != nil {
		return err
	}
	bo.DryRunCache = true
	if _, err := build.Build(store, bo); err != nil {
		return err
	}

	// 6. What the images are made of.
	if err := tr.Do(historyStep(store), nil); err != nil {
		return err
	}
	if err := tr.Do(sharedStep(store, []string{e.Image, base, demoApp}), nil); err != nil {
		return err
	}

	// 7. The teardown, each undo a step of its own.
	for _, ref := range []string{demoApp, base} {
		if err := tr.Do(store.RemoveStep(ref, inUse), nil); err != nil {
			return err
		}
	}
	stop := explain.Step{
		ID: "images-registry-stop", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "Para o registry", EN: "Stop the registry"},
		Why: explain.Text{PT: "As imagens baixadas continuam no armazém local: o registry só é preciso para push e pull.",
			EN: "Pulled images stay in the local store: the registry is needed only to push and pull."},
		Shell: "docker rm -f registro",
		Do:    func() error { return srv.Close() },
	}
	if err := tr.Do(stop, nil); err != nil {
		return err
	}
	undo.Release()
	return nil
}

// removeQuietly is a rollback's removal: an image already gone is fine.
func removeQuietly(s *image.Store, ref string, inUse func(string) bool) func() error {
	return func() error {
		if err := s.Remove(ref, inUse); err != nil && !errors.Is(err, image.ErrNotFound) {
			return err
		}
		return nil
	}
}

// pushDemoBase pushes ref from the store to target, with one more layer on
// top: /curso.txt, which names this run, so the layer is new to the store.
// It returns the manifest's digest.
func pushDemoBase(s *image.Store, ref, target string) (ggcr.Hash, error) {
	var saved bytes.Buffer
	if err := s.Save(&saved, []string{ref}); err != nil {
		return ggcr.Hash{}, fmt.Errorf("push %s: %w (pull it first: minirun pull %s)", ref, err, ref)
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(saved.Bytes())), nil }, nil)
	if err != nil {
		return ggcr.Hash{}, fmt.Errorf("read %s: %w", ref, err)
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	now := time.Now().UTC()
	body := fmt.Sprintf("minirun explain images: pid %d, %s\n", os.Getpid(), now.Format(time.RFC3339Nano))
	if err := tw.WriteHeader(&tar.Header{Name: "curso.txt", Mode: 0o644, Size: int64(len(body)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return ggcr.Hash{}, err
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		return ggcr.Hash{}, err
	}
	if err := tw.Close(); err != nil {
		return ggcr.Hash{}, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil })
	if err != nil {
		return ggcr.Hash{}, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: ggcr.History{
		Created: ggcr.Time{Time: now}, CreatedBy: "COPY curso.txt /curso.txt", Comment: "minirun explain images"}})
	if err != nil {
		return ggcr.Hash{}, err
	}
	r, err := name.ParseReference(target)
	if err != nil {
		return ggcr.Hash{}, err
	}
	if err := remote.Write(r, img); err != nil {
		return ggcr.Hash{}, fmt.Errorf("push %s: %w", target, err)
	}
	return img.Digest()
}

// whiteoutStep shows the RUN layer of the app as a tar: the file the RUN
// deleted is there as a ".wh." entry.
func whiteoutStep(s *image.Store) explain.Step {
	var diffID string
	var entries []string
	st := explain.Step{
		ID: "images-layer-whiteout", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "Vê o whiteout na camada do RUN", EN: "See the whiteout in the RUN layer"},
		Why: explain.Text{PT: "Uma camada não pode apagar um arquivo de outra, que é só leitura: registra um .wh.NOME, e quem monta as camadas esconde NOME.",
			EN: "A layer cannot delete a file of another, which is read-only: it records a .wh.NAME, and whoever stacks the layers hides NAME."},
		Shell: fmt.Sprintf(`minirun save %s | tar -xOf - blobs/sha256/$DIFF_ID | tar -tvf - | grep '\.wh\.'`, demoApp),
		Do: func() error {
			img, err := s.Get(demoApp)
			if err != nil {
				return err
			}
			ids := img.Config.RootFS.DiffIDs
			if len(ids) < 2 {
				return fmt.Errorf("%s has %d layers, the RUN and the COPY were expected", demoApp, len(ids))
			}
			diffID = ids[len(ids)-2].String() // the RUN's: the COPY's is on top
			pr, pw := io.Pipe()
			go func() {
				_, err := s.LayerTar(pw, diffID)
				pw.CloseWithError(err)
			}()
			defer pr.Close()
			tr := tar.NewReader(pr)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if strings.HasPrefix(filepath.Base(h.Name), ".wh.") {
					entries = append(entries, h.Name)
				}
			}
		},
		EvidenceText: func() explain.Text {
			list := strings.Join(entries, " ")
			return explain.Text{PT: "camada " + diffID[7:19] + ": " + list + " (esconde /curso.txt)",
				EN: "layer " + diffID[7:19] + ": " + list + " (hides /curso.txt)"}
		},
	}
	return st
}

// historyStep is `docker history` of the app: one line per instruction,
// newest first; <missing> where the step was made elsewhere (a pulled
// image's).
func historyStep(s *image.Store) explain.Step {
	var lines []string
	return explain.Step{
		ID: "images-history", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "O histórico da imagem", EN: "The image's history"},
		Why: explain.Text{PT: "Cada instrução deixou uma entrada; as que mudaram arquivos têm tamanho e uma camada. As do busybox vieram prontas do registry: sem imagem local.",
			EN: "Each instruction left an entry; those that changed files have a size and a layer. Busybox's came ready from the registry: no local image."},
		Shell: "minirun history " + demoApp,
		Do: func() error {
			hist, err := s.History(demoApp)
			if err != nil {
				return err
			}
			for _, h := range hist {
				id := "<missing>"
				if h.ID != "" {
					id = h.ID[7:19]
				}
				by := h.CreatedBy
				if len(by) > 50 {
					by = by[:49] + "…"
				}
				lines = append(lines, fmt.Sprintf("%s %dB %s", id, h.Size, by))
			}
			return nil
		},
		Evidence: func() string { return strings.Join(lines, "\n") },
	}
}

// sharedStep shows, for each layer of the last image, which of refs list
// it: one directory in the store, stacked by all of them.
func sharedStep(s *image.Store, refs []string) explain.Step {
	var pt, en []string
	return explain.Step{
		ID: "images-layers-shared", Chapter: explain.ChapterImages,
		Title: explain.Text{PT: "Camadas compartilhadas entre as imagens", EN: "Layers shared between the images"},
		Why: explain.Text{PT: "Uma camada é guardada uma vez, pelo seu diff_id; cada imagem só a lista. O mesmo diretório vira lowerdir de todos os contêineres dessas imagens.",
			EN: "A layer is stored once, under its diff_id; each image only lists it. The same directory becomes a lowerdir of every container of those images."},
		Shell: fmt.Sprintf(`for i in %s; do minirun image inspect $i | jq -r '.[0].RootFS.diff_ids[]'; done | sort | uniq -c`, strings.Join(refs, " ")),
		Do: func() error {
			users := map[string][]string{}
			var last *image.Image
			for _, ref := range refs {
				img, err := s.Get(ref)
				if err != nil {
					return err
				}
				for _, d := range img.Config.RootFS.DiffIDs {
					users[d.String()] = append(users[d.String()], ref)
				}
				last = img
			}
			dirs, err := s.LayerDirs(last)
			if err != nil {
				return err
			}
			ids := last.Config.RootFS.DiffIDs
			for i, d := range ids {
				dir := dirs[len(ids)-1-i] // LayerDirs is top-most first
				u := strings.Join(users[d.String()], ", ")
				pt = append(pt, fmt.Sprintf("%s (%d imagem/ns): %s", dir, len(users[d.String()]), u))
				en = append(en, fmt.Sprintf("%s (%d image/s): %s", dir, len(users[d.String()]), u))
			}
			return nil
		},
		EvidenceText: func() explain.Text {
			return explain.Text{PT: strings.Join(pt, "\n"), EN: strings.Join(en, "\n")}
		},
	}
}
