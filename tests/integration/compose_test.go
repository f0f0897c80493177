//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The course's counter app and Redis images, built once for the tests that
// need them with images/build.sh, against the suite's roots.
var (
	courseImagesOnce sync.Once
	courseImagesSkip string // why the images could not be had ("": built)
	courseImagesErr  error
)

func needCourseImages(t *testing.T) {
	t.Helper()
	courseImagesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "minirun-compose-")
		if err != nil {
			courseImagesErr = err
			return
		}
		defer os.RemoveAll(dir)
		// build.sh runs "$MINIRUN" as one word: a wrapper names the roots.
		wrapper := filepath.Join(dir, "minirun")
		script := fmt.Sprintf("#!/bin/sh\nexec %q --root %q --data-root %q \"$@\"\n", binary, stateRoot, dataRoot)
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			courseImagesErr = err
			return
		}
		cmd := exec.Command("bash", repoPath("images/build.sh"), "contador", "redis")
		cmd.Env = append(os.Environ(), "MINIRUN="+wrapper)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if _, serr := os.Stat("/usr/bin/redis-server"); serr != nil {
			courseImagesSkip = "redis-server could not be installed from Debian's packages, so the redis image cannot be built: " + lastLine(string(out))
			return
		}
		courseImagesErr = fmt.Errorf("images/build.sh contador redis: %v\n%s", err, out)
	})
	if courseImagesSkip != "" {
		t.Skip(courseImagesSkip)
	}
	if courseImagesErr != nil {
		t.Fatal(courseImagesErr)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// compose runs `minirun compose ARGS` and fails the test unless it exits 0.
func compose(t *testing.T, args ...string) string {
	t.Helper()
	return ok(t, append([]string{"compose"}, args...)...)
}

// visits reads the counter app's page on the host's port 5000 and
// returns the count it shows, or -1 with the reason.
func visits() (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1:5000/")
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`seen (\d+) times`).FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		return -1, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)
	}
	var n int
	fmt.Sscan(string(m[1]), &n)
	return n, ""
}

// needPort5000 fails the test when something already answers on the
// host's port 5000: the visits would count on somebody else's counter.
func needPort5000(t *testing.T) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5000", time.Second); err == nil {
		c.Close()
		t.Fatal("something already answers on 127.0.0.1:5000 (another counter app?): stop it first")
	}
}

// wantVisits checks that the next visits count exactly from, from+1, …
// The first visit is retried until Redis accepts connections (an error
// page does not count a visit).
func wantVisits(t *testing.T, from, to int) {
	t.Helper()
	var last string
	deadline := time.Now().Add(20 * time.Second)
	n := -1
	for n < 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the counter never answered: %s", last)
		}
		n, last = visits()
		if n < 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for want := from; ; want++ {
		if n != want {
			t.Fatalf("visit answered %d, want %d", n, want)
		}
		if want == to {
			return
		}
		if n, last = visits(); n < 0 {
			t.Fatalf("visit %d: %s", want+1, last)
		}
	}
}

// projectLeftovers lists what of a Compose project still exists: its
// containers (by label), its networks, their bridges, DNS servers and
// nftables rules.
type networkFacts struct {
	id, bridge string
	dnsPid     int
}

func networkInfo(t *testing.T, name string) networkFacts {
	t.Helper()
	var out []struct {
		ID     string             `json:"Id"`
		Bridge string             `json:"Bridge"`
		DNS    *struct{ Pid int } `json:"DNS"`
	}
	if err := json.Unmarshal([]byte(ok(t, "network", "inspect", name)), &out); err != nil || len(out) != 1 {
		t.Fatalf("network inspect %s: %v", name, err)
	}
	f := networkFacts{id: out[0].ID, bridge: out[0].Bridge}
	if out[0].DNS != nil {
		f.dnsPid = out[0].DNS.Pid
	}
	return f
}

func assertProjectGone(t *testing.T, project string, nets map[string]networkFacts) {
	t.Helper()
	if out := ok(t, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, project+"-") {
		t.Errorf("containers of %s left: %q", project, out)
	}
	ls := ok(t, "network", "ls")
	rules, _ := exec.Command("nft", "list", "table", "ip", "minirun").CombinedOutput()
	for name, f := range nets {
		if strings.Contains(ls, name) {
			t.Errorf("network %s left", name)
		}
		if _, err := os.Stat("/sys/class/net/" + f.bridge); err == nil {
			t.Errorf("bridge %s of %s left", f.bridge, name)
		}
		if f.dnsPid > 0 && syscall.Kill(f.dnsPid, 0) == nil {
			if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", f.dnsPid)); strings.Contains(string(cmd), f.id) {
				t.Errorf("DNS server of %s (pid %d) still runs", name, f.dnsPid)
			}
		}
		if strings.Contains(string(rules), "minirun:"+f.id[:12]) {
			t.Errorf("nftables rules of %s left:\n%s", name, rules)
		}
	}
}

// The course's example: `compose up -d` brings up Redis and the counter on
// network contador; each visit counts; `down` keeps the count in the named
// volume, `down -v` deletes it; nothing of the project is left.
func TestComposeContador(t *testing.T) {
	needCourseImages(t)
	needPort5000(t)
	file := repoPath("examples/contador/docker-compose.yaml")
	t.Cleanup(func() { mr(t, "compose", "-f", file, "down", "-v", "-t", "2") })

	// compose build runs the Dockerfiles of images/ (cached: the same ids).
	r := mr(t, "compose", "-f", file, "build")
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "Successfully tagged minirun/redis:latest") {
		t.Fatalf("compose build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	compose(t, "-f", file, "up", "-d")
	ids := ok(t, "ps", "-q", "--filter", "name=contador-")
	for _, name := range []string{"contador-redis-1", "contador-contador-1"} {
		labels := inspect(t, name)["Config"].(map[string]interface{})["Labels"].(map[string]interface{})
		if labels["com.docker.compose.project"] != "contador" {
			t.Fatalf("%s labels %v", name, labels)
		}
	}
	nets := map[string]networkFacts{"contador_contador": networkInfo(t, "contador_contador")}
	if nets["contador_contador"].dnsPid == 0 {
		t.Fatal("the project's network has no DNS server: the counter could not find redis by name")
	}
	wantVisits(t, 1, 3)

	// The same file again: nothing to do, the containers stay.
	r = mr(t, "compose", "-f", file, "up", "-d")
	if r.code != 0 || !strings.Contains(r.stderr, "contador-redis-1  Running") {
		t.Fatalf("second up: exit %d\n%s", r.code, r.stderr)
	}
	if again := ok(t, "ps", "-q", "--filter", "name=contador-"); again != ids {
		t.Fatalf("a second up with the same file recreated containers: %q then %q", ids, again)
	}
	if out := compose(t, "-f", file, "ps"); !strings.Contains(out, "0.0.0.0:5000->5000/tcp") || !strings.Contains(out, "redis") {
		t.Fatalf("compose ps:\n%s", out)
	}
	if out := compose(t, "-f", file, "logs", "redis"); !strings.Contains(out, "contador-redis-1 | ") || !strings.Contains(out, "Ready to accept connections") {
		t.Fatalf("compose logs redis:\n%s", out)
	}

	compose(t, "-f", file, "down", "-t", "5")
	assertProjectGone(t, "contador", nets)
	if !strings.Contains(ok(t, "volume", "ls"), "contador_redis-data") {
		t.Fatal("down without -v removed the named volume")
	}

	// Redis wrote its append-only file into the volume: the count goes on.
	compose(t, "-f", file, "up", "-d")
	nets["contador_contador"] = networkInfo(t, "contador_contador")
	wantVisits(t, 4, 4)

	compose(t, "-f", file, "down", "-v", "-t", "5")
	assertProjectGone(t, "contador", nets)
	if strings.Contains(ok(t, "volume", "ls"), "contador_redis-data") {
		t.Fatal("down -v left the named volume")
	}
}

// The first slide's variant: Redis's data in ./redis-data next to the
// file, a bind mount.
func TestComposeContadorBindMount(t *testing.T) {
	needCourseImages(t)
	needPort5000(t)
	dir := filepath.Join(t.TempDir(), "contador")
	os.Mkdir(dir, 0o755)
	b, err := os.ReadFile(repoPath("examples/contador/docker-compose.bind.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "docker-compose.yaml")
	os.WriteFile(file, b, 0o644)
	t.Cleanup(func() { mr(t, "compose", "-f", file, "down", "-t", "2") })

	compose(t, "-f", file, "up", "-d")
	nets := map[string]networkFacts{"contador_contador": networkInfo(t, "contador_contador")}
	wantVisits(t, 1, 2)
	eventually(t, "Redis's append-only files in ./redis-data", 5*time.Second, func() bool {
		ents, _ := os.ReadDir(filepath.Join(dir, "redis-data", "appendonlydir"))
		return len(ents) > 0
	})
	compose(t, "-f", file, "down", "-t", "5")
	assertProjectGone(t, "contador", nets)
}

// The slide before compose, typed by hand: a network, Redis with its data
// in ./redis-data, the counter publishing port 5000.
func TestContadorByHand(t *testing.T) {
	needCourseImages(t)
	needPort5000(t)
	dir := t.TempDir()
	ok(t, "network", "create", "curso")
	t.Cleanup(func() { mr(t, "network", "rm", "curso") })
	r := mrIn(t, dir, nil, "run", "-d", "--network", "curso", "--name", "redis", "-v", "./redis-data:/data",
		"minirun/redis", "redis-server", "--appendonly", "yes", "--protected-mode", "no")
	rmAtEnd(t, "redis", "contador") // registered after the network's: runs first
	if r.code != 0 {
		t.Fatalf("run redis: %s", r.stderr)
	}
	runD(t, "contador", "--network", "curso", "-p", "5000:5000", "minirun/contador")
	wantVisits(t, 1, 3)
	if _, err := os.Stat(filepath.Join(dir, "redis-data", "appendonlydir")); err != nil {
		t.Fatalf("Redis's data is not in ./redis-data: %v", err)
	}
}

// writeCompose writes a compose.yaml into a new directory named project.
func writeCompose(t *testing.T, project, content string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), project)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// A file with a key minirun does not implement, a bad port or an image
// that is not here starts nothing, and says which service and what.
func TestComposeBadFilesStartNothing(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown key", "services:\n  web:\n    image: busybox\n    command: sleep 60\n  db:\n    image: busybox\n    deploy:\n      replicas: 2\n", `service "db": key "deploy"`},
		{"secrets", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s:\n    environment: HOME\n", `service "web": key "secrets"`},
		{"bad port", "services:\n  web:\n    image: busybox\n    command: sleep 60\n  db:\n    image: busybox\n    ports: [\"70000:80\"]\n", `service "db": ports: "70000:80": invalid hostPort: 70000`},
		{"missing image", "services:\n  web:\n    image: busybox\n    command: sleep 60\n  db:\n    image: nao-existe:1.0\n", `service "db": image "nao-existe:1.0" is not here`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeCompose(t, "ruim", tc.file)
			t.Cleanup(func() { mr(t, "compose", "-f", file, "down", "-t", "1") })
			fails(t, tc.want, "compose", "-f", file, "up", "-d")
			if out := ok(t, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "ruim-") {
				t.Fatalf("a container was started: %q", out)
			}
			if strings.Contains(ok(t, "network", "ls"), "ruim_default") {
				t.Fatal("the project's network was created")
			}
		})
	}
}

// depends_on conditions, healthchecks run by exec, service names in DNS
// on every network of a service, stop/start, and an unhealthy dependency
// that keeps its dependents from starting.
func TestComposeDependsOnHealthAndDNS(t *testing.T) {
	file := writeCompose(t, "saude", `services:
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /shared/ready; while :; do sleep 1; done"]
    volumes: [shared:/shared]
    networks: [back]
    healthcheck:
      test: ["CMD-SHELL", "test -f /shared/ready"]
      interval: 300ms
      retries: 20
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; test -f /shared/ready && echo saw-ready || echo too-early; while :; do sleep 1; done"]
    volumes: [shared:/shared]
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
    networks:
      back:
      front:
        aliases: [www]
  migrate:
    image: busybox
    command: ["sh", "-c", "echo migrated"]
    networks: [back]
  client:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    networks: [front]
networks:
  back:
  front:
volumes:
  shared:
`)
	t.Cleanup(func() { mr(t, "compose", "-f", file, "down", "-v", "-t", "1") })
	compose(t, "-f", file, "up", "-d")
	eventually(t, "web's first line", 5*time.Second, func() bool {
		return strings.Contains(compose(t, "-f", file, "logs", "web"), "saude-web-1 | ")
	})
	if out := compose(t, "-f", file, "logs", "web"); !strings.Contains(out, "saw-ready") {
		t.Fatalf("web started before db was healthy:\n%s", out)
	}
	if out := compose(t, "-f", file, "logs", "migrate"); !strings.Contains(out, "migrated") {
		t.Fatalf("migrate: %q", out)
	}
	// web is on both networks: db finds it on back, client on front by
	// its alias; client, on front only, cannot see db.
	for _, tc := range []struct{ from, name string }{{"db", "web"}, {"client", "www"}, {"client", "web"}} {
		if r := mr(t, "compose", "-f", file, "exec", "-T", tc.from, "nslookup", tc.name); r.code != 0 || !strings.Contains(r.stdout, "Address") {
			t.Fatalf("%s cannot resolve %s: %s%s", tc.from, tc.name, r.stdout, r.stderr)
		}
	}
	if r := mr(t, "compose", "-f", file, "exec", "-T", "client", "nslookup", "db"); r.code == 0 {
		t.Fatalf("client resolved db across networks:\n%s", r.stdout)
	}
	nets := map[string]networkFacts{}
	for _, n := range []string{"saude_back", "saude_front", "saude_default"} {
		if strings.Contains(ok(t, "network", "ls"), n) {
			nets[n] = networkInfo(t, n)
		}
	}
	if _, ok := nets["saude_default"]; ok {
		t.Fatal("no service uses the default network, yet it was created")
	}

	compose(t, "-f", file, "stop", "-t", "2")
	if out := compose(t, "-f", file, "ps"); strings.Contains(out, "saude-") {
		t.Fatalf("compose ps after stop:\n%s", out)
	}
	compose(t, "-f", file, "start")
	if out := compose(t, "-f", file, "ps"); !strings.Contains(out, "saude-web-1") || !strings.Contains(out, "saude-db-1") {
		t.Fatalf("compose ps after start:\n%s", out)
	}
	compose(t, "-f", file, "down", "-v", "-t", "2")
	assertProjectGone(t, "saude", nets)

	// A dependency that never gets healthy: up fails, naming it, and
	// what depends on it never starts.
	sick := writeCompose(t, "doente", `services:
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 200ms
      retries: 2
  web:
    image: busybox
    command: ["sleep", "60"]
    depends_on:
      db:
        condition: service_healthy
`)
	t.Cleanup(func() { mr(t, "compose", "-f", sick, "down", "-t", "1") })
	r := mr(t, "compose", "-f", sick, "up", "-d")
	// Compose's progress lines come first on stderr; the error is the last.
	if errLine := lastLine(r.stderr); r.code == 0 || !strings.Contains(errLine, "container doente-db-1 is unhealthy after 2 failed checks") {
		t.Fatalf("up with an unhealthy dependency: exit %d\n%s", r.code, r.stderr)
	}
	if out := ok(t, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "doente-") {
		t.Fatalf("a failed up left containers: %q", out)
	}
}
