// Command volume-dirs is an example Docker volume plugin: each volume is a
// directory under a base path, served over a unix socket with Docker's
// volume plugin protocol (https://docs.docker.com/engine/extend/plugins_volume/).
// It works with minirun and with Docker alike.
//
//	volume-dirs -socket /run/docker/plugins/volume-dirs.sock -base /srv/volumes
//
// Options (-o on volume create): mode=OCTAL sets the directory's
// permissions (default 0755). Any other option is refused with an "Err"
// answer, so a typo reaches the user instead of being ignored.
//
// The plugin counts mounts by their ID, as the protocol asks: Remove is
// refused while any mount ID holds the volume.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const mediaType = "application/vnd.docker.plugins.v1.2+json"

type request struct {
	Name string
	Opts map[string]string
	ID   string
}

type volumeInfo struct {
	Name       string
	Mountpoint string            `json:",omitempty"`
	CreatedAt  string            `json:",omitempty"`
	Status     map[string]string `json:",omitempty"`
}

type response struct {
	Err          string
	Mountpoint   string                  `json:",omitempty"`
	Volume       *volumeInfo             `json:",omitempty"`
	Volumes      []*volumeInfo           `json:",omitempty"`
	Capabilities *struct{ Scope string } `json:",omitempty"`
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// driver holds the mount IDs of each volume. They live in memory: a
// restarted plugin forgets them, as Docker's own local driver does.
type driver struct {
	base   string
	mu     sync.Mutex
	mounts map[string]map[string]bool // volume → mount IDs
}

func (d *driver) dir(name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("invalid volume name %q", name)
	}
	return filepath.Join(d.base, name), nil
}

func (d *driver) info(name string) (*volumeInfo, error) {
	dir, err := d.dir(name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no such volume: %s", name)
	}
	if err != nil {
		return nil, err
	}
	v := &volumeInfo{Name: name, CreatedAt: st.ModTime().UTC().Format(time.RFC3339),
		Status: map[string]string{"mounts": strconv.Itoa(len(d.mounts[name]))}}
	if len(d.mounts[name]) > 0 {
		v.Mountpoint = dir
	}
	return v, nil
}

func (d *driver) handle(method string, req request) (r response, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch method {
	case "Create":
		dir, err := d.dir(req.Name)
		if err != nil {
			return r, err
		}
		mode := os.FileMode(0o755)
		for k, v := range req.Opts {
			switch k {
			case "mode":
				m, err := strconv.ParseUint(v, 8, 32)
				if err != nil || m > 0o7777 {
					return r, fmt.Errorf("option mode=%s: want an octal mode such as 0777", v)
				}
				mode = os.FileMode(m)
			default:
				return r, fmt.Errorf("unknown option %q (volume-dirs takes mode=OCTAL)", k)
			}
		}
		if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return r, err
		}
		return r, os.Chmod(dir, mode) // Mkdir's mode passes through the umask
	case "Remove":
		dir, err := d.dir(req.Name)
		if err != nil {
			return r, err
		}
		if n := len(d.mounts[req.Name]); n > 0 {
			return r, fmt.Errorf("volume %s is in use (%d mounts)", req.Name, n)
		}
		return r, os.RemoveAll(dir)
	case "Mount":
		if req.ID == "" {
			return r, errors.New("mount without an ID")
		}
		v, err := d.info(req.Name)
		if err != nil {
			return r, err
		}
		if d.mounts[v.Name] == nil {
			d.mounts[v.Name] = map[string]bool{}
		}
		d.mounts[v.Name][req.ID] = true
		r.Mountpoint = filepath.Join(d.base, v.Name)
		return r, nil
	case "Unmount":
		if !d.mounts[req.Name][req.ID] {
			return r, fmt.Errorf("volume %s has no mount %q", req.Name, req.ID)
		}
		delete(d.mounts[req.Name], req.ID)
		return r, nil
	case "Path":
		v, err := d.info(req.Name)
		if err != nil {
			return r, err
		}
		r.Mountpoint = v.Mountpoint
		return r, nil
	case "Get":
		r.Volume, err = d.info(req.Name)
		return r, err
	case "List":
		ents, err := os.ReadDir(d.base)
		if err != nil {
			return r, err
		}
		for _, e := range ents {
			if v, err := d.info(e.Name()); err == nil && e.IsDir() {
				r.Volumes = append(r.Volumes, v)
			}
		}
		sort.Slice(r.Volumes, func(i, j int) bool { return r.Volumes[i].Name < r.Volumes[j].Name })
		return r, nil
	case "Capabilities":
		r.Capabilities = &struct{ Scope string }{"local"}
		return r, nil
	}
	return r, fmt.Errorf("unknown method %s", method)
}

func main() {
	socket := flag.String("socket", "/run/docker/plugins/volume-dirs.sock", "unix socket to listen on")
	base := flag.String("base", "/var/lib/volume-dirs", "directory that holds the volumes")
	flag.Parse()
	log.SetPrefix("volume-dirs: ")
	if err := os.MkdirAll(*base, 0o711); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(*socket), 0o755); err != nil {
		log.Fatal(err)
	}
	os.Remove(*socket) // a socket left by a killed predecessor
	l, err := net.Listen("unix", *socket)
	if err != nil {
		log.Fatal(err)
	}
	d := &driver{base: *base, mounts: map[string]map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", mediaType)
		json.NewEncoder(w).Encode(map[string][]string{"Implements": {"VolumeDriver"}})
	})
	for _, m := range []string{"Create", "Remove", "Mount", "Unmount", "Path", "Get", "List", "Capabilities"} {
		m := m
		mux.HandleFunc("/VolumeDriver."+m, func(w http.ResponseWriter, hr *http.Request) {
			var req request
			json.NewDecoder(hr.Body).Decode(&req) // List and Capabilities send no body
			r, err := d.handle(m, req)
			if err != nil {
				r = response{Err: err.Error()}
			}
			log.Printf("%s %s %s: %q", m, req.Name, req.ID, r.Err)
			w.Header().Set("Content-Type", mediaType)
			json.NewEncoder(w).Encode(r)
		})
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; l.Close() }()
	log.Printf("serving %s on %s", *base, *socket)
	err = http.Serve(l, mux)
	os.Remove(*socket)
	if !errors.Is(err, net.ErrClosed) {
		log.Fatal(err)
	}
}
