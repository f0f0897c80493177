//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildImage builds a small image whose RUN deletes a file of busybox and
// adds one: its top layer has a whiteout.
func buildImage(t *testing.T, tag string) {
	t.Helper()
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN rm /bin/vi && mkdir /novo && echo ola > /novo/arquivo\nCMD [\"sh\"]\n"), 0o644)
	ok(t, "build", "-t", tag, ctx)
	t.Cleanup(func() { mr(t, "image", "rm", tag) })
}

// The same image gives the same file tree with overlay2 and with vfs
// (which applies the whiteouts by copying).
func TestVfsAndOverlaySameTree(t *testing.T) {
	buildImage(t, "arvore:1")
	list := "find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -print | sort"
	over := ok(t, "run", "--rm", "arvore:1", "sh", "-c", list)
	vfs := ok(t, "--storage-driver", "vfs", "run", "--rm", "arvore:1", "sh", "-c", list)
	if over != vfs {
		t.Fatalf("overlay and vfs trees differ:\noverlay %d lines, vfs %d lines", strings.Count(over, "\n"), strings.Count(vfs, "\n"))
	}
	if strings.Contains(over, "/bin/vi\n") || !strings.Contains(over, "/novo/arquivo") {
		t.Fatal("the RUN step's changes are not in the image")
	}
	ok(t, "--storage-driver", "vfs", "run", "--name", "copia", "arvore:1", "true")
	rmAtEnd(t, "copia")
	gd := inspect(t, "copia")["GraphDriver"].(map[string]interface{})
	if gd["Name"] != "vfs" {
		t.Fatalf("GraphDriver %v", gd)
	}
}

// A Dockerfile with RUN builds with real containers; history lists the
// steps; a second build comes from the cache.
func TestBuildRunAndHistory(t *testing.T) {
	buildImage(t, "hist:1")
	out := ok(t, "history", "hist:1")
	if !strings.Contains(out, "rm /bin/vi") || !strings.Contains(out, "CREATED BY") {
		t.Fatalf("history: %s", out)
	}
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN rm /bin/vi && mkdir /novo && echo ola > /novo/arquivo\nCMD [\"sh\"]\n"), 0o644)
	if out := ok(t, "build", "-t", "hist:2", ctx); !strings.Contains(out, "Using cache") {
		t.Fatalf("second build did not use the cache: %s", out)
	}
	mr(t, "image", "rm", "hist:2")
}

// export of a container and import of the tar give the same files back.
func TestExportImport(t *testing.T) {
	ok(t, "run", "--name", "exportado", "busybox", "sh", "-c", "echo dentro > /marca")
	rmAtEnd(t, "exportado")
	tarPath := filepath.Join(t.TempDir(), "c.tar")
	ok(t, "export", "-o", tarPath, "exportado")
	ok(t, "image", "import", tarPath, "importado:1")
	t.Cleanup(func() { mr(t, "image", "rm", "importado:1") })
	if out := ok(t, "run", "--rm", "importado:1", "cat", "/marca"); strings.TrimSpace(out) != "dentro" {
		t.Fatalf("imported image: %q", out)
	}
}
