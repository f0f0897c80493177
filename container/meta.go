package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/shim"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Meta is what minirun remembers about a container, shaped like the parts
// of `docker inspect` that matter to the course.
type Meta struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Created time.Time `json:"Created"`
	// RestartCount is how many times the restart policy started it again.
	RestartCount int `json:"RestartCount"`
	// LogPath is the json-file log the shim writes.
	LogPath     string      `json:"LogPath"`
	Path        string      `json:"Path"`
	Args        []string    `json:"Args"`
	Image       string      `json:"Image"` // the image id
	ImageRef    string      `json:"ImageRef"`
	Config      Config      `json:"Config"`
	State       State       `json:"State"`
	GraphDriver GraphDriver `json:"GraphDriver"`
	// Mounts are its volumes, binds and tmpfs mounts.
	Mounts []MountPoint `json:"Mounts"`
	// NetworkSettings are the container's endpoints while it runs.
	NetworkSettings NetworkSettings `json:"NetworkSettings"`
	HostConfig      HostConfig      `json:"HostConfig"`
}

// Config is the container's configuration as `docker inspect` shows it.
type Config struct {
	Hostname   string            `json:"Hostname"`
	User       string            `json:"User"`
	Env        []string          `json:"Env"`
	Cmd        []string          `json:"Cmd"`
	Entrypoint []string          `json:"Entrypoint"`
	WorkingDir string            `json:"WorkingDir"`
	Tty        bool              `json:"Tty"`
	OpenStdin  bool              `json:"OpenStdin"`
	Image      string            `json:"Image"`
	Labels     map[string]string `json:"Labels"`
}

// State is the container's state as `docker inspect` shows it.
type State struct {
	Status     string    `json:"Status"` // created, running, exited
	Running    bool      `json:"Running"`
	Paused     bool      `json:"Paused"`
	Restarting bool      `json:"Restarting"`
	OOMKilled  bool      `json:"OOMKilled"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
}

// GraphDriver names the storage driver and the overlay directories, as
// in the course's `docker inspect` slide.
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// HostConfig holds the run flags that are about the host.
type HostConfig struct {
	AutoRemove    bool               `json:"AutoRemove"`
	RestartPolicy shim.RestartPolicy `json:"RestartPolicy"`
	// Network is the network the container joins at each start (--network,
	// --ip, --network-alias, -p).
	Network NetworkOpts `json:"Network"`
	// UsernsRemap is the host range root maps to (empty: no user namespace).
	UsernsRemap *Remap `json:"UsernsRemap,omitempty"`
	// Resources are the cgroup limits, in the OCI spec's terms.
	Resources *specs.LinuxResources `json:"Resources,omitempty"`
}

const metaFile = "meta.json"

func (m *Meta) save(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, filepath.Join(dir, metaFile))
}

func loadMeta(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, metaFile), err)
	}
	return &m, nil
}

// NetworkSettings is `docker inspect`'s NetworkSettings, reduced: the
// endpoint of each network, with its address and published ports.
type NetworkSettings struct {
	Networks map[string]*network.Endpoint `json:"Networks"`
}

// Rootfs is the directory the container's root is: the overlay's merged
// dir, or with the vfs driver its full copy.
func (m *Meta) Rootfs() string {
	if d := m.GraphDriver.Data["MergedDir"]; d != "" {
		return d
	}
	return m.GraphDriver.Data["Dir"]
}

// Remap is a container's user namespace mapping.
type Remap struct {
	User string  `json:"User"`
	UID  IDRange `json:"UID"`
	GID  IDRange `json:"GID"`
}
