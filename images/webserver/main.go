// Command webserver is the course's demo web server: one static binary
// (CGO_ENABLED=0, no libc needed) that answers every request with a page
// saying which container answered — its hostname, its addresses, the time
// and how many requests it has served. Start two containers from the same
// image and the pages tell them apart.
//
//	PORT     the port to listen on (8080)
//	MESSAGE  a line to show on the page ("Olá do minirun!")
package main

import (
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// served counts the requests answered, for the page.
var served atomic.Int64

func main() {
	port := getenv("PORT", "8080")
	http.HandleFunc("/", page)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Printf("webserver: listening on :%s", port)
	srv := &http.Server{Addr: ":" + port, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// page writes the answer: plain text for curl, HTML for a browser.
func page(w http.ResponseWriter, r *http.Request) {
	n := served.Add(1)
	host, _ := os.Hostname()
	info := [][2]string{
		{"mensagem / message", getenv("MESSAGE", "Olá do minirun!")},
		{"hostname", host},
		{"endereços / addresses", strings.Join(addresses(), " ")},
		{"cliente / client", r.RemoteAddr},
		{"pedido / request", r.Method + " " + r.URL.RequestURI()},
		{"atendidos / served", fmt.Sprint(n)},
		{"hora / time", time.Now().UTC().Format(time.RFC3339)},
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, kv := range info {
			fmt.Fprintf(w, "%-22s %s\n", kv[0]+":", kv[1])
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><meta charset=utf-8><title>minirun webserver</title><h1>minirun webserver</h1><table>")
	for _, kv := range info {
		fmt.Fprintf(w, "<tr><th align=left>%s</th><td>%s</td></tr>", html.EscapeString(kv[0]), html.EscapeString(kv[1]))
	}
	fmt.Fprint(w, "</table>")
}

// addresses lists the container's IP addresses, loopback left out.
func addresses() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
			out = append(out, ipn.IP.String())
		}
	}
	sort.Strings(out)
	return out
}
