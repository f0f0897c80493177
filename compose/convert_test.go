package compose

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestStartOrder(t *testing.T) {
	dependsOn := func(deps ...string) types.ServiceConfig {
		var s types.ServiceConfig
		s.DependsOn = types.DependsOnConfig{}
		for _, d := range deps {
			s.DependsOn[d] = types.ServiceDependency{}
		}
		return s
	}
	svcs := types.Services{
		"web":   dependsOn("db", "cache"),
		"db":    dependsOn(),
		"cache": dependsOn("db"),
		"admin": dependsOn(),
	}
	order, err := startOrder(svcs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, " "); got != "admin db cache web" {
		t.Fatalf("order %q, want dependencies first, ties by name", got)
	}
	svcs["db"] = dependsOn("web")
	if _, err := startOrder(svcs); err == nil || !strings.Contains(err.Error(), "cache, db, web") {
		t.Fatalf("a cycle gave %v", err)
	}
}

func TestPublishSpec(t *testing.T) {
	for _, tc := range []struct {
		in   types.ServicePortConfig
		want string
	}{
		{types.ServicePortConfig{Target: 5000, Published: "5000", Protocol: "tcp"}, "5000:5000/tcp"},
		{types.ServicePortConfig{Target: 80, Protocol: "udp"}, "80/udp"},
		{types.ServicePortConfig{Target: 80, Published: "8080", HostIP: "127.0.0.1"}, "127.0.0.1:8080:80"},
		{types.ServicePortConfig{Target: 80, HostIP: "127.0.0.1"}, "127.0.0.1::80"},
	} {
		if got := publishSpec(tc.in); got != tc.want {
			t.Errorf("publishSpec(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHealthCommand(t *testing.T) {
	for _, tc := range []struct {
		test []string
		want string
		bad  bool
	}{
		{[]string{"CMD", "redis-cli", "ping"}, "redis-cli ping", false},
		{[]string{"CMD-SHELL", "test -f /tmp/ok"}, "/bin/sh -c test -f /tmp/ok", false},
		{[]string{"NONE"}, "", false},
		{[]string{"CMD"}, "", true},
		{[]string{"SHELL", "x"}, "", true},
		{nil, "", true},
	} {
		got, err := healthCommand(tc.test)
		if (err != nil) != tc.bad || strings.Join(got, " ") != tc.want {
			t.Errorf("healthCommand(%q) = %q, %v", tc.test, got, err)
		}
	}
}

func TestDescribePath(t *testing.T) {
	for in, want := range map[string]string{
		"services.web.deploy":        `service "web": key "deploy"`,
		"services.web.ports.[].name": `service "web": key "ports.name"`,
		"networks.front.attachable":  `network "front": key "attachable"`,
		"secrets":                    `top-level key "secrets"`,
		"volumes.data.labels":        `volume "data": key "labels"`,
	} {
		if got := describePath(in); got != want {
			t.Errorf("describePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The config hash decides between "leave it running" and "recreate it":
// the same file gives the same hash, any change a different one.
func TestConfigHashFollowsTheFile(t *testing.T) {
	hash := func(file string) string {
		dir := writeProject(t, "p", map[string]string{"compose.yaml": file})
		p, err := load(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		o, err := p.RunOpts("web")
		if err != nil {
			t.Fatal(err)
		}
		return o.Labels[LabelConfigHash]
	}
	base := "services:\n  web:\n    image: busybox\n    environment: {A: '1', B: '2'}\n"
	same := "services:\n  web:\n    environment:\n      - B=2\n      - A=1\n    image: busybox\n"
	changed := "services:\n  web:\n    image: busybox\n    environment: {A: '1', B: '3'}\n"
	if hash(base) != hash(same) {
		t.Error("the same configuration written differently changed the hash")
	}
	if hash(base) == hash(changed) {
		t.Error("a changed environment kept the hash")
	}
}

func TestLoadErrorsNameTheService(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"services:\n  web:\n    image: busybox\n    ports: [\"99999:80\"]\n", `service "web": ports: "99999:80": invalid hostPort: 99999`},
		{"services:\n  web:\n    image: busybox\n    ports: [\"80/sctp\"]\n", `service "web": ports: invalid publish spec "80/sctp": sctp is not supported`},
		{"services:\n  web:\n    image: busybox\n    colour: blue\n", `service "web": key "colour" is not a key of the Compose Specification`},
		{"services:\n  web:\n    image: busybox\n    restart: sometimes\n", `service "web": restart`},
		{"services:\n  web:\n    build: .\n    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: busybox\n", `"db" has no healthcheck`},
		{"services:\n  web:\n    image: busybox\n    volumes: [\"missing:/data\"]\n", `service "web" refers to undefined volume missing`},
	} {
		dir := writeProject(t, "p", map[string]string{"compose.yaml": tc.file})
		_, err := load(t, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("file:\n%s\nerror %v, want one line containing %s", tc.file, err, tc.want)
		}
	}
}
