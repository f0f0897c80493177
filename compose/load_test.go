package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// courseFile is the compose file of the course's slide, as written there.
const courseFile = `version: '3'
services:
  contador:
    image: "fams/contador:latest"
    ports:
     - "5000:5000"
    networks:
      - contador

  redis:
    image: "redis:latest"
    command: ["redis-server", "--appendonly", "yes"]
    volumes:
      - ./redis-data:/data
    networks:
      - contador

networks:
  contador:
`

// writeProject writes files into a new directory named dir (the project
// name comes from it) and returns the directory.
func writeProject(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func load(t *testing.T, dir string, env ...string) (*Project, error) {
	t.Helper()
	return Load(context.Background(), Options{WorkingDir: dir, Env: env})
}

func TestLoadCourseFile(t *testing.T) {
	dir := writeProject(t, "Contador", map[string]string{"docker-compose.yaml": courseFile})
	p, err := load(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "contador" {
		t.Errorf("project name %q, want the directory's, lower-cased: contador", p.Name)
	}
	if got := p.ContainerName("redis", 1); got != "contador-redis-1" {
		t.Errorf("container name %q", got)
	}
	if got := p.NetworkName("contador"); got != "contador_contador" {
		t.Errorf("network name %q", got)
	}
	o, err := p.RunOpts("redis")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Cmd, " ") != "redis-server --appendonly yes" || o.Image != "redis:latest" {
		t.Errorf("redis: cmd %q image %q", o.Cmd, o.Image)
	}
	if want := filepath.Join(dir, "redis-data") + ":/data"; len(o.Volumes) != 1 || o.Volumes[0] != want {
		t.Errorf("redis volumes %q, want %q", o.Volumes, want)
	}
	if o.Net.Network != "contador_contador" || strings.Join(o.Net.Aliases, ",") != "redis" {
		t.Errorf("redis network %+v", o.Net)
	}
	if o.Labels[LabelProject] != "contador" || o.Labels[LabelService] != "redis" || o.Labels[LabelNumber] != "1" {
		t.Errorf("labels %v", o.Labels)
	}
	c, err := p.RunOpts("contador")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Net.Ports) != 1 || c.Net.Ports[0].String() != "0.0.0.0:5000->5000/tcp" {
		t.Errorf("contador ports %v", c.Net.Ports)
	}
}

func TestLoadRefusesUnsupportedKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"deploy", "services:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n", `service "web": key "deploy"`},
		{"secrets", "services:\n  web:\n    image: busybox\nsecrets:\n  s:\n    file: ./s.txt\n", `top-level key "secrets"`},
		{"configs", "services:\n  web:\n    image: busybox\nconfigs:\n  c:\n    file: ./c.txt\n", `top-level key "configs"`},
		{"service secrets", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s:\n    file: ./s.txt\n", `service "web": key "secrets"`},
		{"extends", "services:\n  base:\n    image: busybox\n  web:\n    extends: base\n", `service "web": key "extends"`},
		{"profiles", "services:\n  web:\n    image: busybox\n    profiles: [debug]\n", `service "web": key "profiles"`},
		{"privileged", "services:\n  web:\n    image: busybox\n    privileged: true\n", `service "web": key "privileged"`},
		{"port name", "services:\n  web:\n    image: busybox\n    ports:\n      - target: 80\n        name: http\n", `service "web": key "ports.name"`},
		{"network labels", "services:\n  web:\n    image: busybox\nnetworks:\n  n:\n    attachable: true\n", `network "n": key "attachable"`},
		{"include", "include:\n  - other.yaml\nservices:\n  web:\n    image: busybox\n", `top-level key "include"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, "p", map[string]string{"compose.yaml": tc.file, "s.txt": "x", "c.txt": "x", "other.yaml": "services:\n  o:\n    image: busybox\n"})
			_, err := load(t, dir)
			if err == nil {
				t.Fatalf("loaded; want an error naming %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %s", err, tc.want)
			}
		})
	}
}

func TestLoadAcceptsSupportedShapes(t *testing.T) {
	file := `services:
  web:
    build:
      context: ./web
      args:
        V: "1"
    command: sh -c 'echo $$HOME'
    entrypoint: ["/bin/sh"]
    environment:
      - A=1
      - B=${B_FROM_ENV}
    env_file: [app.env]
    working_dir: /tmp
    user: nobody
    hostname: h
    labels:
      x: y
    restart: on-failure:3
    ports:
      - "127.0.0.1:8080:80/tcp"
      - target: 81
        published: "8081"
    volumes:
      - data:/data:ro
      - type: bind
        source: ./conf
        target: /conf
      - /anon
    networks:
      front:
        aliases: [www]
      default:
    depends_on:
      db:
        condition: service_healthy
  db:
    image: busybox
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
      timeout: 1s
      retries: 5
      start_period: 1s
networks:
  front:
    driver: bridge
    ipam:
      config:
        - subnet: 10.99.0.0/24
volumes:
  data:
`
	dir := writeProject(t, "p", map[string]string{"compose.yaml": file, "app.env": "C=3\n", ".env": "B_FROM_ENV=from-dotenv\n"})
	p, err := load(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	o, err := p.RunOpts("web")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.Env, " "); got != "A=1 B=from-dotenv C=3" {
		t.Errorf("env %q", got)
	}
	if o.Entrypoint == nil || *o.Entrypoint != "/bin/sh" || strings.Join(o.Cmd, "|") != "sh|-c|echo $HOME" {
		t.Errorf("entrypoint %v cmd %q", o.Entrypoint, o.Cmd)
	}
	if want := []string{"p_data:/data:ro", filepath.Join(dir, "conf") + ":/conf", "/anon"}; strings.Join(o.Volumes, " ") != strings.Join(want, " ") {
		t.Errorf("volumes %q, want %q", o.Volumes, want)
	}
	if nets := p.ServiceNetworks("web"); strings.Join(nets, " ") != "p_default p_front" {
		t.Errorf("networks %q", nets)
	}
	if o.Hostname != "h" || o.Workdir != "/tmp" || o.User != "nobody" || o.Labels["x"] != "y" || o.Labels[LabelProject] != "p" {
		t.Errorf("hostname %q workdir %q user %q labels %v", o.Hostname, o.Workdir, o.User, o.Labels)
	}
	if o.Net.Network != "p_default" || strings.Join(p.Aliases("web", "front"), ",") != "web,www" {
		t.Errorf("first network %q, aliases on front %q", o.Net.Network, p.Aliases("web", "front"))
	}
	if o.Restart.Name != "on-failure" || o.Restart.MaximumRetryCount != 3 {
		t.Errorf("restart %+v", o.Restart)
	}
	if len(o.Net.Ports) != 2 || o.Net.Ports[0].String() != "127.0.0.1:8080->80/tcp" || o.Net.Ports[1].String() != "0.0.0.0:8081->81/tcp" {
		t.Errorf("ports %v", o.Net.Ports)
	}
	if got := strings.Join(p.StartOrder(), " "); got != "db web" {
		t.Errorf("start order %q", got)
	}
	if p.ImageName("web") != "p-web" {
		t.Errorf("image of a build-only service: %q", p.ImageName("web"))
	}
}
