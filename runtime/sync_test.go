package runtime

import (
	"errors"
	"io"
	"os"
	goruntime "runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// syncPair is both ends of a real socketpair, as create and init have.
func syncPair(t *testing.T) (*syncConn, *syncConn) {
	t.Helper()
	parent, child, err := newSyncPair()
	if err != nil {
		t.Fatal(err)
	}
	c := &syncConn{fd: int(child.Fd())}
	t.Cleanup(func() { parent.close(); child.Close() })
	return parent, c
}

// recv takes one whole message each time, of any size up to maxMessage,
// with the descriptor that came with it, and reads a closed peer as EOF.
func TestSyncRecvWholeMessages(t *testing.T) {
	parent, child := syncPair(t)
	big := strings.Repeat("x", 100<<10) // more than any fixed small buffer; a record must fit the socket buffer
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := parent.send(message{Type: msgReady}); err != nil {
		t.Fatal(err)
	}
	if err := parent.send(message{Type: msgError, Error: big, Code: 127}); err != nil {
		t.Fatal(err)
	}
	if err := parent.send(message{Type: msgConsole}, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if m, _, err := child.recv(); err != nil || m.Type != msgReady {
		t.Fatalf("first: %+v, %v", m, err)
	}
	if m, _, err := child.recv(); err != nil || m.Type != msgError || m.Error != big || m.Code != 127 {
		t.Fatalf("second (100 KiB): type %s, %d bytes, code %d, %v", m.Type, len(m.Error), m.Code, err)
	}
	m, fds, err := child.recv()
	if err != nil || m.Type != msgConsole || len(fds) != 1 {
		t.Fatalf("third: %+v, fds %v, %v", m, fds, err)
	}
	unix.Close(fds[0])
	parent.close()
	if _, _, err := child.recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer closed: %v, want EOF", err)
	}
}

// A small message costs a small buffer: recv used to allocate maxMessage
// (4 MiB) for each one, about a thousand page faults in the shim and in
// the init for every create.
func TestSyncRecvAllocatesWhatTheMessageNeeds(t *testing.T) {
	parent, child := syncPair(t)
	const rounds = 8
	for range rounds {
		if err := parent.send(message{Type: msgAck}); err != nil {
			t.Fatal(err)
		}
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	for range rounds {
		if _, _, err := child.recv(); err != nil {
			t.Fatal(err)
		}
	}
	goruntime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > 64<<10 {
		t.Fatalf("recv of a small message allocated %d bytes", per)
	}
}
