package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// fakeRedis answers INCR on loopback like Redis does, and checks the
// request is well-formed RESP.
func fakeRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	counts := map[string]int{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			var lines []string
			for i := 0; i < 5; i++ {
				l, err := r.ReadString('\n')
				if err != nil {
					break
				}
				lines = append(lines, strings.TrimSuffix(l, "\r\n"))
			}
			if len(lines) == 5 && lines[0] == "*2" && lines[1] == "$4" && lines[2] == "INCR" {
				counts[lines[4]]++
				fmt.Fprintf(c, ":%d\r\n", counts[lines[4]])
			} else {
				io.WriteString(c, "-ERR unknown command\r\n")
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestIncr(t *testing.T) {
	addr := fakeRedis(t)
	for want := int64(1); want <= 3; want++ {
		n, err := incr(addr, "hits")
		if err != nil || n != want {
			t.Fatalf("incr = %d, %v; want %d", n, err, want)
		}
	}
	if got := string(command("INCR", "hits")); got != "*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n" {
		t.Errorf("RESP %q", got)
	}
	if _, err := readInteger(bufio.NewReader(strings.NewReader("-ERR wrong type\r\n"))); err == nil || !strings.Contains(err.Error(), "wrong type") {
		t.Errorf("error reply: %v", err)
	}
	if _, err := incr("127.0.0.1:1", "hits"); err == nil {
		t.Error("incr with no Redis succeeded")
	}
}
