package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
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

// save writes the container's record: first its State, in place, into the
// preallocated state record (see writeStateRecord), then meta.json through
// a temporary file of its own and a rename, so no reader sees half of it.
// The temporary name is unique: two processes saving at once (the shim
// and a CLI) must not rename each other's file. On a full disk the State
// is already safe when the meta.json write fails.
func (m *Meta) save(dir string) error {
	rerr := writeStateRecord(dir, m.State, m.RestartCount)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dir, metaFile, b); err != nil {
		return err
	}
	return rerr
}

// writeFileAtomic writes dir/name through a unique temporary file and a
// rename(2); a failed write leaves no temporary file behind.
func writeFileAtomic(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err // an *fs.PathError: it names the file
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save %s: %w", filepath.Join(dir, name), err)
	}
	return nil
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
	// The state record is written first on every save: when it is there
	// and whole, its State is the newest (meta.json may have missed the
	// last save on a full disk).
	if rec, err := readStateRecord(dir); err == nil {
		m.State, m.RestartCount = rec.State, rec.RestartCount
	}
	return &m, nil
}

// The state record: where a container's State is written without needing
// a single new block of disk. A shim must record the exit code when its
// container ends, and the container may have ended precisely because it
// filled the data root: meta.json's write-and-rename needs a new file,
// which a full disk refuses (ENOSPC), and the exit was lost (then read as
// 137, "killed"). So every container gets, when it is made and before it
// can run, a file of stateRecordSize bytes really written (not sparse:
// its blocks are allocated). Each State change overwrites it in place
// with pwrite(2) at offset 0: already-allocated blocks, no new space, on
// tmpfs and on ext4/xfs alike (a copy-on-write filesystem such as btrfs
// would need new blocks even then). The content is one JSON line, a
// line with its CRC-32, and space padding: a reader that meets a torn
// write (a read racing the pwrite) sees a CRC mismatch and reads again.
const (
	stateRecordFile = "state.record"
	stateRecordSize = 4096
)

type stateRecord struct {
	State        State `json:"State"`
	RestartCount int   `json:"RestartCount"`
}

// encodeStateRecord renders rec at exactly stateRecordSize bytes; a long
// error message is cut to fit.
func encodeStateRecord(rec stateRecord) ([]byte, error) {
	for {
		line, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		body := fmt.Sprintf("%s\n%08x\n", line, crc32.ChecksumIEEE(line))
		if len(body) <= stateRecordSize {
			return append([]byte(body), bytes.Repeat([]byte(" "), stateRecordSize-len(body))...), nil
		}
		if rec.State.Error == "" {
			return nil, fmt.Errorf("state record: %d bytes do not fit in %d", len(body), stateRecordSize)
		}
		rec.State.Error = rec.State.Error[:len(rec.State.Error)/2]
	}
}

// createStateRecord makes the preallocated record of a new container.
func createStateRecord(dir string, st State) error {
	b, err := encodeStateRecord(stateRecord{State: st})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stateRecordFile), b, 0o600); err != nil {
		return fmt.Errorf("preallocate %s: %w", filepath.Join(dir, stateRecordFile), err)
	}
	return nil
}

// writeStateRecord overwrites the record in place. A container made by an
// older minirun has none: it gets one if the disk has room.
func writeStateRecord(dir string, st State, restarts int) error {
	b, err := encodeStateRecord(stateRecord{State: st, RestartCount: restarts})
	if err != nil {
		return err
	}
	path := filepath.Join(dir, stateRecordFile)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return serr
		}
		return createStateRecord(dir, st)
	}
	if err != nil {
		return err
	}
	_, werr := f.WriteAt(b, 0)
	return errors.Join(werr, f.Close())
}

// readStateRecord reads the record, again if a write was torn under it.
func readStateRecord(dir string) (*stateRecord, error) {
	var err error
	for try := 0; try < 5; try++ {
		var b []byte
		if b, err = os.ReadFile(filepath.Join(dir, stateRecordFile)); err != nil {
			return nil, err
		}
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		sum, _, _ := bytes.Cut(rest, []byte("\n"))
		if fmt.Sprintf("%08x", crc32.ChecksumIEEE(line)) != string(sum) {
			err = fmt.Errorf("%s: checksum mismatch", filepath.Join(dir, stateRecordFile))
			time.Sleep(time.Millisecond)
			continue
		}
		var rec stateRecord
		if err = json.Unmarshal(line, &rec); err != nil {
			return nil, err
		}
		return &rec, nil
	}
	return nil, err
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
