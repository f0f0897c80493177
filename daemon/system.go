package daemon

import (
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/container"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// ping is GET and HEAD /_ping: the client's first request, which it reads
// the API-Version header of to pick the version it speaks (API version
// negotiation, client/ping.go). The body is "OK"; HEAD has none.
func (d *Daemon) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Docker-Experimental", "false")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", "0")
		return
	}
	w.Write([]byte("OK"))
}

// version is GET /version: minirun's release, the API versions served,
// and this machine's kernel, as dockerd reports its own.
func (d *Daemon) version(w http.ResponseWriter, r *http.Request) {
	exe, _ := os.Executable()
	writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "minirun"},
		Version:       d.cfg.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernelRelease(),
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: d.cfg.Version, Details: map[string]string{
				"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": goruntime.GOOS, "Arch": goruntime.GOARCH,
				"GoVersion": goruntime.Version(), "KernelVersion": kernelRelease(),
			}},
			// The shim and the OCI runtime are minirun itself, re-executed
			// (`minirun shim`, `minirun init`): there is no containerd or
			// runc binary behind this daemon.
			{Name: "minirun-shim", Version: d.cfg.Version, Details: map[string]string{"Path": exe}},
		},
	})
}

// info is GET /info: counts and this machine's facts, measured, not
// claimed. What minirun does not have (swarm, plugins, a registry
// mirror) is left at its zero value.
func (d *Daemon) info(w http.ResponseWriter, r *http.Request) {
	all, err := d.m.List()
	if err != nil {
		fail(w, err)
		return
	}
	in := system.Info{
		Containers: len(all), Images: 0,
		Driver:      d.storageDriver(),
		MemoryLimit: true, CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, PidsLimit: true,
		IPv4Forwarding:  readTrim("/proc/sys/net/ipv4/ip_forward") == "1",
		NFd:             countDir("/proc/self/fd"),
		NGoroutines:     goruntime.NumGoroutine(),
		SystemTime:      time.Now().Format(time.RFC3339Nano),
		LoggingDriver:   "json-file",
		CgroupDriver:    "cgroupfs",
		CgroupVersion:   cgroupVersion(),
		KernelVersion:   kernelRelease(),
		OperatingSystem: osRelease("PRETTY_NAME"),
		OSVersion:       osRelease("VERSION_ID"),
		OSType:          goruntime.GOOS,
		Architecture:    machine(),
		NCPU:            goruntime.NumCPU(),
		MemTotal:        memTotal(),
		DockerRootDir:   d.m.DataRoot,
		ServerVersion:   d.cfg.Version,
		DefaultRuntime:  "minirun",
		// Containers outlive this daemon (their shims hold them), which
		// is what dockerd's --live-restore promises.
		LiveRestoreEnabled: true,
	}
	in.Swarm.LocalNodeState = "inactive" // no swarm mode, as a dockerd outside one says
	in.Plugins.Volume = []string{"local"}
	in.Plugins.Network = []string{"bridge", "host", "none"}
	in.Plugins.Log = []string{"json-file"}
	for _, ct := range all {
		switch container.StateName(ct) {
		case "running", "restarting":
			in.ContainersRunning++
		case "paused":
			in.ContainersPaused++
		default:
			in.ContainersStopped++
		}
	}
	if imgs, err := d.m.Images.List(); err == nil {
		in.Images = len(imgs)
	}
	in.Name, _ = os.Hostname()
	if exe, err := os.Executable(); err == nil {
		in.Runtimes = map[string]system.RuntimeWithStatus{"minirun": {Runtime: system.Runtime{Path: exe}}}
	}
	if strings.Contains(readTrim("/proc/self/status"), "Seccomp:") {
		in.SecurityOptions = append(in.SecurityOptions, "name=seccomp,profile=builtin")
	}
	writeJSON(w, http.StatusOK, in)
}

func (d *Daemon) storageDriver() string {
	if d.m.StorageDriver == "vfs" {
		return "vfs"
	}
	return "overlay2"
}

func cgroupVersion() string {
	if cgroups.DetectMode() == cgroups.Unified {
		return "2"
	}
	return "1"
}

func kernelRelease() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

func machine() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Machine[:])
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// osRelease reads one key of os-release(5).
func osRelease(key string) string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func countDir(path string) int {
	ents, _ := os.ReadDir(path)
	return len(ents)
}
