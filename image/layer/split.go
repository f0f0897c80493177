package layer

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// A layer is stored extracted (a directory overlayfs can stack), not as the
// tar it came in. But `save` and `push` must hand the tar back, and it must
// be the very same bytes: its sha256 is the layer's diff ID, listed in the
// image config, whose own sha256 is the image ID. Writing a new tar from the
// directory would give other bytes (another order, other header fields),
// so another diff ID, so another image.
//
// Docker solves this with tar-split (github.com/vbatts/tar-split): while
// extracting, it keeps every byte of the archive except the file contents —
// headers, padding, the end-of-archive blocks — together with, for each
// file, where its content went. The contents are already on disk in the
// extracted directory; headers are small. Putting the two back together
// gives the original archive, byte for byte. Docker keeps this record in
// /var/lib/docker/image/overlay2/layerdb/sha256/<chain id>/tar-split.json.gz.
//
// minirun does the same with a simpler, binary record: a sequence of
//
//	'R' uvarint(n) n bytes               n raw bytes of the archive
//	'F' uvarint(size) uvarint(len) name  size bytes of content, read from
//	                                     the file name, relative to the layer
//
// Reassemble replays it.

// Record kinds.
const (
	recRaw  = 'R'
	recFile = 'F'
)

// maxRawChunk bounds the raw bytes kept in memory before a record is
// written (content recorded inline, see beginFile, can be large).
const maxRawChunk = 1 << 20

// recorder reads the archive for tar.Reader and writes the record.
type recorder struct {
	r   io.Reader
	w   *bufio.Writer
	raw []byte
	// inFile is set while the content of a file is being read: those
	// bytes are on disk after extraction and are not recorded.
	inFile bool
	n      int64 // content bytes read in the current file
	err    error
}

func newRecorder(w io.Writer) *recorder {
	return &recorder{w: bufio.NewWriterSize(w, 64<<10)}
}

// Read passes bytes from the archive on to tar.Reader, keeping the ones
// that are not file content.
func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.inFile {
		c.n += int64(n)
	} else {
		c.raw = append(c.raw, p[:n]...)
		if len(c.raw) >= maxRawChunk {
			if ferr := c.flushRaw(); ferr != nil {
				return n, ferr
			}
		}
	}
	return n, err
}

func (c *recorder) flushRaw() error {
	if len(c.raw) == 0 || c.err != nil {
		return c.err
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = recRaw
	k := binary.PutUvarint(hdr[1:], uint64(len(c.raw)))
	c.w.Write(hdr[:1+k])
	_, c.err = c.w.Write(c.raw)
	c.raw = c.raw[:0]
	if c.err != nil {
		c.err = fmt.Errorf("write tar-split record: %w", c.err)
	}
	return c.err
}

// beginFile is called right before the content of a regular file is read.
// Sparse files are the exception: the archive holds only their data
// fragments while the file on disk has the holes filled in, so their
// content is recorded inline, as raw bytes.
func (c *recorder) beginFile(hdr *tar.Header) error {
	if c == nil {
		return nil
	}
	if err := c.flushRaw(); err != nil {
		return err
	}
	c.inFile, c.n = !isSparse(hdr), 0
	return nil
}

// endFile records that the content just read now lives in the file rel.
func (c *recorder) endFile(rel string) error {
	if c == nil || !c.inFile {
		return nil
	}
	c.inFile = false
	if c.err != nil {
		return c.err
	}
	var hdr [1 + 2*binary.MaxVarintLen64]byte
	hdr[0] = recFile
	k := 1 + binary.PutUvarint(hdr[1:], uint64(c.n))
	k += binary.PutUvarint(hdr[k:], uint64(len(rel)))
	c.w.Write(hdr[:k])
	if _, err := c.w.WriteString(rel); err != nil {
		c.err = fmt.Errorf("write tar-split record: %w", err)
	}
	return c.err
}

func (c *recorder) flush() error {
	if err := c.flushRaw(); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("write tar-split record: %w", err)
	}
	return nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// ExtractRecorded applies the layer tar read from r to dir (see extract)
// and also writes to record what
// Reassemble needs to rebuild the archive byte for byte from dir: every
// byte of the archive that is not the content of a regular file (see the
// tar-split comment above). The record is a few hundred bytes per entry.
// It covers the whole stream, including what follows the end-of-archive
// marker, so r is read to its end.
func ExtractRecorded(r io.Reader, dir string, record io.Writer) (int64, error) {
	return extract(r, dir, newRecorder(record))
}

// Reassemble writes to w the archive that ExtractRecorded extracted into
// dir, reading the file contents from dir and everything else from record.
// It returns the number of bytes written.
//
// Files are opened beneath dir (openat2 RESOLVE_BENEATH, O_NOFOLLOW), and a
// file whose size is not the recorded one fails: content changed since the
// extraction cannot give back the same archive. The caller checks the
// digest of what was written against the layer's diff ID; that is the real
// proof, since a file replaced by a later entry of the same archive (which
// tools do not produce) cannot be told apart here.
func Reassemble(w io.Writer, dir string, record io.Reader) (int64, error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open layer dir %s: %w", dir, err)
	}
	defer unix.Close(root)
	br := bufio.NewReaderSize(record, 64<<10)
	buf := make([]byte, copyBufSize)
	var total int64
	for {
		kind, err := br.ReadByte()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read tar-split record: %w", err)
		}
		switch kind {
		case recRaw:
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return total, fmt.Errorf("read tar-split record: %w", err)
			}
			m, err := io.CopyBuffer(w, io.LimitReader(br, int64(n)), buf)
			total += m
			if err != nil {
				return total, fmt.Errorf("write archive: %w", err)
			}
			if m != int64(n) {
				return total, fmt.Errorf("tar-split record is truncated")
			}
		case recFile:
			size, err1 := binary.ReadUvarint(br)
			nameLen, err2 := binary.ReadUvarint(br)
			if err := errors.Join(err1, err2); err != nil {
				return total, fmt.Errorf("read tar-split record: %w", err)
			}
			if nameLen > 1<<16 {
				return total, fmt.Errorf("tar-split record: name of %d bytes", nameLen)
			}
			name := make([]byte, nameLen)
			if _, err := io.ReadFull(br, name); err != nil {
				return total, fmt.Errorf("read tar-split record: %w", err)
			}
			m, err := copyFileBeneath(w, root, string(name), int64(size), buf)
			total += m
			if err != nil {
				return total, err
			}
		default:
			return total, fmt.Errorf("tar-split record: unknown kind %q", kind)
		}
	}
}

// copyFileBeneath copies the content of the regular file rel, which must
// be size bytes long, to w.
func copyFileBeneath(w io.Writer, root int, rel string, size int64, buf []byte) (int64, error) {
	parentRel, base := split(rel)
	parent, err := openBeneath(root, parentRel)
	if err != nil {
		return 0, fmt.Errorf("reassemble %q: %w", rel, err)
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	unix.Close(parent)
	if err != nil {
		return 0, fmt.Errorf("reassemble %q: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("reassemble %q: %w", rel, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		return 0, fmt.Errorf("reassemble %q: the file changed since extraction (%d bytes, %d recorded)", rel, fi.Size(), size)
	}
	n, err := io.CopyBuffer(w, struct{ io.Reader }{f}, buf)
	if err != nil {
		return n, fmt.Errorf("reassemble %q: %w", rel, err)
	}
	return n, nil
}
