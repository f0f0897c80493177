package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Status is where a container is in its lifecycle (OCI runtime spec,
// runtime.md "State": creating, created, running, stopped).
type Status string

// The statuses of the OCI runtime specification.
const (
	Creating Status = Status(specs.StateCreating)
	Created  Status = Status(specs.StateCreated)
	Running  Status = Status(specs.StateRunning)
	Stopped  Status = Status(specs.StateStopped)
	// Paused is not in the OCI spec's list; runc reports it for a frozen
	// container, and so does minirun.
	Paused Status = "paused"
)

// canStart, canKill and canDelete are the lifecycle's rules in one place.
// The spec: start only a created container; kill a created or running one;
// delete only a stopped one (unless forced).
func canStart(s Status) bool  { return s == Created }
func canKill(s Status) bool   { return s == Created || s == Running || s == Paused }
func canDelete(s Status) bool { return s == Stopped }

// savedState is what minirun keeps on disk in <root>/<id>/state.json. The
// status is not trusted from disk: it is recomputed from the kernel on load.
type savedState struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"startTime"` // /proc/<pid>/stat field 22
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	CgroupPath  string            `json:"cgroupPath,omitempty"`
	Paused      bool              `json:"paused,omitempty"`
	// Creating is true from the moment the state directory exists until
	// create saves the init's pid. state.json is written this way first,
	// before any cgroup or process exists, so that a create killed at any
	// later point leaves a state that names what it made (CgroupPath):
	// delete can then remove it, as runc's delete destroys a container
	// whose create died. (A create killed before even this first write
	// leaves a directory without state.json; delete --force removes it.)
	Creating bool `json:"creating,omitempty"`
	// Creator and CreatorStart are the pid and start time of the process
	// that runs create: while it lives the container is "creating"; once
	// it died with Creating still set, the container is stopped.
	Creator      int    `json:"creator,omitempty"`
	CreatorStart uint64 `json:"creatorStart,omitempty"`
	// Config is the spec as it was at create time: delete needs its hooks
	// and cgroup settings even if the bundle changed or vanished since.
	// It is kept beside state.json, in config.json: the spec is most of
	// the bytes, and reading a status (ps over many containers) should not
	// have to parse it.
	Config *specs.Spec `json:"-"`
}

const (
	stateFile  = "state.json"
	configFile = "config.json"
	fifoName   = "exec.fifo"
)

// validID accepts what runc accepts: letters, digits and . _ + - with no
// path separator, so an id can never name a path outside the state root.
var validID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_+.-]*$`) })

// ValidateID rejects ids that are empty, too long or could escape the root.
// An id never starts with a dot: minirun's own entries in a state root
// (the shims' sockets in .shims) start with one, so no id can name them.
func ValidateID(id string) error {
	if !validID().MatchString(id) || id == "." || id == ".." || strings.Contains(id, "..") || len(id) > 1024 {
		return fmt.Errorf("%w %q: use letters, digits and . _ + - only", ErrInvalidID, id)
	}
	return nil
}

// save writes config.json, then state.json, each atomically: a reader
// never sees half a file, and a state.json always has its config beside it.
func (s *savedState) save(dir string) error {
	if s.Config != nil {
		if err := writeJSONAtomic(dir, configFile, s.Config); err != nil {
			return err
		}
	}
	return writeJSONAtomic(dir, stateFile, s)
}

func writeJSONAtomic(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("save %s in %s: %w", name, dir, err)
	}
	return nil
}

// loadState reads state.json and, when withConfig, the spec beside it.
func loadState(dir string, withConfig bool) (*savedState, error) {
	var s savedState
	if err := readJSON(dir, stateFile, &s); err != nil {
		return nil, err
	}
	if withConfig {
		s.Config = new(specs.Spec)
		if err := readJSON(dir, configFile, s.Config); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

func readJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s/%s: %w", dir, name, err)
	}
	return nil
}

// procStat is the part of /proc/<pid>/stat minirun needs: the process state
// letter and its start time in clock ticks since boot (proc(5), fields 3 and
// 22). The start time is what tells a living container from a new, unrelated
// process that got the same pid after the container died.
type procStat struct {
	State     byte
	StartTime uint64
	// Flags is the kernel's PF_* word (proc(5) field 9).
	Flags uint64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses: split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat flags: %w", pid, err)
	}
	return procStat{State: f[0][0], StartTime: st, Flags: flags}, nil
}

// alive reports whether pid is still the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	ps, err := readProcStat(pid)
	return err == nil && ps.State != 'Z' && ps.StartTime == start
}

// statusOf computes the status from the kernel's truth: the process must
// exist, not be a zombie, and have the start time recorded at create. The
// exec FIFO exists from create until start, so its presence tells created
// from running.
func statusOf(dir string, s *savedState) Status {
	if s.Creating {
		if alive(s.Creator, s.CreatorStart) {
			return Creating
		}
		return Stopped // its create died: delete removes what it left
	}
	if s.Pid <= 0 {
		return Stopped
	}
	ps, err := readProcStat(s.Pid)
	if err != nil || ps.State == 'Z' || ps.StartTime != s.StartTime {
		return Stopped
	}
	if _, err := os.Stat(filepath.Join(dir, fifoName)); err == nil {
		return Created
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Created
	}
	if s.Paused {
		return Paused
	}
	return Running
}
