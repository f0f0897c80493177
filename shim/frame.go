package shim

// The attach protocol, in both directions over the shim's unix socket:
// frames of one type byte, a 4-byte big-endian length and the payload.
//
//	client → shim: 'i' stdin bytes   'c' close stdin   'r' resize (rows, cols: 2+2 bytes)
//	shim → client: '1' stdout bytes  '2' stderr bytes  'x' exit code (4 bytes), then EOF
//
// A terminal container has one stream: its output comes as '1'.

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frame types.
const (
	FrameStdin  byte = 'i'
	FrameClose  byte = 'c'
	FrameResize byte = 'r'
	FrameStdout byte = '1'
	FrameStderr byte = '2'
	FrameExit   byte = 'x'
)

const maxFrame = 1 << 20

// WriteFrame sends one frame.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	hdr := make([]byte, 5, 5+len(payload))
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	_, err := w.Write(append(hdr, payload...))
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach: frame of %d bytes is too large", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}
