package course

import (
	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/volume"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// demoCommand is what the container runs in each chapter: something whose
// output shows the chapter's point from the inside.
var demoCommand = map[explain.Chapter]string{
	explain.ChapterLifecycle:  "echo 'PID 1 é '$(cat /proc/1/comm); echo 'status: running'",
	explain.ChapterNamespaces: "echo \"pid=$$ hostname=$(hostname)\"; ls -l /proc/self/ns | sed 's/.* -> //'; ip link 2>/dev/null | grep -c mtu | sed 's/^/interfaces: /'",
	explain.ChapterRootfs:     "ls /; echo escrito > /novo-arquivo; rm -f /bin/vi; ls -l /novo-arquivo",
	explain.ChapterMounts:     "cat /proc/self/mounts",
	explain.ChapterProcess:    "grep -E 'Uid|Gid|Cap|NoNewPrivs' /proc/self/status; ulimit -n",
	// The volume's files (the image's, copied in), a write to it, and only
	// the three mount points (field 5 of mountinfo(5); field 4, the root,
	// is "/" on most lines): mount point, type (the field after the "-"
	// that ends the optional fields) and root, not the overlay's whole
	// lowerdir list.
	explain.ChapterVolumes:  "ls /usr/sbin | wc -l; echo oi > /usr/sbin/arquivo; awk '$5 ~ /^\\/(usr\\/sbin|rapido)?$/ {i=7; while ($i != \"-\") i++; print $5, $(i+1), $4}' /proc/self/mountinfo",
	explain.ChapterSecurity: "grep -E 'Cap(Eff|Bnd)|NoNewPrivs|Seccomp:' /proc/self/status; unshare -m true || echo unshare bloqueado",
	// One of v1's and v2's files is always missing: "; true" keeps the
	// demo's exit code (explain's own) at 0. The disk cap is read from
	// inside too (blkio v1, io.max v2).
	explain.ChapterCgroups: "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/io.max 2>/dev/null; true",
}

// dockerProfile is the AppArmor profile Docker loads and gives every
// container (moby's profiles/apparmor); minirun loads none of its own.
const dockerProfile = "docker-default"

// demoReadBps is the cgroups chapter's cap on reads from the data root's
// disk (--device-read-bps DISK:10mb): low enough to be a visible number,
// high enough that the demo's few reads do not wait.
const demoReadBps = 10 << 20

// runOpts is the demo container of a chapter: `run --rm IMAGE sh -c DEMO`,
// with what the chapter needs on top.
func runOpts(ch explain.Chapter, e *Env) (container.RunOpts, error) {
	o := container.RunOpts{Image: e.Image, Cmd: []string{"sh", "-c", demoCommand[ch]}, Remove: true}
	switch ch {
	case explain.ChapterNamespaces:
		o.UsernsRemap = e.UsernsRemap
	case explain.ChapterSecurity:
		// Where AppArmor is on and Docker's profile is loaded, the demo
		// runs confined by it, as `docker run` would (security-apparmor);
		// elsewhere security-lsm says why it does not.
		if runtime.ReadLSM("/").Loaded(dockerProfile) {
			o.Security.SecurityOpt = append(o.Security.SecurityOpt, "apparmor="+dockerProfile)
		}
	case explain.ChapterCgroups:
		// Limits, so that the chapter shows each file being written.
		r, _, err := container.ResourceFlags{Memory: "64m", CPUs: "0.5", PidsLimit: 64}.Resources()
		if err != nil {
			return o, err
		}
		o.Resources = r
		// The deck's blkio: a cap on reads from a real disk, the one
		// that holds the data root (and so the container's own root),
		// found the same way live and in a dry run. A data root on a
		// file system with no block device (tmpfs, btrfs) gets no cap,
		// live and dry alike.
		d, ok, err := cgroups.DiskOf(e.DataRoot)
		if err != nil {
			return o, err
		}
		if ok {
			td := specs.LinuxThrottleDevice{Rate: demoReadBps}
			td.Major, td.Minor = d.Major, d.Minor
			if r.BlockIO == nil {
				r.BlockIO = &specs.LinuxBlockIO{}
			}
			r.BlockIO.ThrottleReadBpsDevice = append(r.BlockIO.ThrottleReadBpsDevice, td)
		}
	}
	return o, nil
}

// kernelChecks are steps a chapter shows before its demo container: what
// this kernel offers for the chapter's subject, read and never changed,
// and said plainly where it offers nothing (an LSM that is off, no NFS
// client). They run live and in a dry run alike.
var kernelChecks = map[explain.Chapter]func() explain.Step{
	explain.ChapterSecurity: runtime.LSMStep,
	explain.ChapterVolumes:  volume.NFSCheckStep,
}

func runKernelCheck(ch explain.Chapter, tr *explain.Tracer) error {
	if c, ok := kernelChecks[ch]; ok {
		return tr.Do(c(), nil)
	}
	return nil
}

// containerChapter is a chapter whose demo is one `run --rm` container: its
// steps are those of the container's whole life.
func containerChapter(ch explain.Chapter, shows ...explain.Chapter) *Chapter {
	return &Chapter{
		Name:  ch,
		Shows: append([]explain.Chapter{ch}, shows...),
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			if err := runKernelCheck(ch, tr); err != nil {
				return -1, err
			}
			o, err := runOpts(ch, e)
			if err != nil {
				return -1, err
			}
			return e.Containers.Run(o, container.IO{Stdout: e.Stdout, Stderr: e.Stderr}, tr)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error {
			if err := runKernelCheck(ch, tr); err != nil {
				return err
			}
			o, err := runOpts(ch, e)
			if err != nil {
				return err
			}
			return container.DryRun(e.DataRoot, e.StateRoot, o, tr)
		},
	}
}

func init() {
	for _, ch := range []explain.Chapter{explain.ChapterLifecycle, explain.ChapterNamespaces, explain.ChapterRootfs,
		explain.ChapterMounts, explain.ChapterProcess, explain.ChapterCgroups} {
		register(containerChapter(ch))
	}
	// The defences set right before execve are process steps.
	register(containerChapter(explain.ChapterSecurity, explain.ChapterProcess))
}
