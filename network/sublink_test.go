package network

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

// A dry session on a macvlan network without a parent (Docker's dummy
// parent, internal): every step has its anchor in docs/network.md and
// both languages, and they come in the order a real session takes them.
func TestSublinkDrySession(t *testing.T) {
	rec := &explain.Recorder{}
	tr := explain.NewDryRun(rec)
	m, err := Open(t.TempDir(), tr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Create(CreateOpts{Name: "lan", Driver: DriverMacvlan, Subnet: "10.79.70.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Internal || !n.CreatedParent || !strings.HasPrefix(n.Options[OptParent], "mrdm-") || n.Options[OptMacvlanMode] != "bridge" {
		t.Fatalf("a macvlan network without a parent: %+v", n)
	}
	web := strings.Repeat("ab", 32)
	ep, err := m.Reserve("lan", web, "web", EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.IPv4Address != "10.79.70.2/24" || ep.Gateway != "" {
		t.Fatalf("endpoint %+v: want 10.79.70.2/24 and no gateway (internal)", ep)
	}
	if err := m.Attach(ep, 0, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := m.Disconnect("lan", web); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("lan"); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../docs/network.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range rec.Events {
		st := ev.Step
		if st.Title.PT == "" || st.Title.EN == "" || st.Why.PT == "" || st.Why.EN == "" || st.Shell == "" {
			t.Errorf("step %s lacks a title, a reason (pt and en) or its shell equivalent", st.ID)
		}
		if !strings.Contains(string(page), `<a id="`+st.ID+`"></a>`) {
			t.Errorf("docs/network.md has no anchor for %s", st.ID)
		}
	}
	want := []string{StepDriverCheck, StepState, StepParent, StepIPAM, StepSublink, StepMoveLink, StepAddr, StepJoin,
		StepSublinkDelete, StepIPAMRelease, StepParentDelete, StepStateDelete}
	if got := rec.IDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("order of the steps:\n got %v\nwant %v", got, want)
	}
}

// Docker's options and messages, refused before anything is made.
func TestSublinkCreateErrors(t *testing.T) {
	m, err := Open(t.TempDir(), explain.NewDryRun(&explain.Recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(CreateOpts{Name: "a", Driver: DriverMacvlan, Subnet: "10.79.71.0/24"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    CreateOpts
		want string
	}{
		{CreateOpts{Driver: DriverMacvlan, Options: map[string]string{OptMacvlanMode: "bogus"}},
			"requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default"},
		{CreateOpts{Driver: DriverIPvlan, Options: map[string]string{OptIPvlanMode: "l9"}},
			"requested ipvlan mode 'l9' is not valid, 'l2' mode is the ipvlan driver default"},
		{CreateOpts{Driver: DriverIPvlan, Options: map[string]string{OptMacvlanMode: "bridge"}},
			`unknown ipvlan network option "macvlan_mode": the ipvlan driver takes parent, ipvlan_mode, ipvlan_flag`},
		{CreateOpts{Driver: DriverMacvlan, Options: map[string]string{OptParent: "lo"}},
			"loopback interface is not a valid macvlan parent link"},
		{CreateOpts{Driver: DriverMacvlan, Subnet: "10.79.71.128/25"},
			"Pool overlaps with other one on this address space: subnet 10.79.71.128/25 overlaps network a (10.79.71.0/24)"},
		{CreateOpts{Driver: DriverMacvlan, Subnet: "10.79.72.0/24", Options: map[string]string{OptParent: "mrnosuch"}},
			"invalid subinterface vlan name mrnosuch, example formatting is eth0.10"},
		{CreateOpts{Driver: DriverMacvlan, Subnet: "10.79.72.0/24", Options: map[string]string{OptParent: "mrnosuch.10"}},
			"-o parent interface was not found on the host: mrnosuch"},
		{CreateOpts{Driver: DriverMacvlan, Subnet: "10.79.72.0/24", Options: map[string]string{OptParent: "mrnosuch.x"}},
			"unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)"},
		// A mistyped parent on an --internal network is no dummy to make.
		{CreateOpts{Driver: DriverMacvlan, Subnet: "10.79.72.0/24", Internal: true, Options: map[string]string{OptParent: "mrnosuch"}},
			"invalid subinterface vlan name mrnosuch, example formatting is eth0.10"},
	} {
		c.o.Name = "b"
		_, err := m.Create(c.o)
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
	// By name only: Get("b") also finds a network whose id starts with b,
	// as network a's random id does once in 16 runs.
	if nets, _ := m.List(); len(nets) != 3 {
		t.Errorf("a refused network is listed: %d networks", len(nets))
	}
}

// Aliases and published ports have nothing to work with on these drivers.
func TestSublinkReserveRefuses(t *testing.T) {
	m, err := Open(t.TempDir(), explain.NewDryRun(&explain.Recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(CreateOpts{Name: "l", Driver: DriverIPvlan, Subnet: "10.79.73.0/24", Options: map[string]string{OptIPvlanMode: "l3"}}); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("cd", 32)
	if _, err := m.Reserve("l", id, "c", EndpointOpts{Aliases: []string{"x"}}); err == nil || !strings.Contains(err.Error(), "aliases need minirun's DNS server") {
		t.Errorf("alias: %v", err)
	}
	if _, err := m.Reserve("l", id, "c", EndpointOpts{Ports: []PortMapping{{ContainerPort: 80, Proto: "tcp"}}}); err == nil || !strings.Contains(err.Error(), "cannot publish ports on ipvlan network l") {
		t.Errorf("ports: %v", err)
	}
	ep, err := m.Reserve("l", id, "c", EndpointOpts{IP: "10.79.73.9"})
	if err != nil || ep.IPv4Address != "10.79.73.9/24" || ep.Gateway != "" {
		t.Errorf("--ip on ipvlan l3: %+v, %v (l3 has no gateway)", ep, err)
	}
}

// The default route's step says what the gateway is on each driver: the
// host, which NATs, on a bridge; a router of the parent's LAN, with no
// NAT, on macvlan and ipvlan l2; none at all on ipvlan l3, whose route
// leaves through the container's own link.
func TestRouteStepFitsTheDriver(t *testing.T) {
	ep := &Endpoint{ContainerID: strings.Repeat("ab", 32), IPv4Address: "192.168.1.5/24"}
	ipam := IPAM{Driver: "default", Config: []IPAMConfig{{Subnet: "192.168.1.0/24", Gateway: "192.168.1.1"}}}
	route := func(plan explain.Plan) explain.Step {
		t.Helper()
		last := plan[len(plan)-1]
		if last.ID != StepRoute && last.ID != StepRouteDev {
			t.Fatalf("the plan ends with %s, not a default route", last.ID)
		}
		return last
	}
	natted := func(s explain.Step) bool {
		return strings.Contains(s.Why.PT, "NAT") && !strings.Contains(s.Why.PT, "sem NAT")
	}
	br := route(attachPlan(&Network{Driver: DriverBridge, IPAM: ipam}, ep, 0, "eth0"))
	if br.ID != StepRoute || !natted(br) || !strings.Contains(br.Why.EN, "NATs it") ||
		br.Shell != "nsenter -t $PID -n ip route add default via 192.168.1.1 dev eth0" {
		t.Errorf("bridge: %s %q %+v", br.ID, br.Shell, br.Why)
	}
	for _, n := range []*Network{
		{Driver: DriverMacvlan, IPAM: ipam, Options: map[string]string{OptParent: "eth1", OptMacvlanMode: "bridge"}},
		{Driver: DriverIPvlan, IPAM: ipam, Options: map[string]string{OptParent: "eth1", OptIPvlanMode: "l2", OptIPvlanFlag: "bridge"}},
	} {
		st := route(sublinkAttachPlan(n, ep, 0, "eth0"))
		if st.ID != StepRoute || natted(st) || strings.Contains(st.Why.EN, "NATs") || !strings.Contains(st.Why.EN, "no NAT") ||
			!strings.Contains(st.Why.PT, "LAN do pai") || !strings.Contains(st.Why.EN, "parent's LAN") ||
			st.Shell != "nsenter -t $PID -n ip route add default via 192.168.1.1 dev eth0" {
			t.Errorf("%s: %s %q %+v", n.Driver, st.ID, st.Shell, st.Why)
		}
	}
	l3 := &Network{Driver: DriverIPvlan, IPAM: ipam, Options: map[string]string{OptParent: "eth1", OptIPvlanMode: "l3", OptIPvlanFlag: "bridge"}}
	st := route(sublinkAttachPlan(l3, ep, 0, "eth0"))
	if st.ID != StepRouteDev || natted(st) || !strings.Contains(st.Why.EN, "no gateway") ||
		st.Shell != "nsenter -t $PID -n ip route add default dev eth0" || st.UndoShell != "nsenter -t $PID -n ip route del default dev eth0" {
		t.Errorf("ipvlan l3: %s %q %q %+v", st.ID, st.Shell, st.UndoShell, st.Why)
	}
}
