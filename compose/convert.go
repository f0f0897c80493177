package compose

// From a service of the file to the flags of `minirun run -d`: the same
// container.RunOpts the command line builds, so a student can compare
// `compose up` with the commands of the course's first slide.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/shim"
)

// check validates what can be validated without the host: ports, restart
// policies, networks, volumes, healthchecks, depends_on. Each error names
// the service; nothing has been created when it fails.
func (p *Project) check() error {
	if len(p.Services) == 0 {
		return errors.New("compose file: no services")
	}
	if _, err := startOrder(p.Services); err != nil {
		return err
	}
	names := map[string]string{}
	for _, name := range p.StartOrder() {
		s := p.Services[name]
		cname := p.ContainerName(name, 1)
		if err := container.ValidateName(cname); err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
		if other, ok := names[cname]; ok {
			return fmt.Errorf("services %q and %q would both be named %s", other, name, cname)
		}
		names[cname] = name
		if s.Image == "" && s.Build == nil {
			return fmt.Errorf("service %q has neither an image nor a build context", name)
		}
		if _, err := p.RunOpts(name); err != nil {
			return err
		}
		for dep, d := range s.DependsOn {
			switch d.Condition {
			case types.ServiceConditionStarted, types.ServiceConditionCompletedSuccessfully:
			case types.ServiceConditionHealthy:
				if hc := p.Services[dep].HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
					return fmt.Errorf("service %q depends on %q being healthy, but %q has no healthcheck", name, dep, dep)
				}
			default:
				return fmt.Errorf("service %q: depends_on %q: unknown condition %q", name, dep, d.Condition)
			}
		}
		if hc := s.HealthCheck; hc != nil && !hc.Disable {
			if _, err := healthCommand(hc.Test); err != nil {
				return fmt.Errorf("service %q: healthcheck: %w", name, err)
			}
		}
	}
	for key, n := range p.Networks {
		if n.External {
			continue
		}
		if n.Driver != "" && n.Driver != network.DriverBridge {
			return fmt.Errorf("network %q: driver %q: minirun compose creates bridge networks only", key, n.Driver)
		}
		if len(n.Ipam.Config) > 1 {
			return fmt.Errorf("network %q: minirun networks have one subnet", key)
		}
	}
	for key, v := range p.Volumes {
		if !v.External && v.Driver != "" && v.Driver != "local" {
			return fmt.Errorf("volume %q: driver %q: minirun has the local driver only", key, v.Driver)
		}
	}
	return nil
}

// ServiceNetworks returns the networks of a service's container as host
// network names, the first one the container is created on (highest
// priority, then by name, as compose-go orders them); the others are
// connected after it starts, as `network connect` would.
func (p *Project) ServiceNetworks(service string) []string {
	s := p.Services[service]
	var out []string
	for _, key := range s.NetworksByPriority() {
		out = append(out, p.NetworkName(key))
	}
	return out
}

// Aliases are the DNS names a service's container answers to on a network
// of the project: the service name (so `REDIS_HOST=redis` works), and the
// aliases the file adds.
func (p *Project) Aliases(service, networkKey string) []string {
	s := p.Services[service]
	var out []string
	cfg := s.Networks[networkKey]
	if cfg.ServiceNameAliasEnabled() {
		out = append(out, service)
	}
	if cfg != nil {
		out = append(out, cfg.Aliases...)
	}
	return out
}

// RunOpts translates one service into the options of `minirun run -d`:
// what compose does for each service is exactly a run with these flags.
// Labels carry the project, the service and a hash of these options, so
// the next `up` can tell an unchanged container from one to recreate.
func (p *Project) RunOpts(service string) (container.RunOpts, error) {
	s, ok := p.Services[service]
	if !ok {
		return container.RunOpts{}, fmt.Errorf("no such service: %s", service)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("service %q: %s", service, fmt.Sprintf(format, a...))
	}
	o := container.RunOpts{
		Name: p.ContainerName(service, 1), Image: p.ImageName(service),
		Hostname: s.Hostname, Workdir: s.WorkingDir, User: s.User,
	}
	// entrypoint: [a, b] and command: [c] run "a b c", as in Docker; an
	// entrypoint drops the image's CMD, which RunOpts.Entrypoint does too.
	if s.Entrypoint != nil {
		e := ""
		if len(s.Entrypoint) > 0 {
			e = s.Entrypoint[0]
			o.Cmd = append(o.Cmd, s.Entrypoint[1:]...)
		}
		o.Entrypoint = &e
	}
	o.Cmd = append(o.Cmd, s.Command...)
	for _, k := range sortedKeys(s.Environment) {
		if v := s.Environment[k]; v != nil { // nil: "KEY" alone, not set anywhere
			o.Env = append(o.Env, k+"="+*v)
		}
	}
	var err error
	if o.Restart, err = shim.ParseRestart(s.Restart); err != nil {
		return o, bad("restart: %v", err)
	}
	for _, pc := range s.Ports {
		ports, err := network.ParsePublish(publishSpec(pc))
		if err != nil {
			return o, bad("ports: %v", err)
		}
		o.Net.Ports = append(o.Net.Ports, ports...)
	}
	nets := s.NetworksByPriority()
	if len(nets) == 0 {
		return o, bad("no network: network_mode is not implemented")
	}
	for _, key := range nets {
		if _, ok := p.Networks[key]; !ok {
			return o, bad("network %q is not declared in the top-level networks", key)
		}
	}
	o.Net.Network = p.NetworkName(nets[0])
	o.Net.Aliases = p.Aliases(service, nets[0])
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			// The loader has made a relative source (./redis-data)
			// absolute, from the project directory.
			o.Volumes = append(o.Volumes, volumeSpec(v.Source, v.Target, v.ReadOnly))
		case types.VolumeTypeVolume:
			if v.Source == "" { // anonymous: a fresh volume per container
				o.Volumes = append(o.Volumes, v.Target)
				continue
			}
			if _, ok := p.Volumes[v.Source]; !ok {
				return o, bad("volume %q is not declared in the top-level volumes", v.Source)
			}
			o.Volumes = append(o.Volumes, volumeSpec(p.VolumeName(v.Source), v.Target, v.ReadOnly))
		default:
			return o, bad("volumes: type %q is not implemented (bind and volume are)", v.Type)
		}
	}
	o.Labels = map[string]string{}
	for k, v := range s.Labels {
		o.Labels[k] = v
	}
	hash, err := configHash(o, p.ServiceNetworks(service))
	if err != nil {
		return o, err
	}
	o.Labels[LabelProject] = p.Name
	o.Labels[LabelService] = service
	o.Labels[LabelNumber] = "1"
	o.Labels[LabelOneoff] = "False"
	o.Labels[LabelConfigHash] = hash
	o.Labels[LabelWorkingDir] = p.WorkingDir
	o.Labels[LabelFiles] = strings.Join(p.ComposeFiles, ",")
	return o, nil
}

// publishSpec writes a port of the file in -p's syntax,
// [HOSTIP:][HOSTPORT:]CONTAINERPORT/PROTO, for network.ParsePublish: the
// same parser, the same errors as `run -p`.
func publishSpec(pc types.ServicePortConfig) string {
	s := strconv.FormatUint(uint64(pc.Target), 10)
	if pc.Published != "" {
		s = pc.Published + ":" + s
		if pc.HostIP != "" {
			s = pc.HostIP + ":" + s
		}
	} else if pc.HostIP != "" {
		s = pc.HostIP + "::" + s
	}
	if pc.Protocol != "" {
		s += "/" + pc.Protocol
	}
	return s
}

func volumeSpec(src, target string, ro bool) string {
	s := src + ":" + target
	if ro {
		s += ":ro"
	}
	return s
}

// configHash is a digest of everything that makes the container what it
// is. `up` compares it with the label of the running container: the same
// hash leaves it alone, a different one recreates it (Compose's
// com.docker.compose.config-hash).
func configHash(o container.RunOpts, networks []string) (string, error) {
	o.Pull = nil
	b, err := json.Marshal(struct {
		Opts     container.RunOpts
		Networks []string
	}{o, networks})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// healthCommand turns a healthcheck's test into the process to exec:
// ["CMD", prog, args…] as is, ["CMD-SHELL", line] (or a plain string)
// through /bin/sh -c, as Docker runs them.
func healthCommand(test types.HealthCheckTest) ([]string, error) {
	if len(test) == 0 {
		return nil, errors.New("test is empty")
	}
	switch test[0] {
	case "CMD":
		if len(test) < 2 {
			return nil, errors.New(`["CMD"] needs a program after it`)
		}
		return test[1:], nil
	case "CMD-SHELL":
		if len(test) != 2 {
			return nil, errors.New(`["CMD-SHELL", "command line"] takes one string`)
		}
		return []string{"/bin/sh", "-c", test[1]}, nil
	case "NONE":
		return nil, nil
	}
	return nil, fmt.Errorf("test must start with CMD, CMD-SHELL or NONE, not %q", test[0])
}

// Docker's healthcheck defaults (docker run --health-*).
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
)

func durationOr(d *types.Duration, def time.Duration) time.Duration {
	if d == nil || *d == 0 {
		return def
	}
	return time.Duration(*d)
}
