package lab

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/minirun/minirun/container"
)

// The labels Docker Compose puts on every container of a project; the
// compose lab finds its containers by them, as `docker compose ps` does.
const (
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = "com.docker.compose.service"
)

// contadorURL is the counter app as the VM (and, through Vagrant's
// forwarded port, the student's own browser) reaches it.
const contadorURL = "http://127.0.0.1:5000/"

// composeLab: examples/contador's project — the counter app and Redis, on
// network contador, Redis's data in a named volume — brought up with
// `minirun compose up -d`.
func composeLab() *Lab {
	var redis *container.Meta
	return &Lab{
		Name:  "compose",
		Title: text("compose: o contador e o Redis", "compose: the counter and Redis"),
		Checks: []Check{
			{
				What: text("o serviço redis do projeto contador está rodando", "service redis of project contador is running"),
				Hint: text("cd /minirun/examples/contador && minirun compose up -d",
					"cd /minirun/examples/contador && minirun compose up -d"),
				Run: func(e *Env) (err error) {
					redis, err = e.service("contador", "redis")
					return err
				},
			},
			{
				What: text("o Redis guarda os dados num volume montado em /data", "Redis keeps its data in a volume mounted at /data"),
				Hint: text("o serviço redis do docker-compose.yaml monta o volume redis-data em /data; suba o projeto com esse arquivo",
					"the redis service of docker-compose.yaml mounts volume redis-data at /data; bring the project up with that file"),
				Run: func(e *Env) error {
					_, err := e.mountOf(redis.State.Pid, redis.Name, "/data")
					return err
				},
			},
			{
				What: text("o serviço contador está rodando e publica a porta 5000", "service contador is running and publishes port 5000"),
				Hint: text("veja minirun compose ps e minirun compose logs contador; a porta 5000 do host pode estar ocupada",
					"see minirun compose ps and minirun compose logs contador; the host's port 5000 may be taken"),
				Run: func(e *Env) error {
					c, err := e.service("contador", "contador")
					if err != nil {
						return err
					}
					for _, ep := range c.NetworkSettings.Networks {
						for _, p := range ep.Ports {
							if p.HostPort == 5000 {
								return nil
							}
						}
					}
					for _, p := range c.HostConfig.Network.Ports {
						if p.HostPort == 5000 {
							return nil
						}
					}
					return errors.New("nenhuma porta 5000 publicada / no port 5000 published")
				},
			},
			{
				What: text("a página em localhost:5000 conta as visitas: a segunda visita vê um número maior",
					"the page at localhost:5000 counts visits: the second visit sees a larger number"),
				Hint: text("se a página diz que não alcança o Redis, os dois serviços precisam estar na mesma rede (contador)",
					"if the page says it cannot reach Redis, both services must be on the same network (contador)"),
				Run: func(e *Env) error {
					first, err := visit(contadorURL)
					if err != nil {
						return err
					}
					second, err := visit(contadorURL)
					if err != nil {
						return err
					}
					if second <= first {
						return fmt.Errorf("visitas / visits: %d e depois / then %d", first, second)
					}
					return nil
				},
			},
		},
	}
}

// service returns the running container of a Compose project's service.
func (e *Env) service(project, service string) (*container.Meta, error) {
	all, err := e.Containers.List()
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		l := c.Config.Labels
		if l[composeProjectLabel] == project && l[composeServiceLabel] == service {
			return e.running(c.Name)
		}
	}
	return nil, fmt.Errorf("projeto %s sem o serviço %s / project %s has no service %s", project, service, project, service)
}

// countRe finds the count in the counter app's page: "...foi vista 7 vezes".
var countRe = regexp.MustCompile(`vista (\d+) vez`)

// visit loads the counter's page and returns the count it shows.
func visit(url string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, err
	}
	return parseCount(resp.StatusCode, b)
}

// parseCount reads the counter app's answer.
func parseCount(status int, body []byte) (int, error) {
	if status != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", status, firstLine(body))
	}
	m := countRe.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("página sem contagem / page without a count: %s", firstLine(body))
	}
	return strconv.Atoi(string(m[1]))
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
