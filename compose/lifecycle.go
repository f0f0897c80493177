package compose

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minirun/minirun/container"
)

// DownOptions are the flags of `compose down`.
type DownOptions struct {
	// Volumes also removes the project's named volumes and the
	// containers' anonymous ones (-v): the data goes with them.
	Volumes bool
	// Timeout is each container's time between SIGTERM and SIGKILL.
	Timeout time.Duration
}

// Down undoes up, newest first: the containers (dependents before what
// they depend on), then the project's networks — which stops their DNS
// servers and deletes their bridges and nftables rules — and, with -v, the
// volumes. Named volumes outlive `down` otherwise: that is how the
// counter keeps its count.
func (e *Engine) Down(p *Project, o DownOptions) error {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	cs, err := e.ProjectContainers(p)
	if err != nil {
		return err
	}
	// Dependents stop first, so nothing loses a dependency while it still
	// runs; the others stop in parallel, as in Compose (a program that
	// ignores SIGTERM costs the timeout once, not once per container).
	err = e.dependentsFirst(p, cs, func(c *container.Meta) error {
		if err := e.stopOne(c, o.Timeout); err != nil {
			return err
		}
		if err := e.Containers.RemoveWithVolumes(c.ID, true, o.Volumes); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove %s: %w", c.Name, err)
		}
		e.progress("Container", c.Name, "Removed")
		return nil
	})
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, key := range sortedKeys(p.Networks) {
		if p.Networks[key].External {
			continue
		}
		name := p.NetworkName(key)
		if err := e.Networks.Remove(name); err != nil {
			if !isNotFound(err) {
				errs = append(errs, fmt.Errorf("network %s: %w", name, err))
			}
			continue
		}
		e.progress("Network", name, "Removed")
	}
	if o.Volumes {
		for _, key := range sortedKeys(p.Volumes) {
			if p.Volumes[key].External {
				continue
			}
			name := p.VolumeName(key)
			if err := e.Volumes.Remove(name, e.Containers.VolumeUsers); err != nil {
				if !isNotFound(err) {
					errs = append(errs, fmt.Errorf("volume %s: %w", name, err))
				}
				continue
			}
			e.progress("Volume", name, "Removed")
		}
	}
	return errors.Join(errs...)
}

// Stop stops the project's containers (or those of some services),
// dependents first, and keeps them: `compose start` runs them again.
func (e *Engine) Stop(p *Project, services []string, timeout time.Duration) error {
	cs, err := e.serviceContainers(p, services)
	if err != nil {
		return err
	}
	return e.dependentsFirst(p, cs, func(c *container.Meta) error { return e.stopOne(c, timeout) })
}

// dependentsFirst runs fn on every container, each one only after fn has
// returned for the containers of every service that depends on its
// service; containers with nothing left waiting on them run in parallel.
func (e *Engine) dependentsFirst(p *Project, cs []*container.Meta, fn func(*container.Meta) error) error {
	done := map[string]chan struct{}{} // by service
	for _, c := range cs {
		done[c.Config.Labels[LabelService]] = make(chan struct{})
	}
	left := map[string]int{}
	for _, c := range cs {
		left[c.Config.Labels[LabelService]]++
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		svc := c.Config.Labels[LabelService]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for other, s := range p.Services {
				if _, dependsOnMe := s.DependsOn[svc]; dependsOnMe && done[other] != nil {
					<-done[other]
				}
			}
			errs[i] = fn(c)
			mu.Lock()
			if left[svc]--; left[svc] == 0 {
				close(done[svc])
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *Engine) stopOne(c *container.Meta, timeout time.Duration) error {
	if c.State.Status != "running" && c.State.Status != "restarting" {
		return nil
	}
	if err := e.Containers.Stop(c.ID, timeout); err != nil {
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	e.progress("Container", c.Name, "Stopped")
	return nil
}

// Start starts the project's stopped containers again, in depends_on
// order, waiting for each dependency's condition as up does.
func (e *Engine) Start(p *Project, services []string) error {
	cs, err := e.serviceContainers(p, services)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return errors.New("no containers to start: run compose up first")
	}
	for _, c := range cs {
		if err := e.startOne(p, c); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) startOne(p *Project, c *container.Meta) error {
	svc := c.Config.Labels[LabelService]
	if _, ok := p.Services[svc]; ok {
		if err := e.waitDependencies(p, svc); err != nil {
			return err
		}
	}
	if c.State.Status == "running" || c.State.Status == "restarting" {
		return nil
	}
	if _, err := e.Containers.Start(c.ID, false); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	if _, ok := p.Services[svc]; ok {
		if err := e.connectExtra(p, svc, c.ID); err != nil {
			return err
		}
	}
	e.progress("Container", c.Name, "Started")
	return nil
}

// Restart stops and starts the containers: stop all (dependents first),
// then start all in depends_on order.
func (e *Engine) Restart(p *Project, services []string, timeout time.Duration) error {
	if err := e.Stop(p, services, timeout); err != nil {
		return err
	}
	cs, err := e.serviceContainers(p, services)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := e.startOne(p, c); err != nil {
			return err
		}
	}
	return nil
}
