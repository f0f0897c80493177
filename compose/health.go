package compose

// Healthchecks, as Docker's daemon runs them: the test is a process
// started inside the running container (an exec: same namespaces, same
// cgroup), every interval; exit 0 is healthy, anything else a failure, and
// retries failures in a row make the container unhealthy. Failures during
// start_period do not count, and probes come every start_interval then.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minirun/minirun/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// waitHealthy probes the service's container until its healthcheck
// passes, or fails after retries failures (or when the container exits).
func (e *Engine) waitHealthy(p *Project, svc string) error {
	hc := p.Services[svc].HealthCheck
	args, err := healthCommand(hc.Test)
	if err != nil {
		return fmt.Errorf("service %q: healthcheck: %w", svc, err)
	}
	interval := durationOr(hc.Interval, defaultHealthInterval)
	timeout := durationOr(hc.Timeout, defaultHealthTimeout)
	startPeriod := durationOr(hc.StartPeriod, 0)
	startInterval := durationOr(hc.StartInterval, 5*time.Second)
	retries := defaultHealthRetries
	if hc.Retries != nil && *hc.Retries > 0 {
		retries = int(*hc.Retries)
	}
	name := p.ContainerName(svc, 1)
	meta, err := e.Containers.Get(name)
	if err != nil {
		return err
	}
	started := meta.State.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	failures := 0
	var last string
	for {
		// Docker runs the first probe one interval after the start.
		wait := interval
		if time.Since(started) < startPeriod {
			wait = startInterval
		}
		time.Sleep(wait)
		meta, err := e.Containers.Get(name)
		if err != nil {
			return err
		}
		if meta.State.Status != "running" {
			return fmt.Errorf("container %s exited (%d) before it was healthy", name, meta.State.ExitCode)
		}
		code, out, err := e.probe(meta, args, timeout)
		if err == nil && code == 0 {
			return nil
		}
		switch {
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("exit %d", code)
			if out = strings.TrimSpace(out); out != "" {
				last += ": " + out
			}
		}
		if time.Since(started) < startPeriod {
			continue // still starting: not counted
		}
		if failures++; failures >= retries {
			return fmt.Errorf("container %s is unhealthy after %d failed checks (last: %s)", name, failures, last)
		}
	}
}

// probe runs the healthcheck command once in the container, with a
// timeout after which it is killed, and returns its exit code and the
// start of its output (Docker keeps 4 KiB of it).
func (e *Engine) probe(meta *container.Meta, args []string, timeout time.Duration) (int, string, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return -1, "", err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return -1, "", err
	}
	cwd := meta.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	proc, err := e.Containers.Exec(meta.ID, &specs.Process{Args: args, Env: meta.Config.Env, Cwd: cwd}, container.IO{Stdin: devnull, Stdout: w, Stderr: w}, nil)
	w.Close()
	if err != nil {
		r.Close()
		return -1, "", err
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, io.LimitReader(r, 4096))
		io.Copy(io.Discard, r)
		close(copied)
	}()
	timer := time.AfterFunc(timeout, func() { unix.Kill(proc.Pid(), unix.SIGKILL) }) //minirun:nostep the probe's timeout kills its own probe process, which it started, not the container
	code, err := proc.Wait()
	expired := !timer.Stop()
	// A child the test left in the background may hold the pipe open:
	// give the output a moment, then stop reading.
	select {
	case <-copied:
	case <-time.After(time.Second):
	}
	r.Close()
	<-copied
	if expired {
		return -1, out.String(), fmt.Errorf("health check exceeded its timeout of %v", timeout)
	}
	return code, out.String(), err
}
