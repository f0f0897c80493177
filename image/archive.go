package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// blobSource reads the members of an image archive — a tar file that
// `docker save` wrote, or an OCI image layout, as a tar or a directory —
// by name, in any order, without unpacking it first.
type blobSource interface {
	open(name string) (io.ReadCloser, error)
	exists(name string) bool
}

// dirSource is an OCI image layout directory.
type dirSource struct{ fsys fs.FS }

func (d dirSource) open(name string) (io.ReadCloser, error) {
	f, err := d.fsys.Open(cleanMember(name))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return f, nil
}

func (d dirSource) exists(name string) bool {
	_, err := fs.Stat(d.fsys, cleanMember(name))
	return err == nil
}

// tarSource is a tar file indexed once: for each regular member, where
// its content starts and how long it is. A member is then read straight
// from the file (io.SectionReader), so a 1 GB archive is never copied.
type tarSource struct {
	f       *os.File
	members map[string]member
}

type member struct{ off, size int64 }

// offsetReader counts what tar.Reader has consumed: right after Next the
// count is the offset of the member's content (tar.Reader reads headers
// exactly, without reading ahead).
type offsetReader struct {
	r io.Reader
	n int64
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.n += int64(n)
	return n, err
}

func indexTar(f *os.File) (*tarSource, error) {
	or := &offsetReader{r: f}
	tr := tar.NewReader(or)
	src := &tarSource{f: f, members: map[string]member{}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return src, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			src.members[cleanMember(hdr.Name)] = member{off: or.n, size: hdr.Size}
		}
	}
}

func (t *tarSource) open(name string) (io.ReadCloser, error) {
	m, ok := t.members[cleanMember(name)]
	if !ok {
		return nil, fmt.Errorf("archive has no member %s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m.off, m.size)), nil
}

func (t *tarSource) exists(name string) bool {
	_, ok := t.members[cleanMember(name)]
	return ok
}

// cleanMember turns "./blobs/sha256/x" into "blobs/sha256/x". Members are
// only ever looked up, never created, so a ".." cannot write anything; it
// is refused all the same.
func cleanMember(name string) string {
	name = filepath.ToSlash(filepath.Clean("/" + name))
	if strings.Contains(name, "..") {
		return "invalid"
	}
	return strings.TrimPrefix(name, "/")
}

// readBlob reads a whole (small) member: a manifest, a config, an index.
func readBlob(src blobSource, name string) ([]byte, error) {
	r, err := src.open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Configs and manifests are kilobytes; 64 MiB is generous and keeps a
	// hostile archive from filling memory.
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// readVerified reads the blob dgst of an OCI layout and checks its digest.
func readVerified(src blobSource, dgst digest.Digest) ([]byte, error) {
	if err := dgst.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", dgst, err)
	}
	data, err := readBlob(src, blobPath(dgst))
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(data); got != dgst {
		return nil, fmt.Errorf("blob %s: content hashes to %s", dgst, got)
	}
	return data, nil
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// verifyingReader checks, once its content has been read to the end, that
// it hashes to want. Close drains what the reader did not consume, so the
// check always covers the whole blob.
type verifyingReader struct {
	r        io.ReadCloser
	digester digest.Digester
	want     digest.Digest
	tee      io.Reader
}

func newVerifyingReader(r io.ReadCloser, want digest.Digest) *verifyingReader {
	v := &verifyingReader{r: r, digester: want.Algorithm().Digester(), want: want}
	v.tee = io.TeeReader(r, v.digester.Hash())
	return v
}

func (v *verifyingReader) Read(p []byte) (int, error) { return v.tee.Read(p) }

func (v *verifyingReader) Close() error {
	_, err := io.Copy(io.Discard, v.tee)
	err = errors.Join(err, v.r.Close())
	if err != nil {
		return err
	}
	if got := v.digester.Digest(); got != v.want {
		return fmt.Errorf("blob %s: content hashes to %s", v.want, got)
	}
	return nil
}
