package container

import (
	"testing"
	"time"

	"github.com/minirun/minirun/cgroups"
)

func TestParseNetDev(t *testing.T) {
	const table = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0:    1296      14    1    2    0     0          0         0      656       8    3    4    0     0       0          0
`
	got := parseNetDev(table)
	want := NetDev{RxBytes: 1296, RxPackets: 14, RxErrors: 1, RxDropped: 2, TxBytes: 656, TxPackets: 8, TxErrors: 3, TxDropped: 4}
	if len(got) != 1 || got["eth0"] != want {
		t.Fatalf("parseNetDev = %+v, want only eth0 %+v", got, want)
	}
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Unix(100, 0)
	a := &Sample{Read: t0, Cgroup: &cgroups.Stats{CPUUsage: 1e9}}
	b := &Sample{Read: t0.Add(2 * time.Second), Cgroup: &cgroups.Stats{CPUUsage: 2e9}}
	if p := CPUPercent(a, b); p != 50 {
		t.Fatalf("1 s of CPU in 2 s = %v%%, want 50", p)
	}
	if p := CPUPercent(b, a); p != 0 {
		t.Fatalf("backwards = %v, want 0", p)
	}
}
