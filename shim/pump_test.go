package shim

import (
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// A pump whose stream stays silent must not hold its 32 KiB read buffer:
// an idle shim keeps two pumps for the container's whole life
// (bench/detached-100.sh). Once the stream speaks, the pump copies it to
// the log as before.
func TestPumpTakesItsBufferOnlyWhenThereIsOutput(t *testing.T) {
	logf, err := createTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	s := &server{clients: map[net.Conn]bool{}, attached: make(chan struct{})}
	const n = 16
	var wg sync.WaitGroup
	var writers []*os.File
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc + ms.StackInuse
	for i := 0; i < n; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
		wg.Add(1)
		go s.pump(&wg, r, FrameStdout, &logWriter{f: logf, stream: "stdout"})
	}
	time.Sleep(200 * time.Millisecond) // every pump blocks on its silent pipe
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapAlloc+ms.StackInuse) - int64(before)
	if grown >= n*32*1024/2 {
		t.Errorf("%d silent pumps hold %d bytes of heap: their read buffers were made before any output", n, grown)
	}
	for i, w := range writers {
		if i == 0 {
			w.WriteString("hello\n")
		}
		w.Close()
	}
	wg.Wait()
	b, err := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"log":"hello\n"`) {
		t.Errorf("log = %q, want the line the pump read", b)
	}
}
