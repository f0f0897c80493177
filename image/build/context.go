package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ExtractContext unpacks a build context sent as a tar (plain, gzip or
// bzip2, told apart by the first bytes, as dockerd's DecompressStream
// does) into dir, an empty directory: the body of the Engine API's POST
// /build, which `docker build` makes from the client's directory.
//
// The tar comes from the client, and the daemon runs as root: every path
// is opened through an os.Root on dir, which refuses any name or symlink
// that would lead outside it ("../x", "/etc/x", or "l/x" after a symlink
// l → /etc): a context cannot write outside dir. Symlink targets are
// stored as data, never followed here; COPY later resolves them inside
// the context (buildContext.path). Owners are not restored: COPY makes
// its files root's unless --chown, so the context's owners never count.
func ExtractContext(r io.Reader, dir string) error {
	br := bufio.NewReader(r)
	head, _ := br.Peek(3)
	var in io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		defer zr.Close()
		in = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		in = bzip2.NewReader(br)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("build context: read tar: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if name == "." {
			continue
		}
		if name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("build context: %q is outside the context", hdr.Name)
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("build context: %s: %w", name, err)
			}
		}
		mode := fs.FileMode(hdr.Mode).Perm() | fs.FileMode(hdr.Mode)&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("build context: %s: %w", name, err)
			}
		case tar.TypeReg, tar.TypeRegA:
			root.Remove(name) // a later entry of the same name wins, as in tar(1)
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("build context: %s: %w", name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("build context: %s: %w", name, err)
			}
		case tar.TypeSymlink:
			root.Remove(name)
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return fmt.Errorf("build context: %s: %w", name, err)
			}
			continue // no chmod or chtimes: they would follow the link
		case tar.TypeLink:
			target := path.Clean(strings.TrimPrefix(hdr.Linkname, "/"))
			root.Remove(name)
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("build context: %s: %w", name, err)
			}
			continue
		default:
			// Devices, fifos: a context has no use for them, and a
			// client must not make device nodes as root.
			continue
		}
		if err := root.Chmod(name, mode); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
		if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
	}
}
