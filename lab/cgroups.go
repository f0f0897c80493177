package lab

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The limits the cgroups lab sets on its container limites: created with
// -m 64m --cpus 0.5 --pids-limit 50, then `update --memory 128m`.
const (
	labMemory    = 128 << 20 // bytes, after the update
	labCPUQuota  = 50000     // µs per period: --cpus 0.5 with the 100 ms period
	labCPUPeriod = 100000
	labPids      = 50
)

// cgroupsLab: an OOM kill, then a container with memory, CPU and pids
// limits, one of them changed while it runs. The limits are read back from
// the cgroup's control files, where the kernel enforces them.
func cgroupsLab() *Lab {
	var pid int
	return &Lab{
		Name:  "cgroups",
		Title: text("limites: memória, CPU, processos", "limits: memory, CPU, processes"),
		Checks: []Check{
			{
				What: text("o contêiner memoria foi morto pelo OOM killer", "container memoria was killed by the OOM killer"),
				Hint: text("rode: minirun run --name memoria -m 32m busybox sh -c 'tail /dev/zero' (sai com 137)",
					"run: minirun run --name memoria -m 32m busybox sh -c 'tail /dev/zero' (exits with 137)"),
				Run: func(e *Env) error {
					meta, err := e.Containers.Get("memoria")
					if err != nil {
						return err
					}
					if !meta.State.OOMKilled {
						return fmt.Errorf("OOMKilled false (status %s, exit %d)", meta.State.Status, meta.State.ExitCode)
					}
					return nil
				},
			},
			{
				What: text("o contêiner limites está rodando", "container limites is running"),
				Hint: text("rode: minirun run -d --name limites -m 64m --cpus 0.5 --pids-limit 50 busybox sh -c 'while :; do :; done'",
					"run: minirun run -d --name limites -m 64m --cpus 0.5 --pids-limit 50 busybox sh -c 'while :; do :; done'"),
				Run: func(e *Env) error {
					meta, err := e.running("limites")
					if err == nil {
						pid = meta.State.Pid
					}
					return err
				},
			},
			{
				What: text("o cgroup de limites tem 128 MiB de memória (depois do update)",
					"limites' cgroup has a 128 MiB memory limit (after the update)"),
				Hint: text("mude o limite com o contêiner rodando: minirun update --memory 128m limites",
					"change the limit while it runs: minirun update --memory 128m limites"),
				Run: func(e *Env) error {
					s, err := e.cgroupFile(pid, "memory", "memory.limit_in_bytes", "memory.max")
					if err != nil {
						return err
					}
					return wantLimit("memory", s, labMemory)
				},
			},
			{
				What: text("o cgroup de limites tem meia CPU (cota 50000 µs a cada 100000 µs)",
					"limites' cgroup has half a CPU (a 50000 µs quota every 100000 µs)"),
				Hint: text("o contêiner precisa de --cpus 0.5: recrie-o (minirun rm -f limites) ou minirun update --cpus 0.5 limites",
					"the container needs --cpus 0.5: create it again (minirun rm -f limites) or minirun update --cpus 0.5 limites"),
				Run: func(e *Env) error {
					quota, period, err := e.cpuQuota(pid)
					if err != nil {
						return err
					}
					if quota != labCPUQuota || period != labCPUPeriod {
						return fmt.Errorf("cota / quota %d, período / period %d", quota, period)
					}
					return nil
				},
			},
			{
				What: text("o cgroup de limites aceita no máximo 50 processos", "limites' cgroup allows at most 50 processes"),
				Hint: text("o contêiner precisa de --pids-limit 50: recrie-o ou minirun update --pids-limit 50 limites",
					"the container needs --pids-limit 50: create it again or minirun update --pids-limit 50 limites"),
				Run: func(e *Env) error {
					s, err := e.cgroupFile(pid, "pids", "pids.max", "pids.max")
					if err != nil {
						return err
					}
					return wantLimit("pids", s, labPids)
				},
			},
		},
	}
}

// wantLimit compares a limit file's content with the lab's value.
func wantLimit(what, s string, want int64) error {
	got, err := limitValue(s)
	if err != nil {
		return err
	}
	if got == -1 {
		return fmt.Errorf("%s: sem limite / no limit (%s)", what, s)
	}
	if got != want {
		return fmt.Errorf("%s: %d, não / not %d", what, got, want)
	}
	return nil
}

// cpuQuota reads the CFS bandwidth of pid's cgroup (the kernel's
// Documentation/scheduler/sched-bwc.rst): v2 keeps "QUOTA PERIOD" in
// cpu.max, v1 keeps them in cpu.cfs_quota_us and cpu.cfs_period_us. A
// quota of -1 ("max") is no limit.
func (e *Env) cpuQuota(pid int) (quota, period int64, err error) {
	v2, err := e.cgroupFile(pid, "cpu", "cpu.cfs_quota_us", "cpu.max")
	if err != nil {
		return 0, 0, err
	}
	if f := strings.Fields(v2); len(f) == 2 { // v2: "50000 100000"
		quota, err = limitValue(f[0])
		if err != nil {
			return 0, 0, err
		}
		period, err = strconv.ParseInt(f[1], 10, 64)
		return quota, period, err
	}
	if quota, err = limitValue(v2); err != nil { // v1: the quota alone
		return 0, 0, err
	}
	p, err := e.cgroupFile(pid, "cpu", "cpu.cfs_period_us", "cpu.max")
	if err != nil {
		return 0, 0, err
	}
	period, err = strconv.ParseInt(p, 10, 64)
	if err != nil {
		return 0, 0, errors.New("cpu.cfs_period_us: " + err.Error())
	}
	return quota, period, nil
}
