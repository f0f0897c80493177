package network

import (
	"strings"
	"testing"
	"time"
)

// The checks every driver's Create shares (beginCreate) give the same
// messages on bridge, macvlan and ipvlan, and a refusal taken under the
// lock lets the lock go. The Manager is a real one (no dry run, so the
// flock is real), and nothing here reaches the kernel: each Create is
// refused before its first step.
func TestCreateSharedChecks(t *testing.T) {
	m, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.save(&Network{Name: "taken", ID: newID(), Driver: DriverBridge, Containers: map[string]*Endpoint{}}); err != nil {
		t.Fatal(err)
	}
	for _, driver := range []string{DriverBridge, DriverMacvlan, DriverIPvlan} {
		for _, c := range []struct {
			o    CreateOpts
			want string
		}{
			{CreateOpts{Name: "n", Gateway: "10.79.74.1"}, "--gateway 10.79.74.1 needs --subnet"},
			{CreateOpts{Name: "n", Subnet: "10.79.74.1/24"}, "invalid subnet 10.79.74.1/24: host bits are set, did you mean 10.79.74.0/24?"},
			{CreateOpts{Name: "n", Subnet: "nonsense"}, `invalid subnet "nonsense": expected CIDR like 10.78.5.0/24`},
			{CreateOpts{Name: "taken"}, "network with name taken already exists"},
			{CreateOpts{Name: "taken", Subnet: "10.79.74.0/24"}, "network with name taken already exists"},
		} {
			c.o.Driver = driver
			if _, err := m.Create(c.o); err == nil || err.Error() != c.want {
				t.Errorf("%s %+v: error %v, want %q", driver, c.o, err, c.want)
			}
			got := make(chan func(), 1)
			go func() {
				unlock, err := m.lock()
				if err != nil {
					t.Error(err)
					unlock = func() {}
				}
				got <- unlock
			}()
			select {
			case unlock := <-got:
				unlock()
			case <-time.After(5 * time.Second):
				t.Fatalf("%s %+v: the refused Create still holds the network lock", driver, c.o)
			}
		}
	}
	if nets, err := m.List(); err != nil || len(nets) != 3 || !strings.Contains(nets[2].Name, "taken") {
		t.Errorf("networks after the refusals: %v, %v (want host, none, taken)", nets, err)
	}
}
