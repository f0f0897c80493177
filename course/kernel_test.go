package course

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/explain"
)

func dryIDs(t *testing.T, ch explain.Chapter, e *Env) []string {
	t.Helper()
	rec := &explain.Recorder{}
	if _, err := Narrate(ch, e, rec, nil, true); err != nil {
		t.Fatalf("%s: %v", ch, err)
	}
	return rec.IDs()
}

// The steps of issue #15's text-only slides are in their chapters: the
// LSM check first in security, the NFS check first in volumes, the disk
// cap in cgroups wherever the data root has a disk, and the user
// namespace in namespaces when asked for.
func TestChaptersShowTheKernelSteps(t *testing.T) {
	env := func() *Env { return &Env{Image: "busybox", DataRoot: t.TempDir(), StateRoot: t.TempDir()} }
	if ids := dryIDs(t, explain.ChapterSecurity, env()); len(ids) == 0 || ids[0] != "security-lsm" {
		t.Errorf("security does not start with security-lsm: %v", ids)
	}
	if ids := dryIDs(t, explain.ChapterVolumes, env()); len(ids) == 0 || ids[0] != "volumes-nfs-check" {
		t.Errorf("volumes does not start with volumes-nfs-check: %v", ids)
	}
	e := env()
	_, disk, err := cgroups.DiskOf(e.DataRoot)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Contains(dryIDs(t, explain.ChapterCgroups, e), "cgroups-io-throttle"); got != disk {
		t.Errorf("cgroups-io-throttle shown %v, the data root has a disk: %v", got, disk)
	}
	if slices.Contains(dryIDs(t, explain.ChapterNamespaces, env()), "ns-userns-map") {
		t.Error("ns-userns-map without --userns-remap")
	}
	sub := filepath.Join(t.TempDir(), "subid")
	if err := os.WriteFile(sub, []byte("aluno:300000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MINIRUN_SUBUID", sub)
	t.Setenv("MINIRUN_SUBGID", sub)
	e = env()
	e.UsernsRemap = "aluno"
	if !slices.Contains(dryIDs(t, explain.ChapterNamespaces, e), "ns-userns-map") {
		t.Error("no ns-userns-map with --userns-remap")
	}
}
