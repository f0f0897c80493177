package image

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// buildBusybox runs scripts/mkbusybox.sh into a temporary file. It skips
// when busybox-static is not installed: the script would install it, and
// a unit test must not change the host's packages.
func buildBusybox(t *testing.T) string {
	t.Helper()
	status, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "busybox-static").Output()
	if err != nil || !strings.Contains(string(status), "install ok installed") {
		t.Skip("needs Debian's busybox-static (apt-get install busybox-static)")
	}
	for _, tool := range []string{"bash", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "scripts", "mkbusybox.sh")
	out := filepath.Join(t.TempDir(), "busybox.tar")
	cmd := exec.Command("bash", script, out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mkbusybox.sh: %v\n%s", err, stderr.String())
	}
	return out
}

// TestBusyboxImage builds the course's busybox rootfs with the script,
// imports it, and checks what the runtime will rely on.
func TestBusyboxImage(t *testing.T) {
	tarPath := buildBusybox(t)
	tarball, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.Import(f, "busybox", &v1.ImageConfig{Cmd: []string{"sh"}}, nil); err != nil {
		t.Fatalf("Import: %v", err)
	}
	img, err := s.Get("busybox")
	if err != nil {
		t.Fatalf("Get busybox: %v", err)
	}
	if got := img.Config.RootFS.DiffIDs[0].Encoded(); got != sha256hex(tarball) {
		t.Errorf("diff ID %s, want sha256 of the tar %s", got, sha256hex(tarball))
	}
	dirs, err := s.LayerDirs(img)
	if err != nil {
		t.Fatalf("LayerDirs: %v", err)
	}
	root := dirs[0]
	if l, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v; want a link to busybox", l, err)
	}
	if l, err := os.Readlink(filepath.Join(root, "usr/bin/awk")); err != nil || l != "../../bin/busybox" {
		t.Errorf("usr/bin/awk -> %q, %v", l, err)
	}
	fi, err := os.Lstat(filepath.Join(root, "bin/busybox"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		t.Errorf("bin/busybox: %v, %v; want an executable file", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "tmp")); err != nil || fi.Mode() != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("tmp: %v, %v; want drwxrwxrwt", fi.Mode(), err)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(passwd), "nobody:x:65534:65534:") || !strings.HasPrefix(string(passwd), "root:x:0:0:") {
		t.Errorf("etc/passwd:\n%s", passwd)
	}
	for _, d := range []string{"proc", "sys", "dev", "root", "var", "home"} {
		if fi, err := os.Lstat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s: %v", d, err)
		}
	}
	t.Logf("busybox: %s, %d bytes, layer %s", img.ID, img.Size, root)

	// The recipe is reproducible: a second build has the same diff ID.
	again, err := os.ReadFile(buildBusybox(t))
	if err != nil {
		t.Fatal(err)
	}
	if sha256hex(again) != sha256hex(tarball) {
		t.Errorf("mkbusybox.sh is not deterministic: %s then %s", sha256hex(tarball), sha256hex(again))
	}
}
