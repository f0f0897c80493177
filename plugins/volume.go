package plugins

import (
	"errors"
	"fmt"
)

// VolumeDriver is a client of Docker's volume plugin protocol
// (https://docs.docker.com/engine/extend/plugins_volume/). Every answer
// may carry "Err"; a non-empty one becomes the returned error, word for
// word, so it reaches the user.
type VolumeDriver struct{ *Client }

// Kind is what a volume plugin lists in Implements.
const Kind = "VolumeDriver"

// VolumeRequest is the body of most /VolumeDriver.* calls: Name always,
// Opts on Create, ID (the mount ID) on Mount and Unmount.
type VolumeRequest struct {
	Name string            `json:"Name"`
	Opts map[string]string `json:"Opts,omitempty"`
	ID   string            `json:"ID,omitempty"`
}

// VolumeInfo is one volume as Get and List return it.
type VolumeInfo struct {
	Name       string                 `json:"Name"`
	Mountpoint string                 `json:"Mountpoint,omitempty"`
	CreatedAt  string                 `json:"CreatedAt,omitempty"`
	Status     map[string]interface{} `json:"Status,omitempty"`
}

// VolumeResponse is every /VolumeDriver.* answer's shape, each call
// filling its part.
type VolumeResponse struct {
	Err          string        `json:"Err"`
	Mountpoint   string        `json:"Mountpoint,omitempty"`
	Volume       *VolumeInfo   `json:"Volume,omitempty"`
	Volumes      []*VolumeInfo `json:"Volumes,omitempty"`
	Capabilities struct {
		Scope string `json:"Scope"`
	} `json:"Capabilities"`
}

// VolumePlugin finds and activates the volume plugin called name.
func VolumePlugin(d Dirs, name string) (*VolumeDriver, error) {
	c, err := Get(d, name, Kind)
	if err != nil {
		return nil, err
	}
	return &VolumeDriver{c}, nil
}

// PluginError is an "Err" a plugin answered.
type PluginError struct{ Plugin, Method, Err string }

func (e *PluginError) Error() string {
	return fmt.Sprintf("volume plugin %s: %s: %s", e.Plugin, e.Method, OneLine(e.Err))
}

func (d *VolumeDriver) call(method string, req *VolumeRequest) (*VolumeResponse, error) {
	var r VolumeResponse
	var body interface{}
	if req != nil {
		body = req
	}
	if err := d.Call("/VolumeDriver."+method, body, &r); err != nil {
		return nil, err
	}
	if r.Err != "" {
		return nil, &PluginError{Plugin: d.Name, Method: method, Err: r.Err}
	}
	return &r, nil
}

// Create asks the plugin to make volume name with the -o options.
func (d *VolumeDriver) Create(name string, opts map[string]string) error {
	_, err := d.call("Create", &VolumeRequest{Name: name, Opts: opts})
	return err
}

// Remove asks the plugin to delete volume name and its data.
func (d *VolumeDriver) Remove(name string) error {
	_, err := d.call("Remove", &VolumeRequest{Name: name})
	return err
}

// Mount asks the plugin to make volume name available for the mount id
// and returns the host path to bind into the container. The plugin counts
// the ids: it mounts on the first and must keep the volume until the
// matching Unmount of the last.
func (d *VolumeDriver) Mount(name, id string) (string, error) {
	r, err := d.call("Mount", &VolumeRequest{Name: name, ID: id})
	if err != nil {
		return "", err
	}
	if r.Mountpoint == "" {
		return "", &PluginError{Plugin: d.Name, Method: "Mount", Err: "answered no Mountpoint"}
	}
	return r.Mountpoint, nil
}

// Unmount tells the plugin that mount id no longer uses volume name.
func (d *VolumeDriver) Unmount(name, id string) error {
	_, err := d.call("Unmount", &VolumeRequest{Name: name, ID: id})
	return err
}

// Path returns where volume name is mounted on the host ("" if it is not).
func (d *VolumeDriver) Path(name string) (string, error) {
	r, err := d.call("Path", &VolumeRequest{Name: name})
	if err != nil {
		return "", err
	}
	return r.Mountpoint, nil
}

// Get returns what the plugin knows of volume name.
func (d *VolumeDriver) Get(name string) (*VolumeInfo, error) {
	r, err := d.call("Get", &VolumeRequest{Name: name})
	if err != nil {
		return nil, err
	}
	if r.Volume == nil {
		return nil, &PluginError{Plugin: d.Name, Method: "Get", Err: "answered no Volume"}
	}
	return r.Volume, nil
}

// List returns every volume the plugin has.
func (d *VolumeDriver) List() ([]*VolumeInfo, error) {
	r, err := d.call("List", nil)
	if err != nil {
		return nil, err
	}
	return r.Volumes, nil
}

// Capabilities returns the plugin's scope: "local" (the default, also for
// a plugin that predates the call and answers 404) or "global".
func (d *VolumeDriver) Capabilities() (string, error) {
	r, err := d.call("Capabilities", nil)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == 404 {
			return "local", nil
		}
		return "", err
	}
	if r.Capabilities.Scope == "" {
		return "local", nil
	}
	return r.Capabilities.Scope, nil
}
