package container

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/overlay"
	"github.com/minirun/minirun/runtime"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// DryRunID stands for the id a real run would draw.
const DryRunID = runtime.DryRunID

// DryRun describes, changing nothing and without root, the steps Run takes
// for o, in Run's order: the rootfs mount, then the runtime's create (the
// cgroup, the clone, the init's mounts and pivot_root), start, and the
// teardown once the process exits. What only a real run knows (the image's
// layers, the container's id) appears as shell variables. tr must be a
// dry-run tracer.
func DryRun(dataRoot, stateRoot string, o RunOpts, tr *explain.Tracer) error {
	if !tr.DryRun() {
		return errors.New("container: DryRun needs a dry-run tracer")
	}
	dir := filepath.Join(dataRoot, "containers", DryRunID)
	ov := overlay.Options{Lower: []string{filepath.Join(dataRoot, "image/layers/sha256/$LAYER/diff")},
		Upper: filepath.Join(dir, "diff"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "merged")}
	if err := tr.Do(overlay.MountStep(ov), nil); err != nil {
		return err
	}
	if o.Hostname == "" {
		o.Hostname = "$HOSTNAME"
	}
	spec, err := buildSpec(v1.ImageConfig{}, o, DryRunID, ov.Target)
	if err != nil {
		return err
	}
	networkSpec(spec, dir, o.Net)
	if o.UsernsRemap != "" {
		// The ranges are read as a run reads them; the data root's
		// group is a run's to change.
		uid, err := lookupSubID("uid", o.UsernsRemap)
		if err != nil {
			return err
		}
		gid, err := lookupSubID("gid", o.UsernsRemap)
		if err != nil {
			return err
		}
		remapSpec(spec, uid, gid)
	}
	// The volumes, by the functions a run calls (prepareMounts,
	// acquireVolumes and fillVolumes, releaseVolumes once the process
	// exits, removeAnonymousVolumes after --rm), whose stores only describe
	// under a dry-run tracer. The image's own VOLUMEs are a run's to know.
	m := &Manager{DataRoot: dataRoot, StateRoot: stateRoot}
	cwd, _ := os.Getwd()
	mps, err := parseMounts(o, nil, cwd, func(string) (*Meta, error) { return nil, errors.New("--volumes-from: not in a dry run") })
	if err != nil {
		return err
	}
	mps, mounts, err := m.prepareMounts(mps, ov.Target, nil, tr)
	if err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	meta := &Meta{ID: DryRunID, Mounts: mps}
	if err := m.acquireVolumes(meta, tr); err != nil {
		return err
	}
	if err := fillVolumes(mps, ov.Target, tr); err != nil {
		return err
	}
	if _, err = runtime.Create(runtime.CreateOpts{Root: stateRoot, ID: DryRunID, Bundle: dir, Spec: spec, Tracer: tr}); err != nil {
		return err
	}
	if err := m.releaseVolumes(meta, tr); err != nil {
		return err
	}
	if o.Remove {
		return m.removeAnonymousVolumesTraced(meta, tr)
	}
	return nil
}
