package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/plugins"
	"golang.org/x/sys/unix"
)

// Volumes whose driver is not "local" belong to a volume plugin
// (package plugins). minirun keeps the same record for them as for local
// volumes (volume.json with the driver's name, as Docker keeps a
// volume→driver map in its volumes.db) and asks the plugin for the rest:
//
//	volume create --driver P   → /VolumeDriver.Create {Name, Opts}, then the record
//	a container starts         → /VolumeDriver.Mount {Name, ID}  (ID = the container's id)
//	                             → bind Mountpoint onto <record>/_data (first user only)
//	the container stops / rm   → umount <record>/_data (last user only)
//	                             → /VolumeDriver.Unmount {Name, ID}
//	volume rm                  → /VolumeDriver.Remove {Name}, then the record
//
// Every container gets its own Mount and Unmount, with its own ID, as
// Docker does: the plugin counts the IDs and must keep the volume while
// any is left. minirun counts them too (users.json, the same holds the
// local driver's mounts use), so the bind onto _data is made by the first
// user and undone by the last, and a container that died without
// releasing has its ID unmounted by whoever looks next.
//
// NOTE: Docker binds the plugin's Mountpoint into the container directly.
// minirun binds it onto the volume's own _data first so the container
// spec (built before the volume is acquired) can name a fixed path, and so
// `findmnt` on the host shows which plugin volumes are in use.

// PluginDirs are where the store looks for volume plugins.
var PluginDirs = plugins.DirsFromEnv

func (s *Store) plugin(driver string) (*plugins.VolumeDriver, error) {
	d, err := plugins.VolumePlugin(PluginDirs(), driver)
	if err != nil {
		return nil, fmt.Errorf("volume driver %s: %w", driver, err)
	}
	return d, nil
}

// createPlugin is Create for a plugin's volume.
func (s *Store) createPlugin(name, driver string, opts, labels map[string]string, anon bool) (*Volume, error) {
	v := &Volume{Name: name, Driver: driver, Mountpoint: filepath.Join(s.path(name), "_data"), CreatedAt: time.Now().UTC(),
		Options: opts, Labels: labels, Scope: "local", Anonymous: anon}
	var d *plugins.VolumeDriver
	if !s.tr.DryRun() {
		var err error
		if d, err = s.plugin(driver); err != nil {
			return nil, err
		}
		unlock, err := s.lock()
		if err != nil {
			return nil, err
		}
		defer unlock()
		if old, err := s.get(name); err == nil {
			if old.Driver != driver {
				return nil, fmt.Errorf("create volume %s: it exists with driver %s", name, old.Driver)
			}
			return old, nil
		}
		if sc, err := d.Capabilities(); err == nil {
			v.Scope = sc
		}
	} else {
		d = &plugins.VolumeDriver{Client: plugins.NewClient(driver, plugins.Addr{Network: "unix", Address: "/run/docker/plugins/" + driver + ".sock"})}
	}
	req := plugins.VolumeRequest{Name: name, Opts: opts}
	err := s.tr.Do(explain.Step{
		ID: "volumes-plugin-create", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Pede ao plugin " + driver + " o volume " + short(name), EN: "Ask plugin " + driver + " for volume " + short(name)},
		Why: explain.Text{PT: "O driver não é o local: quem cria o volume é o plugin, por HTTP no socket dele; o minirun só guarda o nome do driver.",
			EN: "The driver is not local: the plugin creates the volume, over HTTP on its socket; minirun only records the driver's name."},
		Shell: d.Shell("/VolumeDriver.Create", req) + " && mkdir -p " + v.Mountpoint,
		Do: func() error {
			if err := d.Create(name, opts); err != nil {
				return err
			}
			if err := os.MkdirAll(v.Mountpoint, 0o755); err == nil {
				if err = writeJSON(filepath.Join(s.path(name), "volume.json"), v); err == nil {
					return nil
				}
			}
			// The record failed: take back what the plugin made, so
			// nothing is left that minirun does not know of.
			os.RemoveAll(s.path(name))
			return errors.Join(fmt.Errorf("record volume %s", name), d.Remove(name))
		},
	}, nil)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// removePlugin is Remove for a plugin's volume: the plugin deletes its
// data first; the record goes only when it agreed.
func (s *Store) removePlugin(v *Volume) error {
	d, err := s.plugin(v.Driver)
	if err != nil {
		return fmt.Errorf("remove %s: %w", v.Name, err)
	}
	return s.tr.Do(explain.Step{
		ID: "volumes-plugin-remove", Chapter: explain.ChapterVolumes,
		Title: explain.Text{PT: "Pede ao plugin " + v.Driver + " que apague o volume " + short(v.Name), EN: "Ask plugin " + v.Driver + " to delete volume " + short(v.Name)},
		Why: explain.Text{PT: "Os dados estão com o plugin; o registro do minirun só sai se o plugin aceitar.",
			EN: "The plugin holds the data; minirun's record goes only if the plugin agrees."},
		Shell: "umount " + v.Mountpoint + " 2>/dev/null; " + d.Shell("/VolumeDriver.Remove", plugins.VolumeRequest{Name: v.Name}) + " && rm -rf " + s.path(v.Name),
		Do: func() error {
			if err := unmountIfMounted(v.Mountpoint); err != nil {
				return err
			}
			if err := d.Remove(v.Name); err != nil {
				return err
			}
			return os.RemoveAll(s.path(v.Name))
		},
	}, nil)
}

// pluginUsers makes the plugin and the bind onto _data agree with the
// holds: Unmount for each ID that left, Mount for each that came, in that
// order, and the bind made by the first user and undone by the last.
// Called under the store's lock.
func (s *Store) pluginUsers(v *Volume, old, now holders, mounted bool) error {
	var gone, came []string
	for id := range old {
		if _, ok := now[id]; !ok {
			gone = append(gone, id)
		}
	}
	for id := range now {
		if _, ok := old[id]; !ok {
			came = append(came, id)
		}
	}
	sort.Strings(gone)
	sort.Strings(came)
	if len(gone) == 0 && len(came) == 0 && (len(now) > 0) == mounted {
		return nil
	}
	d, err := s.plugin(v.Driver)
	if err != nil {
		// Keep the holds that left, to be unmounted when the plugin is back.
		for _, id := range gone {
			now[id] = old[id]
		}
		for _, id := range came {
			delete(now, id)
		}
		return err
	}
	// The last user: drop the bind before telling the plugin, so the
	// plugin can unmount what it mounted (our bind would keep it busy).
	if len(now) == 0 && mounted {
		if err := s.tr.Do(explain.Step{
			ID: "volumes-plugin-unbind", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Solta o volume " + v.Name + " do plugin", EN: "Unbind plugin volume " + v.Name},
			Why: explain.Text{PT: "Nenhum contêiner vivo usa mais o volume: sai o bind do caminho do plugin.",
				EN: "No live container uses the volume any more: the bind of the plugin's path goes."},
			Shell: "umount " + v.Mountpoint,
			Do:    func() error { return unmountIfMounted(v.Mountpoint) },
		}, nil); err != nil {
			return err
		}
		mounted = false
	}
	var errs []error
	for _, id := range gone {
		id := id
		err := s.tr.Do(explain.Step{
			ID: "volumes-plugin-unmount", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Devolve o volume " + v.Name + " ao plugin " + v.Driver, EN: "Give volume " + v.Name + " back to plugin " + v.Driver},
			Why: explain.Text{PT: "Cada contêiner devolve o seu ID de montagem; o plugin desmonta quando o último sai.",
				EN: "Each container hands back its mount ID; the plugin unmounts when the last one goes."},
			Shell: d.Shell("/VolumeDriver.Unmount", plugins.VolumeRequest{Name: v.Name, ID: id}),
			Do:    func() error { return d.Unmount(v.Name, id) },
		}, nil)
		if err != nil {
			errs = append(errs, err)
		}
	}
	var mountpoint string
	for _, id := range came {
		id := id
		err := s.tr.Do(explain.Step{
			ID: "volumes-plugin-mount", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Pede ao plugin " + v.Driver + " que monte o volume " + v.Name, EN: "Ask plugin " + v.Driver + " to mount volume " + v.Name},
			Why: explain.Text{PT: "Antes de o contêiner começar: o plugin monta (ou só conta o ID) e diz em que caminho do host está o volume.",
				EN: "Before the container starts: the plugin mounts (or just counts the ID) and says where on the host the volume is."},
			Shell: d.Shell("/VolumeDriver.Mount", plugins.VolumeRequest{Name: v.Name, ID: id}),
			Do: func() error {
				mp, err := d.Mount(v.Name, id)
				mountpoint = mp
				return err
			},
			Evidence: func() string { return mountpoint },
		}, nil)
		if err != nil {
			delete(now, id) // the plugin did not take it
			errs = append(errs, err)
		}
	}
	if len(now) > 0 && !mounted {
		if mountpoint == "" {
			if mountpoint, err = d.Path(v.Name); err != nil || mountpoint == "" {
				return errors.Join(append(errs, fmt.Errorf("volume %s: plugin %s gives no mountpoint (%v)", v.Name, v.Driver, err))...)
			}
		}
		// A managed plugin answers a path of its own mount namespace:
		// the host reaches it through the plugin's propagated mount.
		managed := plugins.Store{Dir: filepath.Join(filepath.Dir(s.dir), "plugins")}
		if hp, ok, err := managed.ScopedPath(v.Driver, mountpoint); err != nil {
			return errors.Join(append(errs, err)...)
		} else if ok {
			mountpoint = hp
		}
		err := s.tr.Do(explain.Step{
			ID: "volumes-plugin-bind", Chapter: explain.ChapterVolumes,
			Title: explain.Text{PT: "Liga o caminho do plugin ao volume " + v.Name, EN: "Bind the plugin's path onto volume " + v.Name},
			Why: explain.Text{PT: "O contêiner monta o _data do volume; o primeiro usuário põe ali o diretório que o plugin devolveu.",
				EN: "The container mounts the volume's _data; the first user puts the plugin's directory there."},
			Shell: "mount --bind " + mountpoint + " " + v.Mountpoint,
			Do: func() error {
				if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
					return err
				}
				if err := unix.Mount(mountpoint, v.Mountpoint, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
					return fmt.Errorf("bind %s onto %s: %w", mountpoint, v.Mountpoint, err)
				}
				return nil
			},
		}, nil)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Inspect is Get with what the volume's plugin says of it (its Mountpoint
// and Status), as `docker volume inspect` shows a plugin's volume. A local
// volume is its record.
func (s *Store) Inspect(name string) (*Volume, map[string]interface{}, error) {
	v, err := s.get(name)
	if err != nil || v.Driver == "local" || v.Driver == "" {
		return v, nil, err
	}
	d, err := s.plugin(v.Driver)
	if err != nil {
		return nil, nil, err
	}
	info, err := d.Get(name)
	if err != nil {
		return nil, nil, err
	}
	if info.Mountpoint != "" {
		v.Mountpoint = info.Mountpoint
	}
	return v, info.Status, nil
}
