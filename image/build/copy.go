package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image/layer"
)

// buildContext is the directory COPY and ADD read from, with the files
// .dockerignore leaves out.
type buildContext struct {
	dir    string
	ignore *patternmatcher.PatternMatcher // nil: nothing ignored
}

// openContext reads dir/.dockerignore. Its patterns are Go's filepath.Match
// patterns plus "**" and "!exceptions", relative to the context root, as
// Docker reads them (patternmatcher is Docker's own code).
func openContext(dir string) (*buildContext, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("build context %s: not a directory (%v)", dir, err)
	}
	c := &buildContext{dir: abs}
	// Read through os.Root: a context sent to the daemon is a stranger's
	// tar, and its .dockerignore may be a link to a host file (a secret,
	// /proc/kmsg) or a FIFO that would hang the build. Only a regular file
	// inside the context is read.
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	defer root.Close()
	fi, err := root.Stat(".dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read .dockerignore: not a regular file (%s)", fi.Mode().Type())
	}
	f, err := root.Open(".dockerignore")
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	if c.ignore, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return c, nil
}

// ignored reports whether rel (slash-separated, relative to the context)
// is left out by .dockerignore.
func (c *buildContext) ignored(rel string) bool {
	if c.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// sources resolves the source arguments of COPY or ADD — paths and
// wildcards relative to the context — to context paths. Symlinks inside
// the context are resolved without leaving it (securejoin), as Docker
// keeps COPY inside the context.
func (c *buildContext) sources(srcs []string) ([]string, error) {
	var out []string
	for _, s := range srcs {
		if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "git@") {
			return nil, fmt.Errorf("%s: sources from the network are not supported by minirun (no network in the build); download it into the context", s)
		}
		rel := path.Clean("/" + filepath.ToSlash(s))[1:]
		if strings.ContainsAny(rel, "*?[") {
			matches, err := c.glob(rel)
			if err != nil {
				return nil, err
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("COPY failed: no source files were specified matching %q", s)
			}
			out = append(out, matches...)
			continue
		}
		if c.ignored(rel) {
			return nil, fmt.Errorf("COPY failed: file not found in build context or excluded by .dockerignore: %s", s)
		}
		if _, err := c.lstat(rel); err != nil {
			return nil, fmt.Errorf("COPY failed: file not found in build context or excluded by .dockerignore: %s: %w", s, err)
		}
		out = append(out, rel)
	}
	return out, nil
}

// glob matches a pattern against the context's files, in lexical order.
func (c *buildContext) glob(pattern string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if c.ignored(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if ok, _ := path.Match(pattern, rel); ok {
			out = append(out, rel)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return out, err
}

// path returns the host path of the context file rel, its symlinks
// resolved inside the context, except the last component.
func (c *buildContext) path(rel string) (string, error) {
	if rel == "" {
		return c.dir, nil
	}
	dir, base := path.Split(rel)
	parent, err := securejoin.SecureJoin(c.dir, dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, base), nil
}

func (c *buildContext) lstat(rel string) (fs.FileInfo, error) {
	p, err := c.path(rel)
	if err != nil {
		return nil, err
	}
	return os.Lstat(p)
}

// copyRequest is one COPY or ADD.
type copyRequest struct {
	name   string // "COPY" or "ADD"
	srcs   []string
	dest   string
	chown  string
	chmod  string
	unpack bool // ADD: local tar archives are unpacked
}

// copy makes the layer of a COPY or ADD. The layer's tar is written to a
// scratch file first: its content hash, not its bytes (file times change
// when a file is merely touched), goes into the history text, and that
// text is the cache key.
func (b *builder) copy(req copyRequest) error {
	srcs, err := b.ctx.sources(req.srcs)
	if err != nil {
		return err
	}
	dest := req.dest
	if !path.IsAbs(dest) {
		wd := b.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		trailing := strings.HasSuffix(dest, "/") || dest == "."
		dest = path.Join(wd, dest)
		if trailing {
			dest += "/"
		}
	}
	destIsDir := strings.HasSuffix(dest, "/")
	if len(srcs) > 1 && !destIsDir {
		return fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", req.name)
	}
	var owner *layer.Owner
	if req.chown != "" {
		if owner, err = b.resolveOwner(req.chown); err != nil {
			return err
		}
	}
	var mode os.FileMode
	if req.chmod != "" {
		m, err := strconv.ParseUint(req.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s --chmod=%s: an octal mode is expected", req.name, req.chmod)
		}
		mode = os.FileMode(m)
	}

	scratch, err := b.store.TempDir("copy-")
	if err != nil {
		return err
	}
	defer b.store.RemoveTemp(scratch)
	tarPath := filepath.Join(scratch, "layer.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", tarPath, err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)
	kind, err := b.writeCopyLayer(w, req, srcs, dest, destIsDir, owner, mode)
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", tarPath, err)
	}
	sum, err := contentHash(tarPath)
	if err != nil {
		return err
	}
	flags := ""
	if req.chown != "" {
		flags += "--chown=" + req.chown + " "
	}
	if req.chmod != "" {
		flags += "--chmod=" + req.chmod + " "
	}
	createdBy := fmt.Sprintf("/bin/sh -c #(nop) %s %s%s:%s in %s ", req.name, flags, kind, sum, dest)
	return b.commit(b.cfg, createdBy, func() (io.ReadCloser, error) { return os.Open(tarPath) }, "")
}

// writeCopyLayer writes the tar of a COPY/ADD and returns Docker's word
// for what was copied: "file" (one file) or "dir" (anything else).
func (b *builder) writeCopyLayer(w io.Writer, req copyRequest, srcs []string, dest string, destIsDir bool, owner *layer.Owner, mode os.FileMode) (string, error) {
	a := layer.NewArchive(w)
	made := map[string]bool{}
	kind := "dir"
	if len(srcs) == 1 {
		if fi, err := b.ctx.lstat(srcs[0]); err == nil && !fi.IsDir() {
			kind = "file"
		}
	}
	// The parents of the destination: directories the image already has
	// keep their owner and mode; missing ones are created root-owned 0755
	// (and owned by --chown's user when they are the destination itself).
	mkdirs := func(dir string, own *layer.Owner) error {
		dir = strings.Trim(dir, "/")
		if dir == "" {
			return nil
		}
		parts := strings.Split(dir, "/")
		for i := range parts {
			p := strings.Join(parts[:i+1], "/")
			if made[p] {
				continue
			}
			made[p] = true
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
			if st, ok := b.existing(p); ok {
				hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime = int64(st.Mode&0o7777), int(st.Uid), int(st.Gid), time.Unix(st.Mtim.Sec, 0)
			} else if own != nil && i == len(parts)-1 {
				hdr.Uid, hdr.Gid = own.UID, own.GID
			}
			if err := a.WriteHeader(hdr, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for _, rel := range srcs {
		host, err := b.ctx.path(rel)
		if err != nil {
			return "", err
		}
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		opts := layer.TreeOptions{Owner: owner}
		switch {
		case fi.IsDir():
			// A directory's contents are copied, not the directory itself.
			d := strings.Trim(dest, "/")
			if err := mkdirs(d, owner); err != nil {
				return "", err
			}
			if d != "" {
				d += "/"
			}
			opts.Prefix = d
			base := rel
			opts.Skip = func(r string, _ bool) bool { return b.ctx.ignored(path.Join(base, r)) }
			if err := b.addTree(a, host, opts, mode); err != nil {
				return "", err
			}
		case req.unpack && fi.Mode().IsRegular() && isArchive(host):
			d := strings.Trim(dest, "/")
			if err := mkdirs(d, nil); err != nil {
				return "", err
			}
			if err := unpackInto(a, host, d, owner); err != nil {
				return "", fmt.Errorf("ADD %s: %w", rel, err)
			}
		default:
			target := strings.TrimPrefix(dest, "/")
			if destIsDir {
				target = strings.TrimSuffix(target, "/") + "/" + path.Base(rel)
				target = strings.TrimPrefix(target, "/")
			}
			if err := mkdirs(path.Dir(target), nil); err != nil {
				return "", err
			}
			if err := b.addFile(a, host, target, opts, mode); err != nil {
				return "", err
			}
		}
	}
	return kind, a.Close()
}

// addTree and addFile apply --chmod by rewriting the headers: Archive
// writes what is on disk, so the mode is changed on a copy of the entry.
func (b *builder) addTree(a *layer.Archive, dir string, opts layer.TreeOptions, mode os.FileMode) error {
	if mode == 0 {
		return a.AddTree(dir, opts)
	}
	return rewriteModes(a, mode, func(tmp *layer.Archive) error { return tmp.AddTree(dir, opts) })
}

func (b *builder) addFile(a *layer.Archive, host, name string, opts layer.TreeOptions, mode os.FileMode) error {
	if mode == 0 {
		return a.AddFile(host, name, opts)
	}
	return rewriteModes(a, mode, func(tmp *layer.Archive) error { return tmp.AddFile(host, name, opts) })
}

// rewriteModes writes what fill archives into a buffer, then copies the
// entries into a with their permission bits set to mode.
func rewriteModes(a *layer.Archive, mode os.FileMode, fill func(*layer.Archive) error) error {
	var buf bytes.Buffer
	tmp := layer.NewArchive(&buf)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			hdr.Mode = hdr.Mode&^0o7777 | int64(mode)
		}
		if err := a.WriteHeader(hdr, tr); err != nil {
			return err
		}
	}
}

// existing stats path (relative to /) in the parent image's layers: the
// top-most layer that has it wins, a whiteout hides it.
func (b *builder) existing(p string) (unix.Stat_t, bool) {
	var st unix.Stat_t
	if b.parent == nil {
		return st, false
	}
	dirs, err := b.store.LayerDirs(b.parent)
	if err != nil {
		return st, false
	}
	for _, d := range dirs {
		if err := unix.Lstat(filepath.Join(d, p), &st); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			return st, false // a whiteout: deleted in this layer
		}
		return st, true
	}
	return st, false
}

// readImageFile reads a file of the parent image (its /etc/passwd), from
// the top-most layer that has it.
func (b *builder) readImageFile(p string) []byte {
	if b.parent == nil {
		return nil
	}
	dirs, err := b.store.LayerDirs(b.parent)
	if err != nil {
		return nil
	}
	for _, d := range dirs {
		full, err := securejoin.SecureJoin(d, p)
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(full, &st) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil // a whiteout or something else: no such file
		}
		data, _ := os.ReadFile(full)
		return data
	}
	return nil
}

// resolveOwner turns --chown's "user[:group]" into numbers. Names are
// looked up in the image's own /etc/passwd and /etc/group, never the
// host's; a user without a group takes the group with the same number,
// as Docker documents.
func (b *builder) resolveOwner(spec string) (*layer.Owner, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, err := b.lookupID(user, "/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	gid := uid
	if hasGroup {
		if gid, err = b.lookupID(group, "/etc/group"); err != nil {
			return nil, fmt.Errorf("--chown=%s: %w", spec, err)
		}
	}
	return &layer.Owner{UID: uid, GID: gid}, nil
}

func (b *builder) lookupID(name, file string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	for _, line := range strings.Split(string(b.readImageFile(file)), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[0] == name {
			if n, err := strconv.Atoi(f[2]); err == nil {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("unable to find %q in the image's %s", name, file)
}

// isArchive reports whether a file is a tar, plain or gzip-compressed, the
// files ADD unpacks.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	head := make([]byte, 2)
	if n, _ := io.ReadFull(r, head); n == 2 && head[0] == 0x1f && head[1] == 0x8b {
		f.Seek(0, io.SeekStart)
		zr, err := gzip.NewReader(f)
		if err != nil {
			return false
		}
		r = zr
	} else {
		f.Seek(0, io.SeekStart)
		r = f
	}
	block := make([]byte, 512)
	if _, err := io.ReadFull(r, block); err != nil {
		return false
	}
	return bytes.Equal(block[257:262], []byte("ustar"))
}

// unpackInto copies the entries of the tar at p into a, under dir. Names
// that climb out ("..", absolute) are refused; the extraction into the
// store re-checks everything anyway.
func unpackInto(a *layer.Archive, p, dir string, owner *layer.Owner) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)
		if strings.Contains(hdr.Name, "..") {
			return fmt.Errorf("entry %q climbs out of the destination", hdr.Name)
		}
		name = strings.TrimPrefix(path.Join(dir, name), "/")
		if name == "" {
			continue
		}
		if hdr.Typeflag == tar.TypeDir {
			name += "/"
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = strings.TrimPrefix(path.Join(dir, path.Clean("/"+hdr.Linkname)), "/")
		}
		if owner != nil {
			hdr.Uid, hdr.Gid = owner.UID, owner.GID
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := a.WriteHeader(hdr, tr); err != nil {
			return err
		}
	}
}

// contentHash is the sha256 of what a layer tar holds — each entry's name,
// type, mode, owner, link target and content — but not its times: the
// cache key of COPY and ADD, stable when files are only touched.
func contentHash(tarPath string) (string, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", tarPath, err)
		}
		var xattrs []string
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xattrs = append(xattrs, k+"="+v)
			}
		}
		slices.Sort(xattrs)
		fmt.Fprintf(h, "%s\x00%c\x00%o\x00%d:%d\x00%s\x00%d\x00%v\x00", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname, hdr.Size, xattrs)
		if _, err := io.Copy(h, tr); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func mkdir(d string) error {
	if err := os.Mkdir(d, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d, err)
	}
	return nil
}
