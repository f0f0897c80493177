//go:build integration

package integration

// docker cp (the archive endpoints), docker export, the prunes and the
// terminal resize, driven by the real docker client against `minirun
// daemon`; and `minirun cp`, the CLI over the same use cases.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostPasswd is the host's /etc/passwd: what a copy through a symlink to
// /etc/passwd must never give.
func hostPasswd(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cpChecks copies both ways with container dcp (running or stopped) and
// checks what lands where. cat reads a file of the container; victim is
// the host directory the container's /hostlink names.
func cpChecks(t *testing.T, d *daemonUnderTest, tag, victim string, cat func(path string) string) {
	t.Helper()
	host := t.TempDir()
	in := filepath.Join(host, "in-"+tag)
	if err := os.WriteFile(in, []byte("from the host "+tag+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	// Host → container, into an existing directory, and under a new name.
	d.dockerOK(t, "cp", in, "dcp:/tmp/")
	d.dockerOK(t, "cp", in, "dcp:/tmp/renamed-"+tag)
	// A directory, recursively.
	sub := filepath.Join(host, "dir-"+tag)
	os.MkdirAll(filepath.Join(sub, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(sub, "a", "b", "deep"), []byte("deep "+tag+"\n"), 0o644)
	d.dockerOK(t, "cp", sub, "dcp:/tmp/")
	// ".." in the destination stays inside the container: its /tmp, not
	// the host's.
	dotdot := "dotdot-" + tag + "-" + filepath.Base(host)
	d.dockerOK(t, "cp", in, "dcp:/../../../../../tmp/"+dotdot)
	if _, err := os.Lstat("/tmp/" + dotdot); !errors.Is(err, os.ErrNotExist) {
		os.Remove("/tmp/" + dotdot)
		t.Fatalf("docker cp into /../../../../../tmp wrote the host's /tmp: %v", err)
	}
	// A destination that is a symlink, in the container, to a host
	// directory (absolute): it means that path inside the container,
	// which does not exist; the host directory stays empty.
	if r := d.docker(t, "cp", in, "dcp:/hostlink/"); r.code == 0 {
		t.Logf("docker cp into a link to %s: exit 0 (%s)", victim, r.stderr)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatalf("docker cp through a container symlink wrote the host directory %s: %v", victim, ents)
	}

	// Container → host.
	out := t.TempDir()
	d.dockerOK(t, "cp", "dcp:/etc/cpmark", out)
	if got := readFile(t, filepath.Join(out, "cpmark")); got != "container mark\n" {
		t.Fatalf("docker cp dcp:/etc/cpmark: %q", got)
	}
	d.dockerOK(t, "cp", "dcp:/tmp/dir-"+tag, filepath.Join(out, "tree"))
	if got := readFile(t, filepath.Join(out, "tree", "a", "b", "deep")); got != "deep "+tag+"\n" {
		t.Fatalf("docker cp of a directory back: %q", got)
	}
	// A symlink to /etc/passwd, followed (-L), and a path through a
	// relative symlink that climbs far above the root: the container's
	// passwd both times, never the host's.
	d.dockerOK(t, "cp", "-L", "dcp:/lnk", filepath.Join(out, "viaL"))
	d.dockerOK(t, "cp", "dcp:/dlnk/passwd", filepath.Join(out, "viaDir"))
	d.dockerOK(t, "cp", "dcp:/etcl/passwd", filepath.Join(out, "viaAbs"))
	want := cat("/etc/passwd")
	for _, f := range []string{"viaL", "viaDir", "viaAbs"} {
		got := readFile(t, filepath.Join(out, f))
		if got == hostPasswd(t) || got != want {
			t.Fatalf("docker cp %s gave %q, want the container's passwd %q", f, got, want)
		}
	}
	// A tar on stdout.
	r := d.docker(t, "cp", "dcp:/etc/cpmark", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "container mark") {
		t.Fatalf("docker cp dcp:/etc/cpmark -: exit %d %q", r.code, r.stderr)
	}
	// What went in is there, as the container sees it.
	for p, w := range map[string]string{
		"/tmp/in-" + tag:                "from the host " + tag + "\n",
		"/tmp/renamed-" + tag:           "from the host " + tag + "\n",
		"/tmp/dir-" + tag + "/a/b/deep": "deep " + tag + "\n",
		"/tmp/" + dotdot:                "from the host " + tag + "\n",
	} {
		if got := cat(p); got != w {
			t.Fatalf("after docker cp, %s in the container: %q, want %q", p, got, w)
		}
	}
	// A missing source is a 404, which the client words as "No such
	// container:path".
	if r := d.docker(t, "cp", "dcp:/nonexistent", out); r.code == 0 || !strings.Contains(r.stderr, "No such container:path") {
		t.Fatalf("docker cp of a missing path: exit %d, %q", r.code, r.stderr)
	}
}

func TestDaemonCp(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dcp")
	vol := t.TempDir()
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "dcp", "-v", vol+":/data", "busybox", "sleep", "300")
	victim := t.TempDir() // named in the container's symlink below
	d.dockerOK(t, "exec", "dcp", "sh", "-c",
		"echo container mark > /etc/cpmark; ln -s /etc/passwd /lnk; ln -s ../../../../../../../etc /dlnk; ln -s /etc /etcl; ln -s "+victim+" /hostlink")
	running := func(p string) string { return d.docker(t, "exec", "dcp", "cat", p).stdout }
	cpChecks(t, d, "running", victim, running)

	// A running container's volume is part of its tree.
	in := filepath.Join(t.TempDir(), "tovol")
	os.WriteFile(in, []byte("vol\n"), 0o644)
	d.dockerOK(t, "cp", in, "dcp:/data/")
	if got := readFile(t, filepath.Join(vol, "tovol")); got != "vol\n" {
		t.Fatalf("docker cp into the container's volume: host side has %q", got)
	}

	// Stopped: the rootfs is mounted for the copy and unmounted after.
	var insp []struct {
		GraphDriver struct{ Data map[string]string }
	}
	json.Unmarshal([]byte(d.dockerOK(t, "inspect", "dcp")), &insp)
	merged := insp[0].GraphDriver.Data["MergedDir"]
	d.dockerOK(t, "stop", "-t", "1", "dcp")
	if mountedAt(t, merged) {
		t.Fatalf("the stopped container's rootfs is still mounted at %s", merged)
	}
	stopped := func(p string) string {
		r := d.docker(t, "cp", "dcp:"+p, "-")
		tr := tar.NewReader(strings.NewReader(r.stdout))
		if _, err := tr.Next(); err != nil {
			return ""
		}
		b, _ := io.ReadAll(tr)
		return string(b)
	}
	cpChecks(t, d, "stopped", victim, stopped)
	// A stopped container's volume is its own directory, not the empty
	// mount point in the rootfs (which the running container would hide).
	os.WriteFile(in, []byte("vol stopped\n"), 0o644)
	d.dockerOK(t, "cp", in, "dcp:/data/stopvol")
	if got := readFile(t, filepath.Join(vol, "stopvol")); got != "vol stopped\n" {
		t.Fatalf("docker cp into a stopped container's volume: host side has %q", got)
	}
	if got := stopped("/data/tovol"); got != "vol\n" {
		t.Fatalf("docker cp out of a stopped container's volume: %q", got)
	}
	if mountedAt(t, merged) {
		t.Fatalf("docker cp left the stopped container's rootfs mounted at %s", merged)
	}
	// What was copied into the stopped container is there once it runs.
	d.dockerOK(t, "start", "dcp")
	if got := running("/tmp/in-stopped"); got != "from the host stopped\n" {
		t.Fatalf("after start, the file copied in while stopped: %q", got)
	}
	d.dockerOK(t, "rm", "-f", "dcp")
}

// TestDaemonArchiveAPI: the raw endpoints, with docker's header and errors.
func TestDaemonArchiveAPI(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "darc")
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "darc", "busybox", "sleep", "300")
	d.dockerOK(t, "exec", "darc", "sh", "-c", "ln -s /etc/passwd /lnk")
	out, err := exec.Command("curl", "-sS", "-I", "--unix-socket", d.sock, "http://d/v1.41/containers/darc/archive?path=/lnk").Output()
	if err != nil {
		t.Fatal(err)
	}
	var stat struct {
		Name       string `json:"name"`
		Mode       uint32 `json:"mode"`
		LinkTarget string `json:"linkTarget"`
	}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "X-Docker-Container-Path-Stat") {
			b, err := decodeB64(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(b, &stat)
		}
	}
	if stat.Name != "lnk" || stat.LinkTarget != "/etc/passwd" || stat.Mode&(1<<27) == 0 {
		t.Fatalf("HEAD archive /lnk: %+v (headers %s)", stat, out)
	}
	// A tar whose entry climbs out of the destination is refused, and
	// nothing of it lands.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "ok", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("ok"))
	tw.WriteHeader(&tar.Header{Name: "../../../../escaped", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("no"))
	tw.Close()
	body := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(body, b.Bytes(), 0o644)
	code, msg := d.curl(t, "-X", "PUT", "-T", body, "http://d/v1.41/containers/darc/archive?path=/tmp")
	if code != "400" || !strings.Contains(msg, "escapes") {
		t.Fatalf("PUT a tar with ../: %s %s", code, msg)
	}
	if r := d.docker(t, "exec", "darc", "ls", "/tmp/ok", "/escaped"); r.code == 0 {
		t.Fatalf("a refused archive left files: %q", r.stdout)
	}
	// Into a file: 400, docker's words.
	if code, msg := d.curl(t, "-X", "PUT", "-T", body, "http://d/v1.41/containers/darc/archive?path=/etc/passwd"); code != "400" || !strings.Contains(msg, "not a directory") {
		t.Fatalf("PUT into a file: %s %s", code, msg)
	}
	if code, _ := d.curl(t, "-I", "http://d/v1.41/containers/darc/archive?path=/nope"); code != "404" {
		t.Fatalf("HEAD of a missing path: %s", code)
	}
	// A tar larger than the JSON bound (1 MiB) goes in whole.
	big := bytes.Repeat([]byte("x"), 3<<20)
	b.Reset()
	tw = tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: int64(len(big)), Typeflag: tar.TypeReg})
	tw.Write(big)
	tw.Close()
	os.WriteFile(body, b.Bytes(), 0o644)
	if code, msg := d.curl(t, "-X", "PUT", "-T", body, "http://d/v1.41/containers/darc/archive?path=/tmp"); code != "200" {
		t.Fatalf("PUT a 3 MiB tar: %s %s", code, msg)
	}
	if got := strings.TrimSpace(d.dockerOK(t, "exec", "darc", "wc", "-c", "/tmp/big")); !strings.HasPrefix(got, "3145728") {
		t.Fatalf("the 3 MiB file in the container: %q", got)
	}
	d.dockerOK(t, "rm", "-f", "darc")
}

func decodeB64(s string) ([]byte, error) {
	cmd := exec.Command("base64", "-d")
	cmd.Stdin = strings.NewReader(s)
	return cmd.Output()
}

// tarNames lists the entries of the tar file f.
func tarNames(t *testing.T, f string) map[string]bool {
	t.Helper()
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	names := map[string]bool{}
	tr := tar.NewReader(fh)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
}

func TestDaemonExport(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dexp")
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "dexp", "busybox", "sh", "-c", "echo x > /exported; exec sleep 300")
	eventually(t, "the container's file", 5*time.Second, func() bool { return d.docker(t, "exec", "dexp", "cat", "/exported").stdout == "x\n" })
	for _, state := range []string{"running", "stopped"} {
		f := filepath.Join(t.TempDir(), "exp.tar")
		d.dockerOK(t, "export", "-o", f, "dexp")
		names := tarNames(t, f)
		if !names["bin/busybox"] || !names["exported"] {
			t.Fatalf("docker export (%s): no bin/busybox or exported among %d entries", state, len(names))
		}
		d.dockerOK(t, "stop", "-t", "1", "dexp")
	}
	d.dockerOK(t, "rm", "dexp")
}

func TestDaemonPrune(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dpr-run", "dpr-stop", "dpr-other")
	d.dockerOK(t, "run", "-d", "--network", "none", "--label", "mrtest-prune=1", "--name", "dpr-run", "busybox", "sleep", "300")
	d.dockerOK(t, "run", "--network", "none", "--label", "mrtest-prune=1", "--name", "dpr-stop", "busybox", "true")
	d.dockerOK(t, "run", "--network", "none", "--name", "dpr-other", "busybox", "true")
	// until=1h: nothing made now is old enough.
	out := d.dockerOK(t, "container", "prune", "-f", "--filter", "until=1h", "--filter", "label=mrtest-prune=1")
	if strings.Contains(out, "Deleted") {
		t.Fatalf("prune until=1h removed fresh containers: %q", out)
	}
	out = d.dockerOK(t, "container", "prune", "-f", "--filter", "label=mrtest-prune=1")
	ps := d.dockerOK(t, "ps", "-a", "--format", "{{.Names}}")
	if strings.Contains(ps, "dpr-stop") || !strings.Contains(ps, "dpr-run") || !strings.Contains(ps, "dpr-other") {
		t.Fatalf("container prune --filter label=mrtest-prune=1: %q; left %q, want only dpr-stop gone", out, ps)
	}
	d.dockerOK(t, "rm", "-f", "dpr-run", "dpr-other")

	// Volumes: API 1.41 prunes named volumes too; a label selects.
	d.dockerOK(t, "volume", "create", "--label", "mrtest-prune=1", "dpr-vol")
	d.dockerOK(t, "volume", "create", "dpr-keep")
	t.Cleanup(func() { d.docker(t, "volume", "rm", "dpr-vol", "dpr-keep") })
	q := url.QueryEscape(`{"label":{"mrtest-prune=1":true}}`)
	code, body := d.curl(t, "-X", "POST", "http://d/v1.41/volumes/prune?filters="+q)
	var vr struct{ VolumesDeleted []string }
	json.Unmarshal([]byte(body), &vr)
	if code != "200" || len(vr.VolumesDeleted) != 1 || vr.VolumesDeleted[0] != "dpr-vol" {
		t.Fatalf("volume prune label=mrtest-prune=1: %s %s", code, body)
	}
	// From 1.42, named volumes need all=true.
	code, body = d.curl(t, "-X", "POST", "http://d/v1.43/volumes/prune?filters="+url.QueryEscape(`{"label!":{"x":true}}`))
	if code != "200" || strings.Contains(body, "dpr-keep") {
		t.Fatalf("volume prune on API 1.43 without all: %s %s", code, body)
	}

	// Networks: until keeps a fresh one, then a prune removes it.
	d.dockerOK(t, "network", "create", "dprnet")
	t.Cleanup(func() { d.docker(t, "network", "rm", "dprnet") })
	code, body = d.curl(t, "-X", "POST", "http://d/v1.41/networks/prune?filters="+url.QueryEscape(`{"until":{"1h":true}}`))
	if code != "200" || strings.Contains(body, "dprnet") {
		t.Fatalf("network prune until=1h: %s %s", code, body)
	}
	code, body = d.curl(t, "-X", "POST", "http://d/v1.41/networks/prune")
	var nr struct{ NetworksDeleted []string }
	json.Unmarshal([]byte(body), &nr)
	if code != "200" || !strings.Contains(strings.Join(nr.NetworksDeleted, ","), "dprnet") {
		t.Fatalf("network prune: %s %s", code, body)
	}
	if code, body := d.curl(t, "-X", "POST", "http://d/v1.41/containers/prune?filters="+url.QueryEscape(`{"color":{"red":true}}`)); code != "400" {
		t.Fatalf("container prune with an unknown filter: %s %s", code, body)
	}
}

// TestDaemonResize: docker run -it and exec -it in a real terminal (tmux);
// the window's size reaches the container's pty, and so does a resize.
func TestDaemonResize(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is missing: scripts/setup.sh installs it")
	}
	d := startDaemon(t)
	rmAtEnd(t, "drsz")
	session := "minirun-test-drsz"
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v %s", args, err, out)
		}
		return string(out)
	}
	screen := func(pane string) string { return tmux("capture-pane", "-p", "-t", pane) }
	waitScreen := func(pane, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(screen(pane), what) {
			if time.Now().After(deadline) {
				t.Fatalf("never saw %q on the screen:\n%s", what, screen(pane))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	env := "DOCKER_HOST=unix://" + d.sock + " DOCKER_CONFIG=" + filepath.Join(t.TempDir(), "cfg") + " "
	tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", env+dockerClient()+" run -it --network none --name drsz busybox sh; sleep 30")
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	waitScreen(session, "/ #")
	tmux("send-keys", "-t", session, "stty size", "Enter")
	waitScreen(session, "30 100") // docker run -it sent the window's size
	// A new window size: the client gets SIGWINCH and posts a resize.
	tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "-t", session, "clear; stty size", "Enter")
	waitScreen(session, "40 120")

	// The endpoint itself.
	if code, body := d.curl(t, "-X", "POST", "http://d/v1.41/containers/drsz/resize?h=17&w=71"); code != "200" {
		t.Fatalf("POST resize: %s %s", code, body)
	}
	tmux("send-keys", "-t", session, "clear; stty size", "Enter")
	waitScreen(session, "17 71")

	// exec -it in a second window.
	exe := session + "-exec"
	tmux("new-session", "-d", "-s", exe, "-x", "90", "-y", "25", env+dockerClient()+" exec -it drsz sh; sleep 30")
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", exe).Run() })
	waitScreen(exe, "/ #")
	tmux("send-keys", "-t", exe, "stty size", "Enter")
	waitScreen(exe, "25 90")
	tmux("resize-window", "-t", exe, "-x", "110", "-y", "35")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "-t", exe, "clear; stty size", "Enter")
	waitScreen(exe, "35 110")

	// A container without a terminal has nothing to resize.
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "drsz-notty", "busybox", "sleep", "300")
	rmAtEnd(t, "drsz-notty")
	if code, _ := d.curl(t, "-X", "POST", "http://d/v1.41/containers/drsz-notty/resize?h=1&w=1"); code != "409" {
		t.Fatalf("resize of a container without a terminal: %s, want 409", code)
	}
	if code, _ := d.curl(t, "-X", "POST", "http://d/v1.41/containers/drsz/resize?h=x&w=1"); code != "400" {
		t.Fatalf("resize with h=x: %s, want 400", code)
	}
}

// TestMiniCp: `minirun cp`, the CLI over the same use cases, both ways,
// running and stopped, tar on stdin and stdout, and the symlink escape.
func TestMiniCp(t *testing.T) {
	rmAtEnd(t, "mcp")
	ok(t, "run", "-d", "--network", "none", "--name", "mcp", "busybox", "sleep", "300")
	victim := t.TempDir()
	ok(t, "exec", "mcp", "sh", "-c", "ln -s /etc/passwd /lnk; ln -s ../../../../../etc /dlnk; ln -s /etc /etcl; ln -s "+victim+" /hostlink")
	host := t.TempDir()
	in := filepath.Join(host, "f")
	os.WriteFile(in, []byte("cli\n"), 0o644)
	ok(t, "cp", in, "mcp:/tmp/")
	if got := ok(t, "exec", "mcp", "cat", "/tmp/f"); got != "cli\n" {
		t.Fatalf("minirun cp into the container: %q", got)
	}
	want := ok(t, "exec", "mcp", "cat", "/etc/passwd")
	ok(t, "cp", "-L", "mcp:/lnk", filepath.Join(host, "l"))
	ok(t, "cp", "mcp:/dlnk/passwd", filepath.Join(host, "d"))
	ok(t, "cp", "mcp:/etcl/passwd", filepath.Join(host, "a"))
	for _, f := range []string{"l", "d", "a"} {
		if got := readFile(t, filepath.Join(host, f)); got != want || got == hostPasswd(t) {
			t.Fatalf("minirun cp %s: %q, want the container's passwd", f, got)
		}
	}
	// Into a container symlink naming a host directory: never the host's.
	mr(t, "cp", in, "mcp:/hostlink/")
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatalf("minirun cp through a container symlink wrote the host directory %s: %v", victim, ents)
	}
	// Tar out on stdout, tar in on stdin.
	r := mr(t, "cp", "mcp:/tmp/f", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "cli\n") {
		t.Fatalf("minirun cp mcp:/tmp/f -: exit %d %q", r.code, r.stderr)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "fromstdin", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("in\n"))
	tw.Close()
	if r := mrIn(t, "", b.Bytes(), "cp", "-", "mcp:/tmp"); r.code != 0 {
		t.Fatalf("minirun cp - mcp:/tmp: %q", r.stderr)
	}
	if got := ok(t, "exec", "mcp", "cat", "/tmp/fromstdin"); got != "in\n" {
		t.Fatalf("the tar from stdin: %q", got)
	}
	// Stopped.
	ok(t, "stop", "-t", "1", "mcp")
	ok(t, "cp", in, "mcp:/tmp/while-stopped")
	ok(t, "cp", "mcp:/tmp/fromstdin", filepath.Join(host, "back"))
	if got := readFile(t, filepath.Join(host, "back")); got != "in\n" {
		t.Fatalf("minirun cp out of a stopped container: %q", got)
	}
	ok(t, "start", "mcp")
	if got := ok(t, "exec", "mcp", "cat", "/tmp/while-stopped"); got != "cli\n" {
		t.Fatalf("copied while stopped: %q", got)
	}
	fails(t, "could not find the file", "cp", "mcp:/nope", host)
	fails(t, "no such container", "cp", "nosuch:/x", host)
	ok(t, "rm", "-f", "mcp")
}

// TestDaemonCpReadOnly: docker cp into a :ro bind, or into the rootfs of a
// --read-only container, is refused (dockerd's words), stopped or
// running; a stopped container's :ro bind is its host directory, which
// minirun used to write. Its read-write volume still takes the copy.
func TestDaemonCpReadOnly(t *testing.T) {
	d := startDaemon(t)
	rmAtEnd(t, "dcpro")
	ro, rw := t.TempDir(), t.TempDir()
	d.dockerOK(t, "run", "--network", "none", "--name", "dcpro", "--read-only",
		"-v", ro+":/hostetc:ro", "-v", rw+":/data", "busybox", "true")
	in := filepath.Join(t.TempDir(), "x")
	os.WriteFile(in, []byte("x\n"), 0o644)
	check := func(state string) {
		t.Helper()
		if r := d.docker(t, "cp", in, "dcpro:/hostetc/"); r.code == 0 || !strings.Contains(r.stderr, "mounted volume is marked read-only") {
			t.Fatalf("%s: docker cp into a :ro bind: exit %d %q", state, r.code, r.stderr)
		}
		if r := d.docker(t, "cp", in, "dcpro:/tmp/"); r.code == 0 || !strings.Contains(r.stderr, "container rootfs is marked read-only") {
			t.Fatalf("%s: docker cp into a --read-only rootfs: exit %d %q", state, r.code, r.stderr)
		}
		if ents, _ := os.ReadDir(ro); len(ents) != 0 {
			t.Fatalf("%s: docker cp wrote the :ro bind's host directory: %v", state, ents)
		}
		d.dockerOK(t, "cp", in, "dcpro:/data/"+state)
		if got := readFile(t, filepath.Join(rw, state)); got != "x\n" {
			t.Fatalf("%s: docker cp into the read-write volume: %q", state, got)
		}
	}
	check("stopped")
	d.dockerOK(t, "rm", "-f", "dcpro")
	d.dockerOK(t, "run", "-d", "--network", "none", "--name", "dcpro", "--read-only",
		"-v", ro+":/hostetc:ro", "-v", rw+":/data", "busybox", "sleep", "300")
	check("running")
	d.dockerOK(t, "rm", "-f", "dcpro")
}
