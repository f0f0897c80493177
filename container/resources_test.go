package container

import (
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "10k": 10240, "32m": 32 << 20, "32M": 32 << 20, "1g": 1 << 30, "1gb": 1 << 30, "1.5m": 3 << 19} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1m", "12q"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}

func TestResources(t *testing.T) {
	r, _, err := ResourceFlags{Memory: "32m", CPUs: "0.5", PidsLimit: 10, CPUShares: 512, CpusetCpus: "0"}.Resources()
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 32<<20 || *r.Memory.Swap != 64<<20 {
		t.Errorf("memory %d swap %d; Docker gives as much swap as memory", *r.Memory.Limit, *r.Memory.Swap)
	}
	if *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || r.CPU.Cpus != "0" {
		t.Errorf("cpu %+v", r.CPU)
	}
	if *r.Pids.Limit != 10 {
		t.Errorf("pids %d", *r.Pids.Limit)
	}
	r, _, _ = ResourceFlags{Memory: "32m", MemorySwap: "-1"}.Resources()
	if *r.Memory.Swap != -1 {
		t.Errorf("--memory-swap -1 gives %d", *r.Memory.Swap)
	}
	r, _, err = ResourceFlags{DeviceReadBps: []string{"/dev/null:1mb"}}.Resources()
	if err == nil {
		t.Error("a character device was accepted for --device-read-bps")
	}
	r, devs, err := ResourceFlags{Devices: []string{"/dev/null:/dev/nada:r"}}.Resources()
	if err != nil || len(devs) != 1 || devs[0].Path != "/dev/nada" || devs[0].Major != 1 || devs[0].Minor != 3 || r.Devices[0].Access != "r" {
		t.Errorf("--device: %v %+v %+v", err, devs, r.Devices)
	}
	for _, c := range []struct {
		f    ResourceFlags
		want string
	}{
		{ResourceFlags{Memory: "1m"}, "minimum is 6m"},
		{ResourceFlags{MemorySwap: "64m"}, "needs --memory"},
		{ResourceFlags{Memory: "64m", MemorySwap: "32m"}, "at least"},
		{ResourceFlags{CPUs: "abc"}, "--cpus"},
		{ResourceFlags{CPUs: "1", CPUQuota: 5000}, "together"},
		{ResourceFlags{BlkioWeight: 5}, "between 10 and 1000"},
		{ResourceFlags{Devices: []string{"/nao/existe"}}, "stat"},
	} {
		if _, _, err := c.f.Resources(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.f, err, c.want)
		}
	}
}

func TestSELinuxLabel(t *testing.T) {
	got, err := seLinuxLabel("system_u:system_r:container_t:s0", "type:spc_t")
	if err != nil || got != "system_u:system_r:spc_t:s0" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := seLinuxLabel("a:b:c:d", "colour:red"); err == nil {
		t.Fatal("a bad option was accepted")
	}
}
