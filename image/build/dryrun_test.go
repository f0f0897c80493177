package build

import (
	"slices"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image"
)

// A dry run of a Dockerfile lists, in order, the steps a live build of it
// takes: a first build that misses the cache, a second that hits it, the
// tag. The dry run reads no store and no context (image.At, no files).
func TestBuildDryRunStepsEqualLive(t *testing.T) {
	const dockerfile = "FROM base:latest\nENV A=1\nRUN rm -rf /data/old && echo x > /novo\nCOPY a.txt /a.txt\n"
	want := [2][]string{{
		"images-build-step",
		"images-build-step", "images-config-write",
		"images-build-step", "images-build-diff", "images-layer-extract", "images-layer-commit", "images-config-write",
		"images-build-step", "images-layer-extract", "images-layer-commit", "images-config-write",
		"images-tag",
	}, {
		"images-build-step",
		"images-build-step", "images-build-cache",
		"images-build-step", "images-build-cache",
		"images-build-step", "images-build-cache",
		"images-tag",
	}}

	s := newStore(t)
	baseImage(t, s)
	ctx := writeContext(t, map[string]string{"Dockerfile": dockerfile, "a.txt": "a\n"})
	for i, cached := range []bool{false, true} {
		dry := &explain.Recorder{}
		_, err := Build(image.At("/nonexistent/minirun"), Options{DockerfileContent: []byte(dockerfile),
			Tags: []string{"app:v1"}, DryRunCache: cached, Tracer: explain.NewDryRun(dry)})
		if err != nil {
			t.Fatalf("dry run %d: %v", i, err)
		}
		if !slices.Equal(dry.IDs(), want[i]) {
			t.Errorf("dry run %d (cache %v):\n got %s\nwant %s", i, cached, strings.Join(dry.IDs(), " "), strings.Join(want[i], " "))
		}
		live := &explain.Recorder{}
		if _, err := Build(s, Options{ContextDir: ctx, Tags: []string{"app:v1"}, Runner: &fakeRunner{}, Tracer: explain.New(live)}); err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if !slices.Equal(live.IDs(), dry.IDs()) {
			t.Errorf("build %d:\nlive %s\n dry %s", i, strings.Join(live.IDs(), " "), strings.Join(dry.IDs(), " "))
		}
	}
}
