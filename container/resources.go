package container

import (
	"fmt"
	"math"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ResourceFlags are Docker's resource flags of `run` and `update`, as typed.
// Empty strings and zero values mean "not given".
type ResourceFlags struct {
	Memory, MemorySwap, MemoryReservation string
	OOMKillDisable                        bool
	CPUs                                  string
	CPUShares, CPUQuota, CPUPeriod        int64
	CpusetCpus, CpusetMems                string
	PidsLimit                             int64    // 0: not given; -1: unlimited
	BlkioWeight                           int64    // 0: not given; else 10..1000
	DeviceReadBps, DeviceWriteBps         []string // PATH:RATE, e.g. /dev/sda:1mb
	DeviceReadIOps, DeviceWriteIOps       []string // PATH:N
	Devices                               []string // HOST[:CONTAINER[:rwm]]
	BlkioWeightDevice                     []string // PATH:WEIGHT, e.g. /dev/sda:200
	DeviceCgroupRules                     []string // TYPE MAJOR:MINOR ACCESS, e.g. "c 1:3 rwm"
}

// ParseBytes reads Docker's sizes: 512, 10k, 32m, 1g (powers of 1024, any case, an optional trailing b).
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		case 't':
			mult, t = 1<<40, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mult) > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: use a number with an optional unit b, k, m or g", s)
	}
	return int64(v * float64(mult)), nil
}

// Ranges of the numeric flags, Docker's (moby daemon/daemon_unix.go,
// verifyPlatformContainerResources) and the kernel's. Every value is checked
// in the type it was typed in, before it is narrowed to the spec's type:
// --blkio-weight 65636 once became 100 through a uint16.
const (
	minMemory    = 6 << 20 // Docker's linuxMinMemory
	maxMemory    = math.MaxInt64 / 2
	minCPUShares = 2      // cgroup v1 cpu.shares: the kernel's MIN_SHARES
	maxCPUShares = 262144 // and MAX_SHARES (kernel/sched/sched.h)
	minCPUPeriod = 1000   // 1 ms: cpu.cfs_period_us, sched(7)
	maxCPUPeriod = 1000000
	minCPUQuota  = 1000 // 1 ms: Docker's floor for cpu.cfs_quota_us
	minBlkio     = 10   // blkio.weight / io.bfq.weight: Docker's range
	maxBlkio     = 1000
)

// Resources turns the flags into the spec's resources, checking them as
// Docker does, and returns the host devices to add (--device).
func (f ResourceFlags) Resources() (*specs.LinuxResources, []specs.LinuxDevice, error) {
	r := &specs.LinuxResources{}
	if f.Memory != "" || f.MemorySwap != "" || f.MemoryReservation != "" || f.OOMKillDisable {
		r.Memory = &specs.LinuxMemory{}
	}
	if f.Memory != "" {
		m, err := ParseBytes(f.Memory)
		if err != nil {
			return nil, nil, fmt.Errorf("--memory: %w", err)
		}
		if m < minMemory {
			return nil, nil, fmt.Errorf("--memory %s: the minimum is 6m", f.Memory)
		}
		if m > maxMemory {
			// 2 × m below (Docker's default swap) must not wrap around.
			return nil, nil, fmt.Errorf("--memory %s: the maximum is %d bytes", f.Memory, int64(maxMemory))
		}
		r.Memory.Limit = &m
		// Docker's default: as much swap as memory (--memory-swap = 2 × --memory).
		swap := 2 * m
		r.Memory.Swap = &swap
	}
	if f.MemorySwap != "" {
		if r.Memory.Limit == nil {
			return nil, nil, fmt.Errorf("--memory-swap needs --memory")
		}
		var swap int64 = -1
		if f.MemorySwap != "-1" {
			v, err := ParseBytes(f.MemorySwap)
			if err != nil {
				return nil, nil, fmt.Errorf("--memory-swap: %w", err)
			}
			if v < *r.Memory.Limit {
				return nil, nil, fmt.Errorf("--memory-swap %s must be at least --memory %s (it counts memory plus swap)", f.MemorySwap, f.Memory)
			}
			swap = v
		}
		r.Memory.Swap = &swap
	}
	if f.MemoryReservation != "" {
		v, err := ParseBytes(f.MemoryReservation)
		if err != nil {
			return nil, nil, fmt.Errorf("--memory-reservation: %w", err)
		}
		if v < minMemory {
			return nil, nil, fmt.Errorf("--memory-reservation %s: the minimum is 6m", f.MemoryReservation)
		}
		if r.Memory.Limit != nil && v > *r.Memory.Limit {
			return nil, nil, fmt.Errorf("--memory-reservation %s: must be at most --memory %s", f.MemoryReservation, f.Memory)
		}
		r.Memory.Reservation = &v
	}
	if f.OOMKillDisable {
		t := true
		r.Memory.DisableOOMKiller = &t
	}
	if f.CPUs != "" || f.CPUShares != 0 || f.CPUQuota != 0 || f.CPUPeriod != 0 || f.CpusetCpus != "" || f.CpusetMems != "" {
		r.CPU = &specs.LinuxCPU{}
	}
	if f.CPUs != "" {
		if f.CPUQuota != 0 || f.CPUPeriod != 0 {
			return nil, nil, fmt.Errorf("--cpus and --cpu-quota/--cpu-period cannot be used together")
		}
		c, err := strconv.ParseFloat(f.CPUs, 64)
		if err != nil || c <= 0 || math.IsInf(c, 0) || math.IsNaN(c) {
			return nil, nil, fmt.Errorf("--cpus %q: want a positive number such as 0.5", f.CPUs)
		}
		// Docker's range: a quota under 1 ms per 100 ms is 0.01 CPU, and no
		// container gets more CPUs than this machine lets minirun use.
		if n := goruntime.NumCPU(); c < 0.01 || c > float64(n) {
			return nil, nil, fmt.Errorf("--cpus %s: the range is 0.01 to %d.00, as there are only %d CPUs available", f.CPUs, n, n)
		}
		// --cpus N is CFS bandwidth: N × 100 ms of CPU per 100 ms period.
		period := uint64(100000)
		quota := int64(c * float64(period))
		r.CPU.Period, r.CPU.Quota = &period, &quota
	}
	if f.CPUShares != 0 {
		if f.CPUShares < minCPUShares || f.CPUShares > maxCPUShares {
			return nil, nil, fmt.Errorf("--cpu-shares %d: must be between %d and %d", f.CPUShares, minCPUShares, maxCPUShares)
		}
		s := uint64(f.CPUShares)
		r.CPU.Shares = &s
	}
	if f.CPUQuota != 0 {
		// -1 is "no quota" (cgroup v1's cpu.cfs_quota_us, v2's "max").
		if f.CPUQuota != -1 && f.CPUQuota < minCPUQuota {
			return nil, nil, fmt.Errorf("--cpu-quota %d: must be -1 (no limit) or at least %d µs", f.CPUQuota, minCPUQuota)
		}
		q := f.CPUQuota
		r.CPU.Quota = &q
	}
	if f.CPUPeriod != 0 {
		if f.CPUPeriod < minCPUPeriod || f.CPUPeriod > maxCPUPeriod {
			return nil, nil, fmt.Errorf("--cpu-period %d: must be between %d and %d µs", f.CPUPeriod, minCPUPeriod, maxCPUPeriod)
		}
		p := uint64(f.CPUPeriod)
		r.CPU.Period = &p
	}
	if f.CpusetCpus != "" {
		r.CPU.Cpus = f.CpusetCpus
	}
	if f.CpusetMems != "" {
		r.CPU.Mems = f.CpusetMems
	}
	if f.PidsLimit != 0 {
		// Docker: zero or less is unlimited (pids.max "max").
		l := f.PidsLimit
		if l < 0 {
			l = -1
		}
		r.Pids = &specs.LinuxPids{Limit: &l}
	}
	bio := &specs.LinuxBlockIO{}
	useBio := false
	if f.BlkioWeight != 0 {
		if f.BlkioWeight < minBlkio || f.BlkioWeight > maxBlkio {
			return nil, nil, fmt.Errorf("--blkio-weight %d: must be between %d and %d (0 leaves it unset)", f.BlkioWeight, minBlkio, maxBlkio)
		}
		w := uint16(f.BlkioWeight) // in range: no bits lost
		bio.Weight, useBio = &w, true
	}
	for _, t := range []struct {
		flag  string
		vals  []string
		bytes bool
		dst   *[]specs.LinuxThrottleDevice
	}{
		{"--device-read-bps", f.DeviceReadBps, true, &bio.ThrottleReadBpsDevice},
		{"--device-write-bps", f.DeviceWriteBps, true, &bio.ThrottleWriteBpsDevice},
		{"--device-read-iops", f.DeviceReadIOps, false, &bio.ThrottleReadIOPSDevice},
		{"--device-write-iops", f.DeviceWriteIOps, false, &bio.ThrottleWriteIOPSDevice},
	} {
		for _, v := range t.vals {
			td, err := throttleDevice(v, t.bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", t.flag, v, err)
			}
			*t.dst = append(*t.dst, td)
			useBio = true
		}
	}
	for _, v := range f.BlkioWeightDevice {
		wd, err := weightDevice(v)
		if err != nil {
			return nil, nil, fmt.Errorf("--blkio-weight-device %s: %w", v, err)
		}
		bio.WeightDevice = append(bio.WeightDevice, wd)
		useBio = true
	}
	if useBio {
		r.BlockIO = bio
	}
	for _, v := range f.DeviceCgroupRules {
		rule, err := DeviceCgroupRule(v)
		if err != nil {
			return nil, nil, fmt.Errorf("--device-cgroup-rule %q: %w", v, err)
		}
		r.Devices = append(r.Devices, rule)
	}
	var devs []specs.LinuxDevice
	for _, d := range f.Devices {
		dev, rule, err := hostDevice(d)
		if err != nil {
			return nil, nil, fmt.Errorf("--device %s: %w", d, err)
		}
		devs = append(devs, dev)
		r.Devices = append(r.Devices, rule)
	}
	return r, devs, nil
}

// weightDevice parses PATH:WEIGHT (--blkio-weight-device) into the
// device's numbers and its weight, in --blkio-weight's range.
func weightDevice(v string) (specs.LinuxWeightDevice, error) {
	major, minor, weight, err := blockDeviceArg(v, "DEVICE:WEIGHT")
	if err != nil {
		return specs.LinuxWeightDevice{}, err
	}
	n, err := strconv.ParseUint(weight, 10, 16)
	if err != nil || n < minBlkio || n > maxBlkio {
		return specs.LinuxWeightDevice{}, fmt.Errorf("weight %q: must be between %d and %d", weight, minBlkio, maxBlkio)
	}
	w := uint16(n)
	wd := specs.LinuxWeightDevice{Weight: &w}
	wd.Major, wd.Minor = major, minor
	return wd, nil
}

// DeviceCgroupRule parses Docker's --device-cgroup-rule, "TYPE MAJOR:MINOR
// ACCESS": type a (all), b (block) or c (character), a number or * for
// each of major and minor, and some of r (read), w (write), m (mknod).
// The rule allows what it names, after the default rules: it lets a
// container use a device that appears later (one plugged in while it
// runs, made with mknod or bind-mounted in) without --device's node.
func DeviceCgroupRule(v string) (specs.LinuxDeviceCgroup, error) {
	f := strings.Fields(v)
	bad := fmt.Errorf("want TYPE MAJOR:MINOR ACCESS, such as 'c 1:3 rwm' or 'b 8:* r'")
	if len(f) != 3 || (f[0] != "a" && f[0] != "b" && f[0] != "c") || f[2] == "" || strings.Trim(f[2], "rwm") != "" || len(f[2]) > 3 {
		return specs.LinuxDeviceCgroup{}, bad
	}
	maj, min, ok := strings.Cut(f[1], ":")
	if !ok {
		return specs.LinuxDeviceCgroup{}, bad
	}
	num := func(s string) (*int64, error) {
		if s == "*" {
			return nil, nil // the spec's wildcard: no number
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, bad
		}
		return &n, nil
	}
	major, err := num(maj)
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	minor, err := num(min)
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: major, Minor: minor, Access: f[2]}, nil
}

// throttleDevice parses PATH:RATE into the device's numbers and the rate.
func throttleDevice(v string, bytes bool) (specs.LinuxThrottleDevice, error) {
	major, minor, rate, err := blockDeviceArg(v, "DEVICE:RATE")
	if err != nil {
		return specs.LinuxThrottleDevice{}, err
	}
	var n int64
	if bytes {
		n, err = ParseBytes(rate)
	} else {
		n, err = strconv.ParseInt(rate, 10, 64)
	}
	if err != nil || n <= 0 {
		return specs.LinuxThrottleDevice{}, fmt.Errorf("invalid rate %q", rate)
	}
	td := specs.LinuxThrottleDevice{Rate: uint64(n)}
	td.Major, td.Minor = major, minor
	return td, nil
}

// blockDeviceArg splits a PATH:VALUE flag and stats PATH, which must be a
// block device on the host; want is the form named in the error.
func blockDeviceArg(v, want string) (major, minor int64, value string, err error) {
	path, value, ok := strings.Cut(v, ":")
	if !ok {
		return 0, 0, "", fmt.Errorf("want %s", want)
	}
	major, minor, typ, err := deviceNumbers(path)
	if err != nil {
		return 0, 0, "", err
	}
	if typ != "b" {
		return 0, 0, "", fmt.Errorf("%s is not a block device", path)
	}
	return major, minor, value, nil
}

// deviceNumbers stats a device node on the host.
func deviceNumbers(path string) (major, minor int64, typ string, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, "", fmt.Errorf("stat %s: %w", path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFCHR:
		typ = "c"
	default:
		return 0, 0, "", fmt.Errorf("%s is not a device", path)
	}
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), typ, nil
}

// hostDevice parses --device HOST[:CONTAINER[:PERMISSIONS]].
func hostDevice(v string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	parts := strings.Split(v, ":")
	host, ctr, perms := parts[0], parts[0], "rwm"
	if len(parts) > 1 && parts[1] != "" {
		ctr = parts[1]
	}
	if len(parts) > 2 {
		perms = parts[2]
	}
	if len(parts) > 3 || strings.Trim(perms, "rwm") != "" || !strings.HasPrefix(ctr, "/") {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, fmt.Errorf("want HOST[:CONTAINER[:rwm]]")
	}
	major, minor, typ, err := deviceNumbers(host)
	if err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, err
	}
	fi, _ := os.Stat(host)
	mode := fi.Mode().Perm()
	dev := specs.LinuxDevice{Path: ctr, Type: typ, Major: major, Minor: minor, FileMode: &mode}
	rule := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms}
	return dev, rule, nil
}
