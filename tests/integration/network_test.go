//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The course's first network lab: create a network, run a container on it,
// inspect the network, connect a second container, reach one from the other
// by IP and by name, disconnect.
func TestLabNetwork(t *testing.T) {
	ok(t, "network", "create", "--subnet", "10.78.50.0/24", "lab1")
	t.Cleanup(func() { mr(t, "network", "rm", "lab1") })
	runD(t, "srv", "--network", "lab1", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	runD(t, "cli", "busybox", "sleep", "60")
	var nets []map[string]interface{}
	json.Unmarshal([]byte(ok(t, "network", "inspect", "lab1")), &nets)
	if len(nets) != 1 || !strings.Contains(ok(t, "network", "inspect", "lab1"), "srv") {
		t.Fatalf("inspect does not list srv: %v", nets)
	}
	srvIP := strings.Split(ok(t, "exec", "srv", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"), "/")[0]
	if !strings.HasPrefix(srvIP, "10.78.50.") {
		t.Fatalf("srv's address %q is not on the network's subnet", srvIP)
	}
	// cli is on the default bridge only: lab1 is out of its reach.
	if r := mr(t, "exec", "cli", "ping", "-c1", "-W1", srvIP); r.code == 0 {
		t.Fatal("a container on another network reached srv")
	}
	ok(t, "network", "connect", "lab1", "cli")
	if out := ok(t, "exec", "cli", "ip", "-o", "link"); !strings.Contains(out, "eth1") {
		t.Fatalf("no second interface after connect: %s", out)
	}
	if out := ok(t, "exec", "cli", "wget", "-qO-", "http://"+srvIP+"/hostname"); strings.TrimSpace(out) == "" {
		t.Fatal("no answer by IP")
	}
	if out := ok(t, "exec", "cli", "wget", "-qO-", "http://srv/hostname"); strings.TrimSpace(out) == "" {
		t.Fatal("no answer by name")
	}
	ok(t, "network", "disconnect", "lab1", "cli")
	if r := mr(t, "exec", "cli", "ping", "-c1", "-W1", srvIP); r.code == 0 {
		t.Fatal("still reachable after disconnect")
	}
	fails(t, "active endpoints", "network", "rm", "lab1")
}

// The DNS round-robin lab: two web servers share an alias; a third
// container resolves the alias to both, in rotating order, and reaches both.
func TestLabDNSRoundRobin(t *testing.T) {
	ok(t, "network", "create", "lab2")
	t.Cleanup(func() { mr(t, "network", "rm", "lab2") })
	for _, n := range []string{"nginx1", "nginx2"} {
		runD(t, n, "--network", "lab2", "--network-alias", "web", "-h", n, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	}
	out := ok(t, "run", "--rm", "--network", "lab2", "busybox", "sh", "-c", roundRobinScript)
	checkRoundRobin(t, out, "nginx1", "nginx2")
}

// roundRobinScript asks for the alias web four times (the first address
// of each answer) and fetches /hostname through it six times.
const roundRobinScript = "for i in 1 2 3 4; do nslookup web | awk '/^Address: /{print $2}' | head -1; done; for i in 1 2 3 4 5 6; do wget -qO- http://web/hostname; done"

// checkRoundRobin reads roundRobinScript's output: the first address must
// rotate between two, and both hosts must have answered.
func checkRoundRobin(t *testing.T, out, host1, host2 string) {
	t.Helper()
	lines := strings.Fields(out)
	firsts, hosts := map[string]bool{}, map[string]bool{}
	for _, l := range lines {
		if strings.Count(l, ".") == 3 {
			firsts[l] = true
		} else {
			hosts[l] = true
		}
	}
	if len(firsts) != 2 {
		t.Fatalf("the first answer did not rotate between two addresses: %q", out)
	}
	if !hosts[host1] || !hosts[host2] {
		t.Fatalf("both servers should answer through the alias: %q", out)
	}
}

// A published port answers on the host's localhost and on its own address.
func TestPublishedPort(t *testing.T) {
	runD(t, "pub", "-p", "18081:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	id := inspect(t, "pub")["Id"].(string)
	get := func(host string) string {
		c := http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get("http://" + host + ":18081/hostname")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	if got := get("127.0.0.1"); got != id[:12] {
		t.Fatalf("localhost:18081 answered %q", got)
	}
	if ip := hostIP(t); ip != "" {
		if got := get(ip); got != id[:12] {
			t.Fatalf("%s:18081 answered %q", ip, got)
		}
	}
	if out := ok(t, "port", "pub"); !strings.Contains(out, "80/tcp -> 0.0.0.0:18081") {
		t.Fatalf("port: %q", out)
	}
	// The host port is taken now: a second container cannot have it.
	fails(t, "18081", "run", "--rm", "-p", "18081:80", "busybox", "true")
}

func hostIP(t *testing.T) string {
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil {
		return ""
	}
	for _, f := range strings.Fields(string(out)) {
		if ip := net.ParseIP(f); ip != nil && ip.To4() != nil && !strings.HasPrefix(f, "10.7") {
			return f
		}
	}
	return ""
}

func TestNetworkModes(t *testing.T) {
	out := ok(t, "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
	if strings.TrimSpace(out) != "lo" {
		t.Fatalf("--network none: %q", out)
	}
	hostLinks, _ := exec.Command("ls", "/sys/class/net").Output()
	out = ok(t, "run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
	if out != string(hostLinks) {
		t.Fatalf("--network host sees %q, the host %q", out, hostLinks)
	}
	fails(t, "network", "run", "--rm", "--network", "nao-existe", "busybox", "true")
}
