//go:build integration

package integration

// `minirun daemon` driven by the real docker client (Debian's docker.io,
// installed by scripts/setup.sh for its client only: its dockerd is never
// started). Each test starts a daemon of its own on a socket in a temp
// dir, over the suite's roots, and removes what it made.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonUnderTest is one `minirun daemon` and the environment that points
// the docker client at it.
type daemonUnderTest struct {
	sock string
	env  []string
	log  string
	cmd  *exec.Cmd
}

// dockerClient is Debian's docker.io client (20.10, API 1.41), the one
// scripts/setup.sh installs and the oldest the daemon serves, when it is
// there; else whatever `docker` PATH finds.
func dockerClient() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	p, _ := exec.LookPath("docker")
	return p
}

func startDaemon(t *testing.T) *daemonUnderTest {
	t.Helper()
	return startDaemonAt(t, nil, stateRoot, dataRoot)
}

// startDaemonAt starts a daemon on a socket of the test's own over the
// given roots, its command line after wrap (e.g. nsenter into another
// network namespace), with extra flags after `daemon`.
func startDaemonAt(t *testing.T, wrap []string, root, data string, extra ...string) *daemonUnderTest {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	d := &daemonUnderTest{sock: sock, env: dockerEnv(t, "DOCKER_HOST=unix://"+sock)}
	// Registered first, so it runs last: after the daemon has stopped.
	t.Cleanup(func() {
		if _, err := os.Lstat(d.sock); err == nil {
			t.Errorf("the daemon left its socket %s behind", d.sock)
		}
	})
	d.cmd, d.log = startDaemonWith(t, d.up, wrap, root, data, append([]string{"-H", "unix://" + d.sock}, extra...)...)
	return d
}

// up reports whether a daemon answers on the socket.
func (d *daemonUnderTest) up() bool {
	c, err := net.Dial("unix", d.sock)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// docker runs the docker client against the daemon.
func (d *daemonUnderTest) docker(t *testing.T, args ...string) result {
	t.Helper()
	return d.dockerIn(t, "", args...)
}

// dockerIn runs the docker client with stdin.
func (d *daemonUnderTest) dockerIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	// A client that hangs is killed (SIGKILL: on SIGTERM `docker run`
	// only passes the signal on to the container) and the test fails.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerClient(), args...)
	cmd.Env = d.env
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return r
}

// dockerOK runs the docker client and fails the test unless it exits 0.
func (d *daemonUnderTest) dockerOK(t *testing.T, args ...string) string {
	t.Helper()
	r := d.docker(t, args...)
	if r.code != 0 {
		t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// curl sends one request with curl over the socket and returns the status
// and the body.
func (d *daemonUnderTest) curl(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "30", "--unix-socket", d.sock, "-o", "-", "-w", "\n%{http_code}"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(s, '\n')
	return s[i+1:], s[:max(i, 0)]
}

func TestDaemonVersionInfo(t *testing.T) {
	d := startDaemon(t)
	// The socket is dockerd's: 0660, group docker when there is one (its
	// members are root-equivalent, docs/daemon.md), else root's.
	fi, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	wantGid := uint32(0)
	if g, err := user.LookupGroup("docker"); err == nil {
		n, _ := strconv.Atoi(g.Gid)
		wantGid = uint32(n)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 || st.Uid != 0 || st.Gid != wantGid {
		t.Fatalf("socket %s: mode %v, owner %d:%d; want a socket 0660 root:%d", d.sock, fi.Mode(), st.Uid, st.Gid, wantGid)
	}
	if v := strings.TrimSpace(d.dockerOK(t, "version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}")); v != "1.57 1.41 linux" {
		t.Fatalf("docker version: server %q, want API 1.57, min 1.41, linux", v)
	}
	info := strings.TrimSpace(d.dockerOK(t, "info", "--format", "{{.ServerVersion}} {{.Driver}} {{.DockerRootDir}} {{.OSType}}"))
	if want := " overlay2 " + dataRoot + " linux"; !strings.HasSuffix(info, want) {
		t.Fatalf("docker info: %q, want it to end with %q", info, want)
	}
	// The client's first request, by hand: HEAD and GET, with the header
	// it negotiates the version from.
	out, err := exec.Command("curl", "-sS", "-I", "--unix-socket", d.sock, "http://docker/_ping").Output()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), "api-version: 1.57") {
		t.Fatalf("HEAD /_ping: %v %s", err, out)
	}
	if code, body := d.curl(t, "http://docker/v1.41/_ping"); code != "200" || body != "OK" {
		t.Fatalf("GET /v1.41/_ping: %s %q", code, body)
	}
	if code, body := d.curl(t, "http://docker/v1.40/version"); code != "400" || !strings.Contains(body, "too old") {
		t.Fatalf("GET /v1.40/version: %s %s, want 400 (older than 1.41)", code, body)
	}
}

func TestDaemonRunRm(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "drm1", "drm2")
	r := d.docker(t, "run", "--rm", "--name", "drm1", "busybox", "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("docker run --rm busybox echo hi: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The exit code and stderr come through, each on its stream.
	r = d.docker(t, "run", "--rm", "--name", "drm2", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("docker run --rm … exit 3: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// --rm: nothing is left of either, by the daemon's or the CLI's account.
	if out := d.dockerOK(t, "ps", "-a", "-q", "--filter", "name=drm"); out != "" {
		t.Fatalf("docker ps -a after run --rm: %q", out)
	}
	if out := ok(t, "ps", "-a", "-q", "--filter", "name=drm"); out != "" {
		t.Fatalf("minirun ps -a after docker run --rm: %q", out)
	}
}

// The attach stream both ways: stdin to the container, then its end (the
// client's half-close closes the container's stdin); a terminal's raw
// output; exit codes read by wait, after a run, a kill.
func TestDaemonRunStreams(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dsi", "dst", "dsw", "dsk")
	if r := d.dockerIn(t, "hello\nworld\n", "run", "--rm", "-i", "--name", "dsi", "busybox", "cat"); r.code != 0 || r.stdout != "hello\nworld\n" {
		t.Fatalf("docker run -i … cat: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := d.docker(t, "run", "--rm", "-t", "--name", "dst", "busybox", "echo", "hi"); r.code != 0 || r.stdout != "hi\r\n" {
		t.Fatalf("docker run -t … echo hi: exit %d, stdout %q (want the tty's hi\\r\\n), stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := d.docker(t, "run", "--name", "dsw", "busybox", "sh", "-c", "exit 5"); r.code != 5 {
		t.Fatalf("docker run … exit 5: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := strings.TrimSpace(d.dockerOK(t, "wait", "dsw")); out != "5" {
		t.Fatalf("docker wait dsw: %q, want 5", out)
	}
	d.dockerOK(t, "run", "-d", "--name", "dsk", "busybox", "sleep", "100")
	d.dockerOK(t, "kill", "dsk")
	if out := strings.TrimSpace(d.dockerOK(t, "wait", "dsk")); out != "137" {
		t.Fatalf("docker wait dsk after kill: %q, want 137", out)
	}
	d.dockerOK(t, "rm", "dsw", "dsk")
	if out := ok(t, "ps", "-a", "-q", "--filter", "name=ds"); out != "" {
		t.Fatalf("containers left: %q", out)
	}
}

func TestDaemonDetached(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dx")
	id := strings.TrimSpace(d.dockerOK(t, "run", "-d", "--name", "dx", "busybox", "sh", "-c", "echo hello; echo oops >&2; exec sleep 100"))
	if len(id) != 64 {
		t.Fatalf("docker run -d: %q, want a 64-digit id", id)
	}
	ps := d.dockerOK(t, "ps", "--format", "{{.Names}} {{.Status}}")
	if !strings.Contains(ps, "dx Up ") {
		t.Fatalf("docker ps: %q, want dx Up …", ps)
	}
	// The log is written by the shim: wait for the two lines.
	var r result
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = d.docker(t, "logs", "dx"); r.stdout == "hello\n" && r.stderr == "oops\n" {
			break
		}
	}
	if r.code != 0 || r.stdout != "hello\n" || r.stderr != "oops\n" {
		t.Fatalf("docker logs dx: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var insp []struct {
		ID          string `json:"Id"`
		State       struct{ Status string }
		GraphDriver struct {
			Name string
			Data map[string]string
		}
	}
	if err := json.Unmarshal([]byte(d.dockerOK(t, "inspect", "dx")), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("docker inspect dx: %v", err)
	}
	g := insp[0].GraphDriver
	if insp[0].ID != id || insp[0].State.Status != "running" || g.Name != "overlay2" {
		t.Fatalf("docker inspect dx: %+v", insp[0])
	}
	for _, k := range []string{"LowerDir", "UpperDir", "WorkDir", "MergedDir"} {
		if g.Data[k] == "" {
			t.Fatalf("docker inspect dx: GraphDriver.Data has no %s: %v", k, g.Data)
		}
	}
	if _, err := os.Stat(filepath.Join(g.Data["MergedDir"], "bin", "busybox")); err != nil {
		t.Fatalf("MergedDir %s is not the container's root: %v", g.Data["MergedDir"], err)
	}
	if out := strings.TrimSpace(d.dockerOK(t, "stop", "-t", "1", "dx")); out != "dx" {
		t.Fatalf("docker stop dx: %q", out)
	}
	if st := strings.TrimSpace(d.dockerOK(t, "ps", "-a", "--filter", "name=dx", "--format", "{{.State}}")); st != "exited" {
		t.Fatalf("after docker stop: state %q, want exited", st)
	}
	if st := strings.TrimSpace(d.dockerOK(t, "ps", "-q", "--filter", "name=dx")); st != "" {
		t.Fatalf("docker ps (running only) after stop: %q", st)
	}
	d.dockerOK(t, "rm", "dx")
	if r := d.docker(t, "inspect", "dx"); r.code == 0 || !strings.Contains(r.stderr, "No such") {
		t.Fatalf("docker inspect after rm: exit %d, %q", r.code, r.stderr)
	}
}

func TestDaemonImagesNetworksVolumes(t *testing.T) {
	d := startDaemon(t)
	if out := d.dockerOK(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "busybox:latest") {
		t.Fatalf("docker images: %q", out)
	}
	if out := d.dockerOK(t, "image", "inspect", "-f", "{{.Os}} {{len .RootFS.Layers}}", "busybox"); strings.TrimSpace(out) != "linux 1" {
		t.Fatalf("docker image inspect busybox: %q", out)
	}
	// Before API 1.44 an image also had VirtualSize (docker 20.10's SIZE
	// column); from 1.44 on it is gone.
	if code, body := d.curl(t, "http://docker/v1.41/images/json"); code != "200" || !strings.Contains(body, `"VirtualSize":`) {
		t.Fatalf("GET /v1.41/images/json: %s %s, want VirtualSize", code, body)
	}
	if code, body := d.curl(t, "http://docker/v1.44/images/busybox/json"); code != "200" || strings.Contains(body, "VirtualSize") {
		t.Fatalf("GET /v1.44/images/busybox/json: %s %s, want no VirtualSize", code, body)
	}
	t.Cleanup(func() { mr(t, "network", "rm", "dnet") })
	d.dockerOK(t, "network", "create", "--subnet", "10.79.7.0/24", "dnet")
	if out := d.dockerOK(t, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "dnet bridge") {
		t.Fatalf("docker network ls: %q", out)
	}
	if out := d.dockerOK(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "dnet"); strings.TrimSpace(out) != "10.79.7.0/24" {
		t.Fatalf("docker network inspect dnet: %q", out)
	}
	if r := d.docker(t, "network", "create", "dnet"); r.code == 0 {
		t.Fatal("docker network create of an existing name succeeded")
	}
	d.dockerOK(t, "network", "rm", "dnet")
	if out := d.dockerOK(t, "network", "ls", "-q", "--filter", "name=dnet"); strings.Contains(ok(t, "network", "ls"), "dnet") {
		t.Fatalf("network dnet still listed after docker network rm: %q", out)
	}
	t.Cleanup(func() { mr(t, "volume", "rm", "dvol") })
	d.dockerOK(t, "volume", "create", "dvol")
	if out := d.dockerOK(t, "volume", "ls", "--format", "{{.Driver}} {{.Name}}"); !strings.Contains(out, "local dvol") {
		t.Fatalf("docker volume ls: %q", out)
	}
	if out := d.dockerOK(t, "volume", "inspect", "-f", "{{.Mountpoint}}", "dvol"); !strings.HasPrefix(out, dataRoot) {
		t.Fatalf("docker volume inspect dvol: %q", out)
	}
	d.dockerOK(t, "volume", "rm", "dvol")
	if strings.Contains(ok(t, "volume", "ls"), "dvol") {
		t.Fatal("volume dvol still listed after docker volume rm")
	}
}

func TestDaemonBadRequests(t *testing.T) {
	d := startDaemon(t)
	before := ok(t, "ps", "-a", "-q")
	checkErr := func(what, code, body, wantCode string) {
		t.Helper()
		var e struct {
			Message string `json:"message"`
		}
		if code != wantCode || json.Unmarshal([]byte(body), &e) != nil || e.Message == "" {
			t.Fatalf("%s: %s %q, want %s with Docker's {\"message\": …}", what, code, body, wantCode)
		}
	}
	code, body := d.curl(t, "-X", "POST", "-H", "Content-Type: application/json", "--data", `{"Image": "busybox", "Cmd": [`, "http://docker/v1.41/containers/create")
	checkErr("malformed JSON", code, body, "400")
	code, body = d.curl(t, "-X", "POST", "-H", "Content-Type: application/json", "--data", `{} {}`, "http://docker/v1.41/containers/create")
	checkErr("two JSON values", code, body, "400")
	code, body = d.curl(t, "http://docker/v1.41/no/such/endpoint")
	checkErr("unknown endpoint", code, body, "404")
	code, body = d.curl(t, "http://docker/v1.41/containers/nosuchcontainer/json")
	checkErr("unknown container", code, body, "404")
	big := filepath.Join(t.TempDir(), "big.json")
	os.WriteFile(big, append(append([]byte(`{"Image": "busybox", "Labels": {"x": "`), bytes.Repeat([]byte("a"), 10<<20)...), `"}}`...), 0o600)
	code, body = d.curl(t, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@"+big, "http://docker/v1.41/containers/create")
	checkErr("a 10 MB body", code, body, "413")
	// Nothing was made, and the daemon still answers.
	if after := ok(t, "ps", "-a", "-q"); after != before {
		t.Fatalf("bad requests changed the containers: %q -> %q", before, after)
	}
	d.dockerOK(t, "version")
}
