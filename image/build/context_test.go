package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func contextTar(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "content of " + h.Name
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestExtractContext(t *testing.T) {
	data := contextTar(t,
		&tar.Header{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "src/run.sh", Typeflag: tar.TypeReg, Mode: 0o755},
		&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "src/run.sh"},
	)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	for name, body := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		dir := t.TempDir()
		if err := ExtractContext(bytes.NewReader(body), dir); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fi, err := os.Stat(filepath.Join(dir, "src/run.sh"))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: src/run.sh: %v %v", name, fi, err)
		}
		if target, err := os.Readlink(filepath.Join(dir, "link")); err != nil || target != "src/run.sh" {
			t.Fatalf("%s: link: %q %v", name, target, err)
		}
	}
}

// A context comes from the client, and the daemon extracting it is root:
// no entry may write outside the directory.
func TestExtractContextStaysInside(t *testing.T) {
	outside := t.TempDir()
	for name, entries := range map[string][]*tar.Header{
		"dot-dot":  {{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute": {{Name: filepath.Join(outside, "escape"), Typeflag: tar.TypeReg, Mode: 0o644}},
		"through a symlink": {
			{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "l/escape", Typeflag: tar.TypeReg, Mode: 0o644},
		},
		"hard link out": {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
	} {
		dir := filepath.Join(t.TempDir(), "ctx")
		os.Mkdir(dir, 0o755)
		err := ExtractContext(bytes.NewReader(contextTar(t, entries...)), dir)
		if _, serr := os.Lstat(filepath.Join(outside, "escape")); serr == nil {
			t.Fatalf("%s: a file was written outside the context", name)
		}
		if _, serr := os.Lstat(filepath.Join(filepath.Dir(dir), "escape")); serr == nil {
			t.Fatalf("%s: a file was written next to the context", name)
		}
		// An absolute name is taken as relative to the context (as tar
		// does); the others must fail.
		if name != "absolute" && err == nil {
			t.Fatalf("%s: no error", name)
		}
	}
}

func TestWithLabels(t *testing.T) {
	got := string(withLabels([]byte("FROM scratch"), map[string]string{"b": "two words", "a": `q"uote`}))
	want := "FROM scratch\nLABEL \"a\"=\"q\\\"uote\" \"b\"=\"two words\"\n"
	if got != want {
		t.Fatalf("withLabels: %q, want %q", got, want)
	}
	if got := string(withLabels([]byte("FROM x\n"), nil)); got != "FROM x\n" {
		t.Fatalf("no labels changed the Dockerfile: %q", got)
	}
	if _, _, _, err := Parse([]byte(want)); err != nil || strings.Contains(want, "\n\n") {
		t.Fatalf("the LABEL line does not parse: %v", err)
	}
}

// A .dockerignore that links out of the context, or is not a regular
// file, is refused: the daemon reads a stranger's context as root.
func TestDockerignoreStaysInTheContext(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(string) error{
		"link out": func(p string) error { return os.Symlink(secret, p) },
		"fifo":     func(p string) error { return unix.Mkfifo(p, 0o644) },
	} {
		dir := t.TempDir()
		if err := plant(filepath.Join(dir, ".dockerignore")); err != nil {
			t.Fatal(err)
		}
		if c, err := openContext(dir); err == nil {
			t.Errorf("%s: accepted (ignore %v)", name, c.ignore != nil)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "real"), []byte("*.log\n"), 0o644)
	os.Symlink("real", filepath.Join(dir, ".dockerignore"))
	c, err := openContext(dir)
	if err != nil || !c.ignored("a.log") || c.ignored("a.txt") {
		t.Fatalf("a link inside the context: %v", err)
	}
}
