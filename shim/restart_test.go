package shim

import (
	"bytes"
	"strings"
	"testing"
)

func TestRestartPolicy(t *testing.T) {
	p, err := ParseRestart("on-failure:3")
	if err != nil || p.Name != "on-failure" || p.MaximumRetryCount != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	if !p.ShouldRestart(1, 2, false) || p.ShouldRestart(1, 3, false) || p.ShouldRestart(0, 0, false) || p.ShouldRestart(1, 0, true) {
		t.Fatal("on-failure:3 decisions")
	}
	a, _ := ParseRestart("always")
	if !a.ShouldRestart(0, 100, false) || a.ShouldRestart(0, 0, true) {
		t.Fatal("always decisions")
	}
	n, _ := ParseRestart("")
	if n.Name != "no" || n.ShouldRestart(1, 0, false) {
		t.Fatal("no")
	}
	for _, bad := range []string{"sometimes", "always:3", "on-failure:x", "on-failure:-1"} {
		if _, err := ParseRestart(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFramesRoundTrip(t *testing.T) {
	var b bytes.Buffer
	WriteFrame(&b, FrameStdout, []byte("olá"))
	WriteFrame(&b, FrameExit, []byte{0, 0, 0, 7})
	typ, p, err := ReadFrame(&b)
	if err != nil || typ != FrameStdout || string(p) != "olá" {
		t.Fatalf("%c %q %v", typ, p, err)
	}
	typ, p, _ = ReadFrame(&b)
	if typ != FrameExit || p[3] != 7 {
		t.Fatalf("%c %v", typ, p)
	}
}

func TestLogWriterLines(t *testing.T) {
	f, err := createTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	lw := &logWriter{f: f, stream: "stdout"}
	lw.Write([]byte("um\ndo"))
	lw.Write([]byte("is\ntrês"))
	lw.Flush()
	f.Seek(0, 0)
	var got []string
	ReadLogs(f, func(e LogEntry) error {
		if e.Stream != "stdout" || e.Time.IsZero() {
			t.Errorf("entry %+v", e)
		}
		got = append(got, e.Log)
		return nil
	})
	if strings.Join(got, "|") != "um\n|dois\n|três" {
		t.Fatalf("lines %q", got)
	}
}
