package volume

import (
	"path/filepath"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/plugins"
)

// PluginStore is the managed plugin store of dataRoot, its plugins run
// under stateRoot, their sockets in the discovery directory: what `minirun
// plugin` and the daemon's /plugins both use. A plugin is in use while
// volumes of its driver exist; the volume store is opened only when
// disable or rm asks, so listing plugins on a fresh data root makes no
// volumes directory.
func PluginStore(dataRoot, stateRoot string, tr *explain.Tracer) *plugins.Store {
	inUse := func(driver string) (bool, error) {
		vs, err := Open(dataRoot, nil)
		if err != nil {
			return false, err
		}
		return vs.DriverInUse(driver)
	}
	return &plugins.Store{Dir: filepath.Join(dataRoot, "plugins"), StateRoot: stateRoot,
		Sockets: plugins.DirsFromEnv().Sockets, Tracer: tr, InUse: inUse}
}
