package course

import (
	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
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
	// demo's exit code (explain's own) at 0.
	explain.ChapterCgroups: "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>/dev/null; true",
}

// runOpts is the demo container of a chapter: `run --rm IMAGE sh -c DEMO`,
// with what the chapter needs on top.
func runOpts(ch explain.Chapter, image string) (container.RunOpts, error) {
	o := container.RunOpts{Image: image, Cmd: []string{"sh", "-c", demoCommand[ch]}, Remove: true}
	switch ch {
	case explain.ChapterCgroups:
		// Limits, so that the chapter shows each file being written.
		r, _, err := container.ResourceFlags{Memory: "64m", CPUs: "0.5", PidsLimit: 64}.Resources()
		if err != nil {
			return o, err
		}
		o.Resources = r
	}
	return o, nil
}

// containerChapter is a chapter whose demo is one `run --rm` container: its
// steps are those of the container's whole life.
func containerChapter(ch explain.Chapter, shows ...explain.Chapter) *Chapter {
	return &Chapter{
		Name:  ch,
		Shows: append([]explain.Chapter{ch}, shows...),
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			o, err := runOpts(ch, e.Image)
			if err != nil {
				return -1, err
			}
			return e.Containers.Run(o, container.IO{Stdout: e.Stdout, Stderr: e.Stderr}, tr)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error {
			o, err := runOpts(ch, e.Image)
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
