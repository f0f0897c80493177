package compose

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/volume"
)

// Engine runs Compose projects with minirun's managers: the "docker
// compose" client, which has no state of its own. Everything it does is a
// call a person could make with the CLI (network create, volume create,
// run -d, stop, rm), in Compose's order.
type Engine struct {
	Containers *container.Manager
	Networks   *network.Manager
	Volumes    *volume.Store
	// Out receives Compose's progress lines (" ✔ Network x  Created").
	Out io.Writer
	// PullOut, when set, lets up and pull fetch a missing image, printing
	// the progress here; nil is `--pull never` (MINIRUN_PULL=never).
	PullOut io.Writer
	// Tracer narrates every host change (--explain); nil is silent.
	Tracer *explain.Tracer

	outMu sync.Mutex
}

// Open returns the engine for a data root and a state root, as the
// other commands open their managers. tr narrates (nil: silently).
func Open(dataRoot, stateRoot string, tr *explain.Tracer) (*Engine, error) {
	cm, err := container.Open(dataRoot, stateRoot)
	if err != nil {
		return nil, err
	}
	nm, err := network.Open(dataRoot, tr)
	if err != nil {
		return nil, err
	}
	vs, err := volume.Open(dataRoot, tr)
	if err != nil {
		return nil, err
	}
	return &Engine{Containers: cm, Networks: nm, Volumes: vs, Out: io.Discard, Tracer: tr}, nil
}

// progress prints one line in Compose v2's style: " ✔ Container x  Started".
func (e *Engine) progress(kind, name, what string) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if e.Out != nil {
		fmt.Fprintf(e.Out, " ✔ %s %s  %s\n", kind, name, what)
	}
}

// ProjectContainers returns the containers labelled with the project's
// name (running or not), in the order `up` starts their services; those of
// services no longer in the file come last.
func (e *Engine) ProjectContainers(p *Project) ([]*container.Meta, error) {
	all, err := e.Containers.List()
	if err != nil {
		return nil, err
	}
	rank := map[string]int{}
	for i, s := range p.StartOrder() {
		rank[s] = i + 1
	}
	var out []*container.Meta
	for _, c := range all {
		if c.Config.Labels[LabelProject] == p.Name && c.Config.Labels[LabelOneoff] != "True" {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank[out[i].Config.Labels[LabelService]], rank[out[j].Config.Labels[LabelService]]
		if ri == 0 {
			ri = len(rank) + 1
		}
		if rj == 0 {
			rj = len(rank) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// serviceContainers filters the project's containers to some services
// (all when services is empty); an unknown service is an error.
func (e *Engine) serviceContainers(p *Project, services []string) ([]*container.Meta, error) {
	want := map[string]bool{}
	for _, s := range services {
		if _, ok := p.Services[s]; !ok {
			return nil, fmt.Errorf("no such service: %s", s)
		}
		want[s] = true
	}
	all, err := e.ProjectContainers(p)
	if err != nil {
		return nil, err
	}
	var out []*container.Meta
	for _, c := range all {
		if len(want) == 0 || want[c.Config.Labels[LabelService]] {
			out = append(out, c)
		}
	}
	return out, nil
}

// ServiceContainer returns the container of a service (number 1), as
// `compose exec SERVICE` finds it.
func (e *Engine) ServiceContainer(p *Project, service string) (*container.Meta, error) {
	cs, err := e.serviceContainers(p, []string{service})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Config.Labels[LabelNumber] == strconv.Itoa(1) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("service %q has no container: run compose up first", service)
}

func isNotFound(err error) bool {
	return errors.Is(err, container.ErrNotFound) || errors.Is(err, network.ErrNotFound) || errors.Is(err, volume.ErrNotFound)
}
