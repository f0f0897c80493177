package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64    { return &v }
func u64(v uint64) *uint64  { return &v }
func u16(v uint16) *uint16  { return &v }
func u32(v uint32) *uint32  { return &v }
func boolp(v bool) *bool    { return &v }
func w(f, v string) Write   { return Write{File: f, Value: v} }
func opt(f, v string) Write { return Write{File: f, Value: v, Optional: true} }

func dev(major, minor int64) specs.LinuxBlockIODevice {
	return specs.LinuxBlockIODevice{Major: major, Minor: minor}
}

func TestPlanV1(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want []Write
	}{
		{"nil resources", nil, nil},
		{"empty resources", &specs.LinuxResources{}, nil},
		{"memory: limit before memsw, then the rest", &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: i64(100 << 20), Swap: i64(200 << 20), Reservation: i64(50 << 20),
			Swappiness: u64(10), DisableOOMKiller: boolp(true),
		}}, []Write{
			w("memory/memory.limit_in_bytes", "104857600"),
			opt("memory/memory.memsw.limit_in_bytes", "209715200"),
			w("memory/memory.soft_limit_in_bytes", "52428800"),
			w("memory/memory.swappiness", "10"),
			w("memory/memory.oom_control", "1"),
		}},
		{"memory: unlimited lifts memsw too", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}, []Write{
			w("memory/memory.limit_in_bytes", "-1"),
			opt("memory/memory.memsw.limit_in_bytes", "-1"),
		}},
		{"memory: zero means unset", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(0), Swap: i64(0)}}, nil},
		{"cpu: period before quota, burst after", &specs.LinuxResources{CPU: &specs.LinuxCPU{
			Shares: u64(512), Quota: i64(50000), Period: u64(100000), Burst: u64(10000), Idle: i64(0),
		}}, []Write{
			w("cpu/cpu.shares", "512"),
			w("cpu/cpu.cfs_period_us", "100000"),
			w("cpu/cpu.cfs_quota_us", "50000"),
			w("cpu/cpu.cfs_burst_us", "10000"),
			w("cpu/cpu.idle", "0"),
		}},
		{"cpu: unlimited quota and realtime", &specs.LinuxResources{CPU: &specs.LinuxCPU{
			Quota: i64(-1), RealtimePeriod: u64(1000000), RealtimeRuntime: i64(950000),
		}}, []Write{
			w("cpu/cpu.cfs_quota_us", "-1"),
			w("cpu/cpu.rt_period_us", "1000000"),
			w("cpu/cpu.rt_runtime_us", "950000"),
		}},
		{"cpuset", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1,3", Mems: "0"}}, []Write{
			w("cpuset/cpuset.cpus", "0-1,3"),
			w("cpuset/cpuset.mems", "0"),
		}},
		{"pids: limit", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(64)}}, []Write{w("pids/pids.max", "64")}},
		{"pids: -1 is max", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, []Write{w("pids/pids.max", "max")}},
		{"pids: 0 is a real limit (runtime-spec 1.3)", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, []Write{w("pids/pids.max", "0")}},
		{"pids: nil leaves it alone", &specs.LinuxResources{Pids: &specs.LinuxPids{}}, nil},
		{"blkio", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			Weight:                 u16(500),
			WeightDevice:           []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: u16(300)}},
			ThrottleReadBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1048576}},
			ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 0}},
			ThrottleReadIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: dev(8, 0), Rate: 50}, {LinuxBlockIODevice: dev(253, 1), Rate: 7}},
		}}, []Write{
			w("blkio/blkio.weight", "500"),
			w("blkio/blkio.weight_device", "8:0 300"),
			w("blkio/blkio.throttle.read_bps_device", "8:0 1048576"),
			w("blkio/blkio.throttle.write_bps_device", "8:16 0"),
			w("blkio/blkio.throttle.read_iops_device", "8:0 100"),
			w("blkio/blkio.throttle.write_iops_device", "8:0 50"),
			w("blkio/blkio.throttle.write_iops_device", "253:1 7"),
		}},
		{"devices: deny all first, then the rules in order", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"},
			{Allow: true, Type: "c", Access: "m"},
			{Allow: false, Type: "b", Major: i64(8), Access: "wr"},
		}}, []Write{
			w("devices/devices.deny", "a"),
			w("devices/devices.allow", "c 1:3 rw"),
			w("devices/devices.allow", "c *:* m"),
			w("devices/devices.deny", "b 8:* rw"),
		}},
		{"devices: a config that starts with a reset keeps it", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: ""},
			{Allow: true, Type: "a", Major: i64(-1)},
		}}, []Write{
			w("devices/devices.deny", "a"),
			w("devices/devices.allow", "c 1:5 rwm"),
			w("devices/devices.allow", "a"),
		}},
		{"hugetlb", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}, []Write{
			w("hugetlb/hugetlb.2MB.limit_in_bytes", "4194304"),
			opt("hugetlb/hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
		}},
		{"network", &specs.LinuxResources{Network: &specs.LinuxNetwork{
			ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}},
		}}, []Write{
			w("net_cls/net_cls.classid", "1048577"),
			w("net_prio/net_prio.ifpriomap", "eth0 5"),
		}},
		{"rdma in name order", &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{
			"mlx5_1": {HcaHandles: u32(3)},
			"mlx4_0": {HcaHandles: u32(2), HcaObjects: u32(2000)},
		}}, []Write{
			w("rdma/rdma.max", "mlx4_0 hca_handle=2 hca_object=2000"),
			w("rdma/rdma.max", "mlx5_1 hca_handle=3"),
		}},
		{"controllers in Plan's order", &specs.LinuxResources{
			Pids:    &specs.LinuxPids{Limit: i64(10)},
			Memory:  &specs.LinuxMemory{Limit: i64(1 << 30)},
			CPU:     &specs.LinuxCPU{Shares: u64(100), Cpus: "0"},
			Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		}, []Write{
			w("devices/devices.deny", "a"),
			w("cpuset/cpuset.cpus", "0"),
			w("cpu/cpu.shares", "100"),
			w("memory/memory.limit_in_bytes", "1073741824"),
			w("pids/pids.max", "10"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []Mode{Legacy, Hybrid} {
				got, err := Plan(tt.res, mode)
				if err != nil {
					t.Fatalf("Plan(%v): %v", mode, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Plan(%v):\n got  %v\n want %v", mode, got, tt.want)
				}
			}
		})
	}
}

func TestPlanV2(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want []Write
	}{
		{"cpu: weight from shares, max with period", &specs.LinuxResources{CPU: &specs.LinuxCPU{
			Shares: u64(1024), Quota: i64(50000), Period: u64(200000), Burst: u64(1000), Idle: i64(1),
		}}, []Write{
			w("cpu.weight", "39"),
			w("cpu.max", "50000 200000"),
			w("cpu.max.burst", "1000"),
			w("cpu.idle", "1"),
		}},
		{"cpu: weight bounds", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(2)}}, []Write{w("cpu.weight", "1")}},
		{"cpu: weight top", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(262144)}}, []Write{w("cpu.weight", "10000")}},
		{"cpu: quota alone gets the default period", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(25000)}}, []Write{w("cpu.max", "25000 100000")}},
		{"cpu: unlimited quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}}, []Write{w("cpu.max", "max 100000")}},
		{"cpu: period alone", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}}, []Write{w("cpu.max", "max 50000")}},
		{"cpuset", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "1", Mems: "0-1"}}, []Write{
			w("cpuset.cpus", "1"), w("cpuset.mems", "0-1")}},
		{"memory: swap.max is memsw minus limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: i64(100 << 20), Swap: i64(300 << 20), Reservation: i64(10 << 20),
		}}, []Write{
			w("memory.max", "104857600"),
			w("memory.swap.max", "209715200"),
			w("memory.low", "10485760"),
		}},
		{"memory: swap equal to limit means no swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: i64(64 << 20), Swap: i64(64 << 20),
		}}, []Write{w("memory.max", "67108864"), w("memory.swap.max", "0")}},
		{"memory: unlimited swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(-1)}},
			[]Write{w("memory.max", "67108864"), w("memory.swap.max", "max")}},
		{"memory: unlimited memory lifts swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			[]Write{w("memory.max", "max"), w("memory.swap.max", "max")}},
		{"memory: limit alone leaves swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}},
			[]Write{w("memory.max", "1048576")}},
		{"memory: v1-only fields that change nothing on v2", &specs.LinuxResources{Memory: &specs.LinuxMemory{
			DisableOOMKiller: boolp(false), UseHierarchy: boolp(true),
		}}, nil},
		{"pids", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, []Write{w("pids.max", "max")}},
		{"io: weight converted, throttles merged per device", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			Weight:                  u16(500),
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: u16(10)}, {LinuxBlockIODevice: dev(8, 16), Weight: u16(1000)}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1048576}, {LinuxBlockIODevice: dev(8, 16), Rate: 0}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 100}},
		}}, []Write{
			w("io.weight", "default 4950"),
			w("io.weight", "8:0 1"),
			w("io.weight", "8:16 10000"),
			w("io.max", "8:0 rbps=1048576 wiops=100"),
			w("io.max", "8:16 rbps=max"),
		}},
		{"devices become a program, not writes", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, nil},
		{"hugetlb", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}}}, []Write{
			w("hugetlb.1GB.max", "1073741824"), opt("hugetlb.1GB.rsvd.max", "1073741824")}},
		{"unified last, sorted, overriding typed fields", &specs.LinuxResources{
			Pids:    &specs.LinuxPids{Limit: i64(5)},
			Unified: map[string]string{"pids.max": "7", "memory.high": "50M"},
		}, []Write{w("pids.max", "5"), w("memory.high", "50M"), w("pids.max", "7")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.res, Unified)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan:\n got  %v\n want %v", got, tt.want)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	both := []Mode{Legacy, Unified}
	v1 := []Mode{Legacy}
	v2 := []Mode{Unified}
	tests := []struct {
		name  string
		modes []Mode
		res   *specs.LinuxResources
		want  string // a piece of the error
	}{
		{"shares too low", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1)}}, "cpu.shares 1"},
		{"shares too high", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(262145)}}, "cpu.shares"},
		{"period too short", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(999)}}, "cpu.period"},
		{"period too long", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(1000001)}}, "cpu.period"},
		{"quota too small", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(500)}}, "cpu.quota 500"},
		{"quota negative", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-2)}}, "cpu.quota -2"},
		{"idle", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(2)}}, "cpu.idle"},
		{"realtime on v2", v2, &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}, "realtime"},
		{"realtime runtime", v1, &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(-5)}}, "realtimeRuntime"},
		{"cpus syntax", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-"}}, "cpu.cpus"},
		{"cpus reversed range", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "3-1"}}, "cpu.cpus"},
		{"mems syntax", both, &specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "zero"}}, "cpu.mems"},
		{"memory limit", both, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-2)}}, "memory.limit -2"},
		{"swap below limit", both, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(100)}}, "memory.swap 100"},
		{"swap with unlimited memory", both, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(100)}}, "memory.swap"},
		{"swap without limit on v2", v2, &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(100)}}, "needs a memory limit"},
		{"kernel memory", both, &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(1 << 20)}}, "memory.kernel"},
		{"swappiness range", v1, &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, "swappiness 101"},
		{"swappiness on v2", v2, &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(10)}}, "swappiness"},
		{"oom killer on v2", v2, &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: boolp(true)}}, "disableOOMKiller"},
		{"no hierarchy on v2", v2, &specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: boolp(false)}}, "useHierarchy"},
		{"tcp memory on v2", v2, &specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(1 << 20)}}, "kernelTCP"},
		{"pids", both, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-2)}}, "pids.limit -2"},
		{"blkio weight low", both, &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(9)}}, "blockIO.weight 9"},
		{"blkio weight high", both, &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(1001)}}, "blockIO.weight 1001"},
		{"blkio leaf weight", both, &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(100)}}, "leafWeight"},
		{"blkio device weight", both, &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: u16(5)}}}}, "weightDevice[0].weight 5"},
		{"blkio device number", both, &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(-1, 0), Rate: 1}}}}, "throttleReadBpsDevice[0]"},
		{"device type", both, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}, "devices[0].type"},
		{"device access", both, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rwx"}}}, "devices[0].access"},
		{"device number", both, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: i64(-3)}}}, "devices[0].major"},
		{"a rule naming a device", both, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false}, {Allow: true, Type: "a", Major: i64(1), Minor: i64(3)}}}, "devices[1]"},
		{"a rule with narrowed access", both, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "r"}}}, "devices[0]"},
		{"hugetlb page size", both, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}}, "pageSize"},
		{"network on v2", v2, &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}}, "net_cls"},
		{"interface name", v1, &specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "a b"}}}}, "priorities[0]"},
		{"unified on v1", v1, &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "unified"},
		{"unified managed file", v2, &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, "manages"},
		{"unified path", v2, &specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, "not a cgroup file"},
		{"unified subdir", v2, &specs.LinuxResources{Unified: map[string]string{"sub/memory.max": "1"}}, "not a cgroup file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range tt.modes {
				got, err := Plan(tt.res, mode)
				if err == nil {
					t.Fatalf("Plan(%v) = %v, want an error containing %q", mode, got, tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Plan(%v) error %q does not contain %q", mode, err, tt.want)
				}
			}
		})
	}
}

func TestConversions(t *testing.T) {
	// The formulas are runc's; these are the values runc produces.
	for shares, weight := range map[uint64]uint64{2: 1, 1024: 39, 2048: 79, 262144: 10000} {
		if got := sharesToWeight(shares); got != weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, weight)
		}
	}
	for blkio, io := range map[uint64]uint64{10: 1, 100: 910, 500: 4950, 1000: 10000} {
		if got := weightToIO(blkio); got != io {
			t.Errorf("weightToIO(%d) = %d, want %d", blkio, got, io)
		}
	}
}

func TestResolvePath(t *testing.T) {
	tests := []struct {
		cgroupsPath, id, want string
	}{
		{"", "abc", "/minirun/abc"},
		{"/custom/place", "abc", "/custom/place"},
		{"/custom//place/", "abc", "/custom/place"},
		{"team/abc", "abc", "/minirun/team/abc"},
		{"", "", ""},
		{"", "a/b", ""},
		{"", "..", ""},
		{"/a/../b", "x", ""},
		{"../escape", "x", ""},
		{"/", "x", ""},
		{"/minirun", "x", ""},
		{"system.slice:docker:abc", "x", ""},
	}
	for _, tt := range tests {
		got, err := resolvePath(tt.cgroupsPath, tt.id)
		if tt.want == "" {
			if err == nil {
				t.Errorf("resolvePath(%q, %q) = %q, want an error", tt.cgroupsPath, tt.id, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolvePath(%q, %q) = %q, %v; want %q", tt.cgroupsPath, tt.id, got, err, tt.want)
		}
	}
	if _, err := Load("relative"); err == nil {
		t.Error("Load accepted a relative path")
	}
	if got := ownedAncestors("/minirun/a/b"); !reflect.DeepEqual(got, []string{"/minirun/a", "/minirun"}) {
		t.Errorf("ownedAncestors = %v", got)
	}
	if got := ownedAncestors("/custom/x"); got != nil {
		t.Errorf("ownedAncestors outside minirun = %v, want none", got)
	}
}

func TestParseV1Mounts(t *testing.T) {
	mountinfo := `25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
27 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
29 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
31 25 0:29 / /mnt/odd\040place rw - cgroup cgroup rw,pids
32 25 0:27 / /elsewhere/memory rw - cgroup cgroup rw,memory
`
	got, err := parseV1Mounts(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "net_cls": "/sys/fs/cgroup/net_cls,net_prio",
		"net_prio": "/sys/fs/cgroup/net_cls,net_prio", "pids": "/mnt/odd place",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseV1Mounts:\n got  %v\n want %v", got, want)
	}
}

func TestCheckList(t *testing.T) {
	for _, ok := range []string{"0", "0-3", "0,2,4-7", "10-10"} {
		if err := checkList(ok); err != nil {
			t.Errorf("checkList(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ",", "a", "1-", "-1", "3-2", "1,,2", "0 1"} {
		if err := checkList(bad); err == nil {
			t.Errorf("checkList(%q) accepted it", bad)
		}
	}
}

func TestDetectMode(t *testing.T) {
	// A plain directory is no cgroup mount: v1 is assumed, and New then
	// reports that no hierarchy is mounted.
	if got := detectMode(t.TempDir()); got != Legacy {
		t.Errorf("detectMode(temp dir) = %v, want %v", got, Legacy)
	}
	if got := detectMode(mountRoot); got.V2() != testutil.CgroupV2() {
		t.Errorf("detectMode(%s) = %v, but testutil.CgroupV2() = %v", mountRoot, got, testutil.CgroupV2())
	}
	if DetectMode() != detectMode(mountRoot) {
		t.Error("DetectMode disagrees with detectMode")
	}
}

// A cgroup write's shell equivalent writes what the step writes: a dry
// run's "$(cat …)" is run by the shell, a plain value is kept as it is.
func TestWriteStepShellRuns(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "parent.cpus")
	if err := os.WriteFile(parent, []byte("0-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{
		"$(cat " + parent + ")": "0-1",
		"max 100000":            "max 100000",
		"it's":                  "it's",
	} {
		target := filepath.Join(dir, "file")
		sh := writeStep(target, value).Shell
		if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", sh, err, out)
		}
		b, _ := os.ReadFile(target)
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s wrote %q, want %q", sh, got, want)
		}
	}
}
