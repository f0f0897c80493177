package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// The labels Docker Compose puts on every container it creates. `ps`,
// `down` and the next `up` find the project's containers by them: there is
// no other record of a project.
const (
	LabelProject    = "com.docker.compose.project"
	LabelService    = "com.docker.compose.service"
	LabelNumber     = "com.docker.compose.container-number"
	LabelOneoff     = "com.docker.compose.oneoff"
	LabelConfigHash = "com.docker.compose.config-hash"
	LabelWorkingDir = "com.docker.compose.project.working_dir"
	LabelFiles      = "com.docker.compose.project.config_files"
)

// Options say which Compose file to read and how, like the flags and the
// environment of `docker compose`.
type Options struct {
	// Files are -f FILE (repeatable: later files override earlier ones).
	// Empty: compose.yaml, compose.yml, docker-compose.yml or
	// docker-compose.yaml in WorkingDir or a parent directory.
	Files []string
	// ProjectName is -p; empty: the file's `name:`, COMPOSE_PROJECT_NAME,
	// or the name of the file's directory, lower-cased as Compose does.
	ProjectName string
	// WorkingDir is where relative paths start; empty: the first file's
	// directory (or the current directory when Files is empty).
	WorkingDir string
	// Env are the variables ${VAR} in the file expand to (os.Environ());
	// the project directory's .env file adds to them, as in Compose.
	Env []string
}

// Project is a loaded, checked Compose file: compose-go's model, with every
// name minirun will give the host objects already decided.
type Project struct {
	*types.Project
}

// Load reads and checks a Compose file. It uses compose-go's loader, the
// reference implementation of the Compose Specification, so `version: '3'`
// files, ${VAR} interpolation, .env files and override files behave as in
// Docker Compose. Every key of the file minirun does not implement is an
// error here, before anything is created: a key that were silently ignored
// (deploy.resources, secrets…) would give a project that only looks right.
func Load(ctx context.Context, o Options) (*Project, error) {
	var unsupported []loader.UnsupportedAttribute
	report := func(found []loader.UnsupportedAttribute) { unsupported = found }
	opts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.WorkingDir),
		cli.WithEnv(o.Env),
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(), // the project directory's .env, if any
		cli.WithDotEnv,
		cli.WithName(o.ProjectName),
		// extends and include are merged by the loader before the check
		// below sees the model: keep them in it, so they are reported
		// rather than half-applied.
		cli.WithLoadOptions(
			func(lo *loader.Options) { lo.SkipExtends, lo.SkipInclude = true, true },
			loader.WithSupportedAttributes(supportedAttributes(), report),
		),
	)
	if err != nil {
		return nil, err
	}
	if len(opts.ConfigPaths) == 0 {
		return nil, errors.New("no compose file found: give one with -f, or run from a directory with compose.yaml or docker-compose.yaml")
	}
	p, err := opts.LoadProject(ctx)
	if len(unsupported) > 0 {
		// Reported even when the load failed later: the unsupported key is
		// the clearer message.
		return nil, unsupportedError(unsupported)
	}
	if err != nil {
		return nil, explainLoadError(err, opts.ConfigPaths)
	}
	if len(p.DisabledServices) > 0 {
		// Reached only with profiles, which the check above refuses; kept
		// so a later loader change cannot start a partial project quietly.
		return nil, fmt.Errorf("services %s are disabled by profiles, which minirun does not implement", strings.Join(p.DisabledServiceNames(), ", "))
	}
	proj := &Project{Project: p}
	if err := proj.check(); err != nil {
		return nil, err
	}
	return proj, nil
}

// unsupportedError names every unsupported key with its service (or
// network, volume) on one line.
func unsupportedError(found []loader.UnsupportedAttribute) error {
	var msgs []string
	for _, f := range found {
		msgs = append(msgs, describePath(f.Path.String()))
	}
	sort.Strings(msgs)
	return fmt.Errorf("%s: minirun compose does not implement it, and nothing was started (see docs/compose.md#suportado)", strings.Join(msgs, "; "))
}

// describePath turns services.web.deploy.resources into `service "web":
// key "deploy.resources"`.
func describePath(p string) string {
	parts := strings.Split(p, ".")
	var clean []string
	for _, s := range parts {
		if s != "[]" {
			clean = append(clean, s)
		}
	}
	kinds := map[string]string{"services": "service", "networks": "network", "volumes": "volume"}
	if kind, ok := kinds[clean[0]]; ok && len(clean) >= 3 {
		return fmt.Sprintf("%s %q: key %q", kind, clean[1], strings.Join(clean[2:], "."))
	}
	return fmt.Sprintf("top-level key %q", strings.Join(clean, "."))
}

// The loader's messages for two common mistakes, which name neither the
// service nor the key: a key that is not in the specification, and a port
// its parser refuses.
var (
	falseSchema = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^validating (\S+): (\S+) false schema$`) })
	portError   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(invalid (hostPort|containerPort|IP address|proto)|Invalid hostPort|Invalid containerPort): (.+)$`)
	})
)

// explainLoadError rewrites those messages to name the service and the
// key, on one line; other errors pass through.
func explainLoadError(err error, files []string) error {
	msg := oneLine(err.Error())
	if m := falseSchema().FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s: %s is not a key of the Compose Specification", m[1], describePath(m[2]))
	}
	if m := portError().FindStringSubmatch(msg); m != nil {
		if svc, port := findPort(files, m[3]); svc != "" {
			return fmt.Errorf("service %q: ports: %q: %s", svc, port, msg)
		}
	}
	return fmt.Errorf("compose file: %s", msg)
}

// findPort finds the service whose ports list has an entry containing
// bad, reading the files as plain YAML (the loader has already failed).
func findPort(files []string, bad string) (service, port string) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Services map[string]struct {
				Ports []any `yaml:"ports"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(b, &doc) != nil {
			continue
		}
		for _, name := range sortedKeys(doc.Services) {
			for _, p := range doc.Services[name].Ports {
				if s := fmt.Sprint(p); strings.Contains(s, bad) {
					return name, s
				}
			}
		}
	}
	return "", ""
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// StartOrder returns the services in the order `up` starts them: every
// service after those it depends on, ties broken by name so the order is
// the same on every run. (Load has refused a cycle.)
func (p *Project) StartOrder() []string {
	order, _ := startOrder(p.Services)
	return order
}

// startOrder sorts services so each comes after its depends_on (Kahn's
// algorithm); a cycle is an error naming the services in it.
func startOrder(services types.Services) ([]string, error) {
	indeg := map[string]int{}
	users := map[string][]string{} // dependency -> services that depend on it
	for name, s := range services {
		if _, ok := indeg[name]; !ok {
			indeg[name] = 0
		}
		for dep := range s.DependsOn {
			indeg[name]++
			users[dep] = append(users[dep], name)
		}
	}
	var ready, order []string
	for name, n := range indeg {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		next := ready[0]
		ready = ready[1:]
		order = append(order, next)
		for _, u := range users[next] {
			if indeg[u]--; indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(order) != len(indeg) {
		var cyc []string
		for name, n := range indeg {
			if n > 0 {
				cyc = append(cyc, name)
			}
		}
		sort.Strings(cyc)
		return nil, fmt.Errorf("depends_on has a cycle among services %s", strings.Join(cyc, ", "))
	}
	return order, nil
}

// ContainerName is the name of the service's container number n:
// container_name when the file sets one, else PROJECT-SERVICE-N, Docker
// Compose v2's convention (v1 used underscores).
func (p *Project) ContainerName(service string, n int) string {
	if s, ok := p.Services[service]; ok && s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", p.Name, service, n)
}

// NetworkName is the host name of the project's network key: its `name:`
// when set (external networks keep theirs), else PROJECT_KEY, which the
// loader has already filled in.
func (p *Project) NetworkName(key string) string {
	if n, ok := p.Networks[key]; ok && n.Name != "" {
		return n.Name
	}
	return p.Name + "_" + key
}

// VolumeName is the host name of the project's volume key: PROJECT_KEY
// unless the file names it.
func (p *Project) VolumeName(key string) string {
	if v, ok := p.Volumes[key]; ok && v.Name != "" {
		return v.Name
	}
	return p.Name + "_" + key
}

// ImageName is the image a service runs: its `image:`, or for a service
// with only `build:` the name Compose gives what it builds, PROJECT-SERVICE.
func (p *Project) ImageName(service string) string {
	s := p.Services[service]
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + service
}
