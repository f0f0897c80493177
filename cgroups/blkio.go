package cgroups

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bounds of the v1 blkio weight (CFQ/BFQ) and the v2 io.weight.
const (
	minBlkioWeight = 10
	maxBlkioWeight = 1000
)

// planBlockIO plans block I/O: a proportional weight (how the disk's time
// is shared when it is contended) and hard throttles in bytes or I/O
// operations per second, per device (major:minor, see `ls -l /dev/sda` or
// /proc/partitions).
//
// v1 files: blkio.weight, blkio.weight_device, blkio.throttle.read_bps_device,
// blkio.throttle.write_bps_device, blkio.throttle.read_iops_device,
// blkio.throttle.write_iops_device (one write per device).
// v2 files: io.weight ("default N" or "MAJ:MIN N") and io.max, one line per
// device holding all four throttles: "MAJ:MIN rbps=… wbps=… riops=… wiops=…".
func planBlockIO(res *specs.LinuxResources, v2 bool) ([]Write, error) {
	b := res.BlockIO
	if b == nil {
		return nil, nil
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		return nil, errors.New("linux.resources.blockIO.leafWeight: only the removed CFQ scheduler had leaf weights")
	}
	var out []Write
	if b.Weight != nil && *b.Weight != 0 {
		w, err := blkioWeight(*b.Weight, "linux.resources.blockIO.weight")
		if err != nil {
			return nil, err
		}
		if v2 {
			out = append(out, Write{File: "io.weight", Value: "default " + utoa(weightToIO(w))})
		} else {
			out = append(out, Write{File: "blkio/blkio.weight", Value: utoa(w)})
		}
	}
	for i, d := range b.WeightDevice {
		what := fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i)
		if err := checkDevice(d.LinuxBlockIODevice, what); err != nil {
			return nil, err
		}
		if d.LeafWeight != nil && *d.LeafWeight != 0 {
			return nil, fmt.Errorf("%s.leafWeight: only the removed CFQ scheduler had leaf weights", what)
		}
		if d.Weight == nil {
			continue
		}
		w, err := blkioWeight(*d.Weight, what+".weight")
		if err != nil {
			return nil, err
		}
		dev := fmt.Sprintf("%d:%d ", d.Major, d.Minor)
		if v2 {
			out = append(out, Write{File: "io.weight", Value: dev + utoa(weightToIO(w))})
		} else {
			out = append(out, Write{File: "blkio/blkio.weight_device", Value: dev + utoa(w)})
		}
	}
	throttles := []struct {
		list   []specs.LinuxThrottleDevice
		field  string // name in the OCI config
		v1File string
		v2Key  string
	}{
		{b.ThrottleReadBpsDevice, "throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"},
		{b.ThrottleWriteBpsDevice, "throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"},
		{b.ThrottleReadIOPSDevice, "throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"},
		{b.ThrottleWriteIOPSDevice, "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"},
	}
	// v2 gathers each device's throttles into one io.max line, devices in
	// the order they first appear.
	var devOrder []string
	perDev := map[string][]string{}
	for _, t := range throttles {
		for i, d := range t.list {
			if err := checkDevice(d.LinuxBlockIODevice, fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i)); err != nil {
				return nil, err
			}
			dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
			if !v2 {
				// v1: 0 removes the device's throttle.
				out = append(out, Write{File: "blkio/" + t.v1File, Value: dev + " " + utoa(d.Rate)})
				continue
			}
			rate := utoa(d.Rate)
			if d.Rate == 0 {
				// v2 spells "no throttle" as max (0 would stop all I/O).
				rate = "max"
			}
			if _, ok := perDev[dev]; !ok {
				devOrder = append(devOrder, dev)
			}
			perDev[dev] = append(perDev[dev], t.v2Key+"="+rate)
		}
	}
	for _, dev := range devOrder {
		out = append(out, Write{File: "io.max", Value: dev + " " + strings.Join(perDev[dev], " ")})
	}
	return out, nil
}

func blkioWeight(w uint16, what string) (uint64, error) {
	if w < minBlkioWeight || w > maxBlkioWeight {
		return 0, fmt.Errorf("%s %d: must be between %d and %d", what, w, minBlkioWeight, maxBlkioWeight)
	}
	return uint64(w), nil
}

func checkDevice(d specs.LinuxBlockIODevice, what string) error {
	if d.Major < 0 || d.Minor < 0 || d.Major > 0xfff || d.Minor > 0xfffff {
		return fmt.Errorf("%s: device %d:%d is not a valid major:minor", what, d.Major, d.Minor)
	}
	return nil
}

// weightToIO converts a v1 blkio weight (10..1000, default 500) to a v2
// io.weight (1..10000, default 100) with runc's formula
// (ConvertBlkIOToIOWeightValue): 10 maps to 1 and 1000 to 10000.
func weightToIO(w uint64) uint64 {
	return 1 + (w-minBlkioWeight)*9999/990
}
