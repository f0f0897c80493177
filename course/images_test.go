package course

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// The images chapter's dry run narrates its scenario in order, and every
// shell equivalent it shows is one line that bash accepts as written.
func TestImagesDryRunShellsParse(t *testing.T) {
	rec := &explain.Recorder{}
	env := &Env{Image: "busybox", DataRoot: "/var/lib/minirun", StateRoot: "/run/minirun"}
	if _, err := Narrate(explain.ChapterImages, env, rec, nil, true); err != nil {
		t.Fatal(err)
	}
	order := strings.Join(rec.IDs(), " ")
	last := -1
	for _, id := range []string{"images-registry-start", "images-push", "images-pull-manifest", "images-pull-layer",
		"images-dockerfile", "images-build-diff", "images-layer-whiteout", "images-build-cache", "images-history",
		"images-layers-shared", "images-remove", "images-registry-stop"} {
		i := strings.Index(order, id)
		if i < 0 || i < last {
			t.Fatalf("%s missing or out of order: %s", id, order)
		}
		last = i
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	for _, ev := range rec.Events {
		sh := ev.Step.Shell
		if strings.Contains(sh, "\n") {
			t.Errorf("%s: the shell is not one line: %q", ev.Step.ID, sh)
		}
		if out, err := exec.Command(bash, "-n", "-c", sh).CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v: %s\n%s", ev.Step.ID, err, out, sh)
		}
	}
}
