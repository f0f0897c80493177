package container

import (
	"errors"
	"io"
	"strings"

	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/shim"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunOpts are the flags of `minirun run` that shape the container.
type RunOpts struct {
	Name        string
	Image       string
	Cmd         []string // arguments after IMAGE: replace the image's CMD
	Entrypoint  *string  // --entrypoint: replaces the image's ENTRYPOINT (and drops its CMD)
	Env         []string // -e K=V
	Workdir     string   // -w
	Hostname    string   // -h
	User        string   // -u
	TTY         bool     // -t
	Interactive bool     // -i
	Remove      bool     // --rm
	// Resources are the cgroup limits from --memory, --cpus… (nil: none).
	Resources *specs.LinuxResources
	// Devices are host devices added with --device.
	Devices []specs.LinuxDevice
	// Restart is --restart, kept by the shim.
	Restart shim.RestartPolicy
	// Pull, when set, lets run pull a missing image, printing progress here.
	Pull io.Writer
	// Security are --cap-add, --cap-drop, --privileged, --security-opt…
	Security SecurityOpts
	// Net is --network, --ip, --network-alias and -p.
	Net NetworkOpts
	// PublishAll is -P: every exposed port (the image's EXPOSE and
	// --expose) on a free host port.
	PublishAll bool
	Expose     []string
	// Labels are --label K=V, kept in the container's Config.Labels (compose
	// finds its project's containers by them).
	Labels map[string]string
	// Volumes are -v values (HOST:CTR[:ro] binds, NAME:CTR named volumes,
	// CTR anonymous ones); Mounts are --mount values; Tmpfs are --tmpfs
	// values; VolumesFrom names containers whose volumes to reuse.
	Volumes, Mounts, Tmpfs, VolumesFrom []string
	// VolumeDriver is --volume-driver: the driver (local or a volume
	// plugin's name) of the volumes this run creates.
	VolumeDriver string
	// UsernsRemap names the user whose /etc/subuid and /etc/subgid ranges
	// the container's root maps to (dockerd's --userns-remap).
	UsernsRemap string
	// id is the id the container gets, made before prepare when a shim
	// is started beside it (RunDetached); empty: reserve makes one.
	id string
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// command combines ENTRYPOINT and CMD the way Docker does: the image's
// ENTRYPOINT followed by the CMD (the image's, or the one given after the
// image name); --entrypoint replaces the ENTRYPOINT and drops the image's
// CMD.
func command(ic v1.ImageConfig, o RunOpts) ([]string, []string, []string, error) {
	entry, cmd := ic.Entrypoint, ic.Cmd
	if o.Entrypoint != nil {
		entry, cmd = nil, nil
		if *o.Entrypoint != "" {
			entry = []string{*o.Entrypoint}
		}
	}
	if len(o.Cmd) > 0 {
		cmd = o.Cmd
	}
	args := append(append([]string{}, entry...), cmd...)
	if len(args) == 0 {
		return nil, nil, nil, errors.New("no command specified: the image has no CMD or ENTRYPOINT; give one after the image name")
	}
	return args, entry, cmd, nil
}

// mergeEnv overlays -e values on the image's environment, by key.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// buildSpec writes the OCI configuration for a container of image config
// ic, with Docker's defaults (runtime.DefaultSpec) and the run flags.
func buildSpec(ic v1.ImageConfig, o RunOpts, id, rootfs string) (*specs.Spec, error) {
	args, _, _, err := command(ic, o)
	if err != nil {
		return nil, err
	}
	s := runtime.DefaultSpec()
	s.Root = &specs.Root{Path: rootfs}
	s.Hostname = o.Hostname
	if s.Hostname == "" {
		s.Hostname = id[:12]
	}
	env := ic.Env
	hasPath := false
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			hasPath = true
		}
	}
	if !hasPath {
		env = append([]string{defaultPath}, env...)
	}
	env = append(env, "HOSTNAME="+s.Hostname)
	if o.TTY {
		env = append(env, "TERM=xterm")
	}
	s.Process.Env = mergeEnv(env, o.Env)
	s.Process.Args = args
	s.Process.Terminal = o.TTY
	s.Process.Cwd = "/"
	if ic.WorkingDir != "" {
		s.Process.Cwd = ic.WorkingDir
	}
	if o.Workdir != "" {
		s.Process.Cwd = o.Workdir
	}
	user := ic.User
	if o.User != "" {
		user = o.User
	}
	u, err := resolveUser(rootfs, user)
	if err != nil {
		return nil, err
	}
	s.Process.User = u
	if r := o.Resources; r != nil {
		r.Devices = append(s.Linux.Resources.Devices, r.Devices...)
		s.Linux.Resources = r
	}
	s.Linux.Devices = append(s.Linux.Devices, o.Devices...)
	if err := applySecurity(s, o.Security); err != nil {
		return nil, err
	}
	return s, nil
}
