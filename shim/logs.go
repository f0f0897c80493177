package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// LogEntry is one line of Docker's json-file log driver: the text with its
// newline, the stream it came from and when, in RFC 3339 with nanoseconds.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logWriter turns a stream of bytes into json-file lines. Partial lines
// wait for their newline (or for Flush at exit), as Docker's driver does.
type logWriter struct {
	mu     sync.Mutex
	f      *os.File
	stream string
	buf    []byte
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if err := l.emit(l.buf[:i+1]); err != nil {
			return 0, err
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// Flush writes a last line that had no newline.
func (l *logWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *logWriter) emit(line []byte) error {
	b, err := json.Marshal(LogEntry{Log: string(line), Stream: l.stream, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	_, err = l.f.Write(append(b, '\n'))
	return err
}

// ReadLogs decodes a json-file log, calling fn for each entry in order.
func ReadLogs(r io.Reader, fn func(LogEntry) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxFrame)
	for sc.Scan() {
		var e LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a line being written right now
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}
