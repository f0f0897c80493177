package compose

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/image/build"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/network"
)

// UpOptions are the flags of `compose up` that change what it creates.
type UpOptions struct {
	// Build builds the images of services with `build:` even when they
	// exist (--build); without it only missing ones are built.
	Build bool
	// StopTimeout is how long a container being recreated gets between
	// SIGTERM and SIGKILL.
	StopTimeout time.Duration
}

// Up brings the project up, detached: images (pulled or built), then
// networks, volumes and one container per service in depends_on order,
// each dependency running (or healthy, or completed) before the services
// that need it start. A container whose configuration has not changed is
// left as it is, so `up` twice changes nothing. If a step fails, what this
// call created is removed again, newest first.
func (e *Engine) Up(p *Project, o UpOptions) (retErr error) {
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	// 1. Everything that can fail without changing the host, first: a
	// missing image or an external network that is not there starts
	// nothing.
	images, err := e.planImages(p, o.Build)
	if err != nil {
		return err
	}
	if err := e.checkExternal(p); err != nil {
		return err
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
		}
	}()
	// 2. Images: pull or build what is missing. They are not undone: an
	// image is a cache, as in Compose.
	for _, a := range images {
		if err := e.ensureImage(p, a); err != nil {
			return err
		}
	}
	// 3. Networks, then volumes: a container needs both when it is created.
	if err := e.createNetworks(p, &undo); err != nil {
		return err
	}
	if err := e.createVolumes(p, &undo); err != nil {
		return err
	}
	// 4. Containers, dependencies first.
	for _, svc := range p.StartOrder() {
		if err := e.waitDependencies(p, svc); err != nil {
			return err
		}
		if err := e.upService(p, svc, o, &undo); err != nil {
			return err
		}
	}
	undo.Release()
	return nil
}

// imageAction is what up does for one image: build it, pull it, or
// nothing (it is here).
type imageAction struct {
	service, ref string
	build, pull  bool
}

// planImages decides, without changing anything, how each service gets its
// image, and fails for one that cannot be had: not here, no build:, and
// pulling is off.
func (e *Engine) planImages(p *Project, forceBuild bool) ([]imageAction, error) {
	var out []imageAction
	seen := map[string]bool{}
	for _, svc := range p.StartOrder() {
		s := p.Services[svc]
		ref := p.ImageName(svc)
		if seen[ref] {
			continue
		}
		seen[ref] = true
		_, err := e.Containers.Images.Get(ref)
		present := err == nil
		if err != nil && !errors.Is(err, image.ErrNotFound) {
			return nil, fmt.Errorf("service %q: image %q: %w", svc, ref, err)
		}
		switch {
		case s.Build != nil && (forceBuild || !present):
			if _, err := os.Stat(dockerfilePath(s.Build)); err != nil {
				return nil, fmt.Errorf("service %q: build: %w", svc, err)
			}
			out = append(out, imageAction{service: svc, ref: ref, build: true})
		case present:
		case e.PullOut == nil:
			return nil, fmt.Errorf("service %q: image %q is not here and pulling is off (MINIRUN_PULL=never): build or pull it first", svc, ref)
		default:
			if _, err := image.ParseRef(ref); err != nil {
				return nil, fmt.Errorf("service %q: %w", svc, err)
			}
			out = append(out, imageAction{service: svc, ref: ref, pull: true})
		}
	}
	return out, nil
}

// dockerfilePath is the Dockerfile a build: section names, relative to
// its context as in Compose.
func dockerfilePath(b *types.BuildConfig) string {
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(b.Context, df)
	}
	return df
}

func (e *Engine) ensureImage(p *Project, a imageAction) error {
	switch {
	case a.build:
		return e.build(p, a.service)
	case a.pull:
		fmt.Fprintf(e.PullOut, "%s Pulling\n", a.service)
		if _, err := e.Containers.Images.Pull(a.ref, image.PullOptions{Progress: e.PullOut, Tracer: e.Tracer}); err != nil {
			return fmt.Errorf("service %q: pull %s: %w", a.service, a.ref, err)
		}
		e.progress("Image", a.ref, "Pulled")
	}
	return nil
}

// build runs `minirun build` for a service: its context and Dockerfile,
// its args, tagged with the service's image name; RUN steps run in real
// containers of the manager.
func (e *Engine) build(p *Project, svc string) error {
	s := p.Services[svc]
	args := map[string]string{}
	for k, v := range s.Build.Args {
		if v != nil {
			args[k] = *v
		}
	}
	o := build.Options{
		ContextDir: s.Build.Context, Dockerfile: dockerfilePath(s.Build),
		Tags: []string{p.ImageName(svc)}, BuildArgs: args, Out: e.Out,
		Runner: e.Containers.BuildRunner(), Tracer: e.Tracer,
	}
	if e.PullOut != nil {
		o.Pull = func(ref string) (*image.Image, error) {
			return e.Containers.Images.Pull(ref, image.PullOptions{Progress: e.PullOut, Tracer: e.Tracer})
		}
	}
	if _, err := build.Build(e.Containers.Images, o); err != nil {
		return fmt.Errorf("service %q: build: %w", svc, err)
	}
	e.progress("Image", p.ImageName(svc), "Built")
	return nil
}

// Build builds the images of the services with `build:` (all, or the
// ones named): `compose build`.
func (e *Engine) Build(p *Project, services []string) error {
	names, err := p.selected(services)
	if err != nil {
		return err
	}
	for _, svc := range names {
		if p.Services[svc].Build != nil {
			if err := e.build(p, svc); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pull pulls the images of the services that name one and have no
// `build:` (all, or the ones named): `compose pull`.
func (e *Engine) Pull(p *Project, services []string) error {
	names, err := p.selected(services)
	if err != nil {
		return err
	}
	if e.PullOut == nil {
		return errors.New("pulling is off (MINIRUN_PULL=never)")
	}
	for _, svc := range names {
		s := p.Services[svc]
		if s.Image == "" || s.Build != nil {
			continue
		}
		if err := e.ensureImage(p, imageAction{service: svc, ref: s.Image, pull: true}); err != nil {
			return err
		}
	}
	return nil
}

// selected returns the named services in start order (all when none are
// named).
func (p *Project) selected(services []string) ([]string, error) {
	want := map[string]bool{}
	for _, s := range services {
		if _, ok := p.Services[s]; !ok {
			return nil, fmt.Errorf("no such service: %s", s)
		}
		want[s] = true
	}
	var out []string
	for _, s := range p.StartOrder() {
		if len(want) == 0 || want[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// usedNetworks are the network keys some service joins, sorted.
func (p *Project) usedNetworks() []string {
	used := map[string]bool{}
	for _, s := range p.Services {
		for key := range s.Networks {
			used[key] = true
		}
	}
	return sortedKeys(used)
}

// checkExternal makes sure the networks and volumes the file declares
// external exist: Compose never creates those.
func (e *Engine) checkExternal(p *Project) error {
	for _, key := range p.usedNetworks() {
		if n := p.Networks[key]; n.External {
			if _, err := e.Networks.Get(p.NetworkName(key)); err != nil {
				return fmt.Errorf("network %s declared as external, but could not be found: %w", p.NetworkName(key), err)
			}
		}
	}
	for _, key := range sortedKeys(p.Volumes) {
		if v := p.Volumes[key]; v.External {
			if _, err := e.Volumes.Get(p.VolumeName(key)); err != nil {
				return fmt.Errorf("volume %s declared as external, but could not be found: %w", p.VolumeName(key), err)
			}
		}
	}
	return nil
}

// createNetworks creates the project's networks that services use and do
// not exist yet: PROJECT_default, PROJECT_contador… Each one is a bridge
// with its own DNS server, which answers the service names.
func (e *Engine) createNetworks(p *Project, undo *cleanup.Stack) error {
	for _, key := range p.usedNetworks() {
		cfg := p.Networks[key]
		name := p.NetworkName(key)
		if cfg.External {
			continue
		}
		if _, err := e.Networks.Get(name); err == nil {
			continue // there from an earlier up: keep it, with its containers
		} else if !isNotFound(err) {
			return err
		}
		co := network.CreateOpts{Name: name, Driver: cfg.Driver, Internal: cfg.Internal, Options: map[string]string{}}
		for k, v := range cfg.DriverOpts {
			co.Options[k] = v
		}
		if len(cfg.Ipam.Config) == 1 {
			co.Subnet, co.Gateway = cfg.Ipam.Config[0].Subnet, cfg.Ipam.Config[0].Gateway
		}
		if _, err := e.Networks.Create(co); err != nil {
			return fmt.Errorf("network %s: %w", name, err)
		}
		undo.Add("remove network "+name, func() error { return e.Networks.Remove(name) })
		e.progress("Network", name, "Created")
	}
	return nil
}

// createVolumes creates the project's named volumes, PROJECT_VOLUME,
// labelled as Compose labels them. An existing one is kept with its data:
// that is what a volume is for.
func (e *Engine) createVolumes(p *Project, undo *cleanup.Stack) error {
	for _, key := range sortedKeys(p.Volumes) {
		cfg := p.Volumes[key]
		name := p.VolumeName(key)
		if cfg.External {
			continue
		}
		if _, err := e.Volumes.Get(name); err == nil {
			continue
		} else if !isNotFound(err) {
			return err
		}
		labels := map[string]string{LabelProject: p.Name, "com.docker.compose.volume": key}
		if _, err := e.Volumes.Create(name, cfg.Driver, map[string]string(cfg.DriverOpts), labels); err != nil {
			return fmt.Errorf("volume %s: %w", name, err)
		}
		undo.Add("remove volume "+name, func() error { return e.Volumes.Remove(name, e.Containers.VolumeUsers) })
		e.progress("Volume", fmt.Sprintf("%q", name), "Created")
	}
	return nil
}

// upService makes the service's container exist and run with the
// configuration of the file: left alone when it already does, started when
// it is stopped, recreated when the file (or its image) changed.
func (e *Engine) upService(p *Project, svc string, o UpOptions, undo *cleanup.Stack) error {
	ro, err := p.RunOpts(svc)
	if err != nil {
		return err
	}
	img, err := e.Containers.Images.Get(ro.Image)
	if err != nil {
		return fmt.Errorf("service %q: %w", svc, err)
	}
	old, err := e.Containers.Get(ro.Name)
	switch {
	case err == nil:
		if old.Config.Labels[LabelProject] != p.Name {
			return fmt.Errorf("service %q: the container name %q is already in use by a container that is not of project %s: remove or rename it", svc, ro.Name, p.Name)
		}
		if old.Config.Labels[LabelConfigHash] == ro.Labels[LabelConfigHash] && old.Image == img.ID {
			if old.State.Status == "running" || old.State.Status == "restarting" {
				e.progress("Container", ro.Name, "Running")
				return nil
			}
			meta, err := e.Containers.Start(old.ID, false)
			if err != nil {
				return fmt.Errorf("start %s: %w", ro.Name, err)
			}
			if err := e.connectExtra(p, svc, meta.ID); err != nil {
				return err
			}
			e.progress("Container", ro.Name, "Started")
			return nil
		}
		// Changed: stop and remove the old one (its anonymous volumes
		// too), then create it again below.
		if err := e.Containers.Stop(old.ID, o.StopTimeout); err != nil {
			return fmt.Errorf("stop %s: %w", ro.Name, err)
		}
		if err := e.Containers.RemoveWithVolumes(old.ID, true, true); err != nil {
			return fmt.Errorf("remove %s: %w", ro.Name, err)
		}
		e.progress("Container", ro.Name, "Recreate")
	case isNotFound(err):
	default:
		return err
	}
	meta, err := e.Containers.RunDetached(ro, false, e.Tracer)
	if err != nil {
		return fmt.Errorf("service %q: %w", svc, err)
	}
	id := meta.ID
	undo.Add("remove container "+ro.Name, func() error { return e.Containers.RemoveWithVolumes(id, true, true) })
	if err := e.connectExtra(p, svc, id); err != nil {
		return err
	}
	e.progress("Container", ro.Name, "Started")
	return nil
}

// connectExtra joins the container to the service's other networks, as
// `network connect` does: minirun creates a container on one network, and
// each further one is a new interface in its namespace. The DNS servers
// and /etc/hosts learn the service's aliases on each.
func (e *Engine) connectExtra(p *Project, svc, id string) error {
	s := p.Services[svc]
	keys := s.NetworksByPriority()
	if len(keys) < 2 {
		return nil
	}
	meta, err := e.Containers.Get(id)
	if err != nil {
		return err
	}
	if meta.State.Pid <= 0 {
		return fmt.Errorf("container %s is not running", meta.Name)
	}
	have := map[string]bool{}
	for name := range meta.NetworkSettings.Networks {
		have[name] = true
	}
	if eps, err := e.Networks.Endpoints(meta.ID); err == nil {
		for _, ep := range eps {
			have[ep.NetworkName] = true
		}
	}
	for _, key := range keys[1:] {
		name := p.NetworkName(key)
		if have[name] {
			continue
		}
		if _, err := e.Networks.Connect(name, meta.ID, meta.Name, meta.State.Pid, network.EndpointOpts{Aliases: p.Aliases(svc, key)}); err != nil {
			return fmt.Errorf("connect %s to %s: %w", meta.Name, name, err)
		}
	}
	return e.Containers.RefreshEtcFiles(meta.ID)
}

// waitDependencies blocks until every dependency of svc meets its
// depends_on condition: started (its container runs), healthy (its
// healthcheck passed) or completed successfully (it exited 0).
func (e *Engine) waitDependencies(p *Project, svc string) error {
	s := p.Services[svc]
	deps := sortedKeys(s.DependsOn)
	for _, dep := range deps {
		d := s.DependsOn[dep]
		name := p.ContainerName(dep, 1)
		switch d.Condition {
		case types.ServiceConditionHealthy:
			if err := e.waitHealthy(p, dep); err != nil {
				return fmt.Errorf("dependency failed to start: %w", err)
			}
			e.progress("Container", name, "Healthy")
		case types.ServiceConditionCompletedSuccessfully:
			code, err := e.Containers.Wait(name, 0)
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("service %q didn't complete successfully: exit %d", dep, code)
			}
			e.progress("Container", name, "Exited")
		default: // service_started: it was started just before
			meta, err := e.Containers.Get(name)
			if err != nil {
				return fmt.Errorf("dependency %q of %q: %w", dep, svc, err)
			}
			if meta.State.Status == "exited" && !d.Required {
				continue
			}
		}
	}
	return nil
}
