// Command contador is the course's counter app ("fams/contador" in the
// slides): a web page on port 5000 that counts its visits in Redis. Each
// visit sends Redis one command, INCR hits, over the Redis protocol (RESP)
// and shows the number it answers — so the count survives the app's
// container and is shared by every copy of it, as long as Redis runs.
//
//	REDIS_HOST  where Redis listens ("redis": the name of its container)
//	REDIS_PORT  6379
//	PORT        the port to serve on (5000)
//
// The RESP client is a few lines on purpose: a command is an array of bulk
// strings ("*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n") and INCR answers an
// integer (":7\r\n"). See https://redis.io/docs/latest/develop/reference/protocol-spec/.
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := net.JoinHostPort(getenv("REDIS_HOST", "redis"), getenv("REDIS_PORT", "6379"))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		n, err := incr(addr, "hits")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "Não consegui falar com o Redis em %s / cannot reach Redis at %s: %v\n", addr, addr, err)
			return
		}
		host, _ := os.Hostname()
		fmt.Fprintf(w, "Olá! Esta página foi vista %d vezes. (contêiner %s)\nHello! This page has been seen %d times. (container %s)\n", n, host, n, host)
	})
	port := getenv("PORT", "5000")
	log.Printf("contador: listening on :%s, Redis at %s", port, addr)
	srv := &http.Server{Addr: ":" + port, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// incr sends INCR key to the Redis at addr and returns the new value. One
// connection per visit keeps the program obvious; Redis does not mind.
func incr(addr, key string) (int64, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(command("INCR", key)); err != nil {
		return 0, err
	}
	return readInteger(bufio.NewReader(conn))
}

// command encodes a Redis command as a RESP array of bulk strings.
func command(args ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}

// readInteger reads one RESP reply that must be an integer (":42\r\n");
// an error reply ("-ERR …\r\n") becomes a Go error.
func readInteger(r *bufio.Reader) (int64, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("read reply: %w", err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, ":"):
		return strconv.ParseInt(line[1:], 10, 64)
	case strings.HasPrefix(line, "-"):
		return 0, fmt.Errorf("redis: %s", line[1:])
	}
	return 0, fmt.Errorf("unexpected reply %q", line)
}
