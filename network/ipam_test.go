package network

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestAllocateInOrderAndExhaustion(t *testing.T) {
	n := netWith("small", "192.0.2.0/29") // .1 gateway, .2-.6 free, .7 broadcast
	var got []string
	for i := 0; i < 5; i++ {
		a, err := allocate(n, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
		n.Containers[fmt.Sprint(i)] = &Endpoint{Name: fmt.Sprint(i), IPv4Address: netip.PrefixFrom(a, 29).String()}
		n.LastIP = a.String()
	}
	if strings.Join(got, " ") != "192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6" {
		t.Fatalf("allocation order %v", got)
	}
	if _, err := allocate(n, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("exhausted network: %v", err)
	}
	// Releasing is deleting the endpoint; the address comes back.
	delete(n.Containers, "2")
	a, err := allocate(n, netip.Addr{})
	if err != nil || a.String() != "192.0.2.4" {
		t.Fatalf("after release got %v %v", a, err)
	}
}

func TestAllocateSkipsRecentlyReleased(t *testing.T) {
	n := netWith("n", "10.78.9.0/24")
	n.LastIP = "10.78.9.5" // .2-.5 were handed out, .2 released since
	n.Containers["x"] = &Endpoint{IPv4Address: "10.78.9.3/24"}
	a, err := allocate(n, netip.Addr{})
	if err != nil || a.String() != "10.78.9.6" {
		t.Fatalf("got %v %v: the cursor should go on after .5", a, err)
	}
	n.LastIP = "10.78.9.254" // wraps around to the start
	if a, _ := allocate(n, netip.Addr{}); a.String() != "10.78.9.2" {
		t.Fatalf("wrap: %v", a)
	}
}

func TestAllocateRequested(t *testing.T) {
	n := netWith("n", "10.78.9.0/24")
	n.Containers["x"] = &Endpoint{Name: "web", IPv4Address: "10.78.9.10/24"}
	if a, err := allocate(n, netip.MustParseAddr("10.78.9.20")); err != nil || a.String() != "10.78.9.20" {
		t.Fatalf("%v %v", a, err)
	}
	for ip, want := range map[string]string{
		"10.78.9.10":  "in use on network n (by container web)",
		"10.78.9.1":   "by the gateway",
		"10.78.9.255": "broadcast",
		"10.78.10.1":  "not in network n's subnet",
	} {
		_, err := allocate(n, netip.MustParseAddr(ip))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", ip, err, want)
		}
	}
}

// storeOnlyNetwork writes a network's record without touching the host:
// Reserve only needs the record, so IPAM is tested without root.
func storeOnlyNetwork(t *testing.T, subnet string) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	m, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := netWith("ipam", subnet)
	n.ID = newID()
	n.Bridge = "mr-" + n.ID[:12]
	if err := m.save(n); err != nil {
		t.Fatal(err)
	}
	return m, root
}

func TestReserveConcurrentGoroutines(t *testing.T) {
	m, _ := storeOnlyNetwork(t, "10.78.200.0/24")
	const workers, each = 10, 10
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Each goroutine opens its own Manager, as a separate
			// `minirun run` would.
			m2, err := Open(strings.TrimSuffix(m.Dir(), "/network"), nil)
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("%02x%062x", w, i)
				ep, err := m2.Reserve("ipam", id, "", EndpointOpts{})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if other, dup := seen[ep.IP().String()]; dup {
					errs <- fmt.Errorf("%s given to %s and %s", ep.IP(), other, id)
				}
				seen[ep.IP().String()] = id
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := m.Get("ipam")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != workers*each || len(n.Containers) != workers*each {
		t.Fatalf("%d distinct addresses, %d endpoints on disk, want %d", len(seen), len(n.Containers), workers*each)
	}
}

func TestReserveConcurrentProcesses(t *testing.T) {
	m, root := storeOnlyNetwork(t, "10.78.201.0/24")
	const procs, each = 6, 15
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"=reserve",
			fmt.Sprintf("MINIRUN_NETTEST_ARGS=%s ipam %d %08x", root, each, p))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	seen := map[string]bool{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v: %s", i, err, outs[i])
		}
		for _, ip := range strings.Fields(outs[i].String()) {
			if seen[ip] {
				t.Errorf("address %s handed out twice", ip)
			}
			seen[ip] = true
		}
	}
	n, err := m.Get("ipam")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != procs*each || len(n.Containers) != procs*each {
		t.Fatalf("%d distinct addresses, %d endpoints, want %d", len(seen), len(n.Containers), procs*each)
	}
}

func TestReserveRejects(t *testing.T) {
	m, _ := storeOnlyNetwork(t, "10.78.202.0/29")
	id := strings.Repeat("ab", 32)
	if _, err := m.Reserve("ipam", id, "web", EndpointOpts{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		net, id string
		o       EndpointOpts
		want    string
	}{
		{"nope", strings.Repeat("cd", 32), EndpointOpts{}, "no such network: nope"},
		{"ipam", "XYZ", EndpointOpts{}, "invalid container id"},
		{"ipam", id, EndpointOpts{}, "already connected"},
		{"ipam", strings.Repeat("cd", 32), EndpointOpts{IP: "10.78.202.2"}, "already in use"},
		{"ipam", strings.Repeat("cd", 32), EndpointOpts{IP: "banana"}, "invalid --ip"},
		{"ipam", strings.Repeat("cd", 32), EndpointOpts{Aliases: []string{"bad alias"}}, "invalid network alias"},
		{HostNetwork, id, EndpointOpts{}, "cannot be combined"},
	} {
		_, err := m.Reserve(tc.net, tc.id, "", tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Reserve(%s, %.6s, %+v): %v, want one line with %q", tc.net, tc.id, tc.o, err, tc.want)
		}
	}
	// Detach releases the address; doing it twice is fine.
	eps, err := m.Endpoints(id)
	if err != nil || len(eps) != 1 {
		t.Fatalf("endpoints %v %v", eps, err)
	}
	for i := 0; i < 2; i++ {
		if err := m.Detach(eps[0]); err != nil {
			t.Fatal(err)
		}
	}
	if eps, _ := m.Endpoints(id); len(eps) != 0 {
		t.Fatalf("still %d endpoints after Detach", len(eps))
	}
}
