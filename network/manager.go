package network

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/internal/prunefilter"
	"github.com/minirun/minirun/plugins"
	"golang.org/x/sys/unix"
)

// ErrNotFound means no network has that name or id.
var ErrNotFound = errors.New("no such network")

// ErrInUse means a network still has containers attached.
var ErrInUse = errors.New("network has active endpoints")

// Manager keeps the networks of one data root. Its state lives in
// DIR = DATAROOT/network: a lock file and one directory per network with
// network.json (and dns.log, the DNS server's output). Every method that
// changes state holds the lock, an flock(2) on DIR/lock, for its whole
// duration: minirun has no daemon, so two CLIs may run at once.
type Manager struct {
	dir string
	tr  *explain.Tracer

	// Exe is the program re-executed as a network's DNS server, with the
	// arguments DNSServerArgs + "--dir DIR NETWORK-ID": minirun itself
	// (the default, os.Executable) or, in tests, the test binary.
	Exe string
	// DefaultBridge and DefaultSubnet are the device and addresses of the
	// default network (mr0, 10.77.0.0/16; EnvBridgeSubnet overrides).
	DefaultBridge string
	DefaultSubnet netip.Prefix
	// Pool and PoolBits are where user networks without --subnet get
	// theirs: the first free /PoolBits of Pool.
	Pool     netip.Prefix
	PoolBits int

	// rehearsal holds, in a dry run, the networks the dry run made or
	// changed, since their steps' Do (which would write network.json)
	// never run: the calls after them (Reserve on a network Create just
	// described, Remove after Disconnect) find what a real run would.
	rehearsal map[string]*Network
	forgotten map[string]bool
	// recordedOnly are the rehearsed networks whose devices are not up:
	// an overlay another host made, which a sync only recorded here. Its
	// first Attach describes the bridge, the VXLAN and the rest, as a real
	// run would make them (ensureUp).
	recordedOnly map[string]bool

	// cl is the cluster store overlay networks use (SetCluster); dialed
	// are the stores dialed during one call (overlay.go, clusterFor).
	cl     Cluster
	dialed dialedStores
}

// rehearse records, in a dry run, the state a real run's step would have
// saved; in a real run the step's Do saved it.
func (m *Manager) rehearse(n *Network) {
	if !m.tr.DryRun() {
		return
	}
	if m.rehearsal == nil {
		m.rehearsal, m.forgotten = map[string]*Network{}, map[string]bool{}
	}
	m.rehearsal[n.ID] = n
	delete(m.forgotten, n.ID)
}

// forget is rehearse for a network's removal.
func (m *Manager) forget(n *Network) {
	if !m.tr.DryRun() {
		return
	}
	m.rehearse(n)
	delete(m.rehearsal, n.ID)
	m.forgotten[n.ID] = true
}

// Open returns the network manager of dataRoot; tr narrates every change
// to the host (nil: silently; a dry-run tracer: describe, change nothing).
func Open(dataRoot string, tr *explain.Tracer) (*Manager, error) {
	m := &Manager{
		dir:           filepath.Join(dataRoot, "network"),
		tr:            tr,
		DefaultBridge: DefaultBridge,
		DefaultSubnet: netip.MustParsePrefix(DefaultSubnet),
		Pool:          netip.MustParsePrefix(UserPool),
		PoolBits:      UserPrefixLen,
	}
	if s := os.Getenv(EnvBridgeSubnet); s != "" {
		p, err := parseSubnet(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvBridgeSubnet, err)
		}
		m.DefaultSubnet = p
	}
	if name := os.Getenv(EnvBridgeName); name != "" {
		if !strings.HasPrefix(name, "mr") || len(name) > 15 {
			return nil, fmt.Errorf("%s=%q: a minirun link name starts with mr and has at most 15 characters", EnvBridgeName, name)
		}
		m.DefaultBridge = name
	}
	if exe, err := os.Executable(); err == nil {
		m.Exe = exe
	}
	if !tr.DryRun() {
		if err := os.MkdirAll(m.dir, 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", m.dir, err)
		}
	}
	return m, nil
}

// Dir is where the manager keeps its state (DATAROOT/network).
func (m *Manager) Dir() string { return m.dir }

func (m *Manager) netDir(id string) string { return filepath.Join(m.dir, id) }

// NetworkFile is the JSON file of one network, which its DNS server reads.
func NetworkFile(dir, id string) string { return filepath.Join(dir, id, "network.json") }

// lock takes the manager's exclusive flock. flock(2) locks belong to the
// open file description, so two goroutines of one process that each open
// the file exclude each other exactly as two processes do.
func (m *Manager) lock() (func(), error) {
	if m.tr.DryRun() {
		return func() {}, nil
	}
	f, err := os.OpenFile(filepath.Join(m.dir, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open network lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock networks: %w", err)
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// save writes the network's file atomically (write a temporary file, then
// rename(2) over the old one), so the DNS server, which reads without the
// lock, always sees a whole file.
func (m *Manager) save(n *Network) error {
	if m.tr.DryRun() {
		return nil
	}
	dir := m.netDir(n.ID)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	final := NetworkFile(m.dir, n.ID)
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		if errors.Is(err, unix.ENOSPC) && overwriteSmaller(final, b) == nil {
			return nil
		}
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("save network %s: %w", n.Name, err)
	}
	return nil
}

// overwriteSmaller writes b over path in place when b is no longer than
// what path holds: the way a detach still saves on a full data root. The
// write-then-rename of save needs room for a second copy, which a full
// disk does not have, while rewriting a file's own blocks allocates
// nothing (on overlay, tmpfs, ext4 and xfs; not on copy-on-write file
// systems, where it fails as the rename did). It is not atomic: a reader
// without the lock may meet a torn file for that instant and must retry,
// which beats an endpoint that stays forever because the disk was full
// when its container was removed.
func overwriteSmaller(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if int64(len(b)) > fi.Size() {
		return unix.ENOSPC
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(b)))
}

// loadNetwork reads one network's file.
func loadNetwork(path string) (*Network, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if n.Containers == nil {
		n.Containers = map[string]*Endpoint{}
	}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	return &n, nil
}

// predefinedID gives host and none stable ids: they exist on every host
// and need no state until a container uses them.
func predefinedID(name string) string {
	s := sha256.Sum256([]byte("minirun network " + name))
	return hex.EncodeToString(s[:])
}

func predefined(name string) *Network {
	return &Network{
		Name: name, ID: predefinedID(name), Scope: "local", Driver: name,
		IPAM:       IPAM{Driver: "default", Config: []IPAMConfig{}},
		Options:    map[string]string{},
		Containers: map[string]*Endpoint{},
	}
}

// list reads every network; the caller holds the lock when it will write.
// host and none are listed even before anything made them a file.
func (m *Manager) list() ([]*Network, error) {
	ents, err := os.ReadDir(m.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", m.dir, err)
	}
	var out []*Network
	seen := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() || m.forgotten[e.Name()] || m.rehearsal[e.Name()] != nil {
			continue
		}
		n, err := loadNetwork(NetworkFile(m.dir, e.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // being created or removed right now
			}
			return nil, err
		}
		seen[n.Name] = true
		out = append(out, n)
	}
	for _, n := range m.rehearsal {
		seen[n.Name] = true
		out = append(out, n)
	}
	for _, name := range []string{HostNetwork, NoneNetwork} {
		if !seen[name] {
			out = append(out, predefined(name))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// List returns every network, sorted by name, as `network ls` shows them.
func (m *Manager) List() ([]*Network, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return m.list()
}

// find looks a network up by name, full id or unique id prefix, as
// Docker does.
func find(nets []*Network, ref string) (*Network, error) {
	for _, n := range nets {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
	}
	var found []*Network
	for _, n := range nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("network id prefix %q is ambiguous", ref)
}

// findLocked takes the lock and finds a network by name, id or unique id
// prefix; on success the caller defers unlock.
func (m *Manager) findLocked(ref string) (*Network, func(), error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, nil, err
	}
	nets, err := m.list()
	if err == nil {
		var n *Network
		if n, err = find(nets, ref); err == nil {
			return n, unlock, nil
		}
	}
	unlock()
	return nil, nil, err
}

// Get finds a network by name, id or unique id prefix.
func (m *Manager) Get(ref string) (*Network, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	return find(all, ref)
}

// CreateOpts are the flags of `network create`.
type CreateOpts struct {
	Name     string
	Driver   string // "" or "bridge"
	Subnet   string // CIDR; "" picks one from the pool
	Gateway  string // "" is the subnet's first address
	Internal bool
	// Attachable is --attachable (recorded, see Network).
	Attachable bool
	// Options are -o KEY=VALUE: OptBridgeName, OptDNSUpstream; a network
	// plugin gets them all (libnetwork's com.docker.network.generic).
	Options map[string]string
	// IPAMDriver is --ipam-driver: "" or "default" for minirun's own, or
	// the name of an IPAM plugin, which then gives the pool, the gateway
	// and every address.
	IPAMDriver string
}

// validName is Docker's rule for network names.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// checkDriver refuses what minirun does not build, with the reason. Any
// other name is a network plugin's, looked up when the network is made.
func checkDriver(d string) error {
	switch d {
	case DriverBridge:
		return nil
	case DriverHost, DriverNone:
		return fmt.Errorf("only one instance of %q network is allowed: it is pre-defined", d)
	case DriverMacvlan, DriverIPvlan, DriverOverlay:
		return nil
	}
	if !validName().MatchString(d) {
		return fmt.Errorf("unknown network driver %q: minirun has bridge, overlay, macvlan, ipvlan, host, none and network plugins by name", d)
	}
	return nil
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Create makes a user-defined bridge network, like `docker network
// create`: it checks everything first, then takes the steps that change
// the host one by one, each undone if a later one fails.
func (m *Manager) Create(o CreateOpts) (*Network, error) {
	if o.Driver == "" {
		o.Driver = DriverBridge
	}
	if !validName().MatchString(o.Name) || len(o.Name) > 64 {
		return nil, fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.Name)
	}
	if err := checkDriver(o.Driver); err != nil {
		return nil, err
	}
	if o.Name == DefaultNetwork || o.Name == HostNetwork || o.Name == NoneNetwork {
		return nil, fmt.Errorf("network name %q is pre-defined and cannot be created", o.Name)
	}
	if o.IPAMDriver == "default" {
		o.IPAMDriver = ""
	}
	if o.IPAMDriver != "" && (!validName().MatchString(o.IPAMDriver) || Builtin(o.IPAMDriver)) {
		return nil, fmt.Errorf("invalid --ipam-driver %q: default, or the name of an IPAM plugin", o.IPAMDriver)
	}
	if (!Builtin(o.Driver) || o.IPAMDriver != "") && m.tr.DryRun() {
		return nil, errors.New("a network plugin's answers shape the next steps: explain and --dry-run do not talk to plugins; create the network for real")
	}
	if isSublink(o.Driver) {
		if o.IPAMDriver != "" {
			return nil, fmt.Errorf("--ipam-driver with the %s driver: minirun's %s networks take their addresses from its own IPAM", o.Driver, o.Driver)
		}
		return m.createSublink(o)
	}
	if o.Driver == DriverOverlay {
		return m.createOverlay(o)
	}
	opts := map[string]string{}
	for k, v := range o.Options {
		if !Builtin(o.Driver) {
			opts[k] = v // the plugin's to judge
			continue
		}
		switch k {
		case OptBridgeName:
			if !strings.HasPrefix(v, "mr") || len(v) > 15 || strings.ContainsAny(v, "/ :") {
				return nil, fmt.Errorf("invalid %s %q: minirun's links start with mr and fit in 15 characters", k, v)
			}
		case OptDNSUpstream:
			if _, err := parseUpstreams(v); err != nil {
				return nil, fmt.Errorf("invalid %s: %w", k, err)
			}
		case OptMTU:
			if mtu, err := strconv.Atoi(v); err != nil || mtu < 68 || mtu > 65535 {
				return nil, fmt.Errorf("invalid %s %q: an MTU is 68 to 65535 bytes", k, v)
			}
		default:
			return nil, fmt.Errorf("unknown network option %q: minirun knows %s, %s and %s", k, OptBridgeName, OptMTU, OptDNSUpstream)
		}
		opts[k] = v
	}
	subnet, nets, unlock, err := m.beginCreate(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return m.create(nets, o.Name, subnet, o.Gateway, o.Internal, o.Attachable, opts, o.Driver, o.IPAMDriver)
}

// beginCreate is what Create does alike for every driver once the
// driver's own options are judged, in this order: a --gateway needs a
// --subnet, the --subnet must be valid (both before the lock: bad input
// waits for no one), then, under the lock, the name must be free among
// the networks it lists. It returns the subnet (the zero Prefix when none
// was asked for), the networks and the unlock, which the caller defers;
// on error it holds no lock.
func (m *Manager) beginCreate(o CreateOpts) (subnet netip.Prefix, nets []*Network, unlock func(), err error) {
	if o.Gateway != "" && o.Subnet == "" {
		return subnet, nil, nil, fmt.Errorf("--gateway %s needs --subnet", o.Gateway)
	}
	if o.Subnet != "" {
		if subnet, err = parseSubnet(o.Subnet); err != nil {
			return subnet, nil, nil, err
		}
	}
	if unlock, err = m.lock(); err != nil {
		return subnet, nil, nil, err
	}
	if nets, err = m.list(); err != nil {
		unlock()
		return subnet, nil, nil, err
	}
	for _, other := range nets {
		if other.Name == o.Name {
			unlock()
			return subnet, nil, nil, fmt.Errorf("network with name %s already exists", o.Name)
		}
	}
	return subnet, nets, unlock, nil
}

// create does the work of Create and EnsureDefault; the lock is held and
// nets, listed under it, does not name the network yet. driver is bridge
// or a network plugin's name; ipamDriver is "" (minirun's own IPAM) or an
// IPAM plugin's.
func (m *Manager) create(nets []*Network, name string, subnet netip.Prefix, gateway string, internal, attachable bool, opts map[string]string, driver, ipamDriver string) (n *Network, retErr error) {
	var err error
	var routes []hostRoute
	if !m.tr.DryRun() {
		if routes, err = hostRoutes(); err != nil {
			return nil, err
		}
	}
	id := newID()
	n = &Network{
		Name: name, ID: id, Created: time.Now().UTC(), Scope: "local", Driver: driver,
		Internal: internal, Attachable: attachable, Options: opts, Containers: map[string]*Endpoint{},
		IPAM: IPAM{Driver: "default", Config: []IPAMConfig{}},
	}
	var undo cleanup.Stack
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undo.Run())
			n = nil
		}
	}()
	var driverPlugin *plugins.NetworkDriver
	if n.ByPlugin() {
		if driverPlugin, err = pluginDriver(driver); err != nil {
			return nil, err
		}
	}
	if ipamDriver != "" {
		// The IPAM plugin's pool and gateway; a bridge's subnet must still
		// not collide with the host's routes or another network.
		n.IPAM.Driver = ipamDriver
		if gateway != "" {
			if _, err := parseGateway(gateway, subnet); err != nil {
				return nil, err
			}
		}
		if err := m.requestPool(n, subnet, gateway, &undo); err != nil {
			return nil, err
		}
		if driver == DriverBridge {
			if err := checkOverlap(n.Subnet(), nets, routes); err != nil {
				return nil, fmt.Errorf("ipam plugin %s's pool: %w", ipamDriver, err)
			}
		}
	} else {
		if subnet.IsValid() {
			if err := checkOverlap(subnet, nets, routes); err != nil {
				return nil, err
			}
		} else if subnet, err = chooseSubnet(m.Pool, m.PoolBits, nets, routes); err != nil {
			return nil, err
		}
		gw, err := parseGateway(gateway, subnet)
		if err != nil {
			return nil, err
		}
		n.IPAM.Config = []IPAMConfig{{Subnet: subnet.String(), Gateway: gw.String()}}
	}
	if n.ByPlugin() {
		if err := m.createPluginNetwork(driverPlugin, n, &undo); err != nil {
			return nil, err
		}
		m.rehearse(n)
		undo.Release()
		return n, nil
	}
	switch {
	case forShell():
		n.Bridge = ShellBridge
	case opts[OptBridgeName] != "":
		n.Bridge = opts[OptBridgeName]
	case name == DefaultNetwork:
		n.Bridge = m.DefaultBridge
	default:
		n.Bridge = "mr-" + id[:12]
	}
	for _, o := range nets {
		if o.Bridge == n.Bridge {
			return nil, fmt.Errorf("bridge %s is already used by network %s", n.Bridge, o.Name)
		}
	}
	if !m.tr.DryRun() {
		if ok, err := linkExists(n.Bridge); err != nil {
			return nil, err
		} else if ok {
			return nil, fmt.Errorf("a link named %s already exists on the host: choose another -o %s", n.Bridge, OptBridgeName)
		}
	}
	if err := m.record(n, &undo); err != nil {
		return nil, err
	}
	undo.Release()
	return n, nil
}

// record writes a new network's record and makes its host objects, every
// step's undo on undo.
func (m *Manager) record(n *Network, undo *cleanup.Stack) error {
	if err := m.tr.Do(m.stateStep(n), undo); err != nil {
		return err
	}
	m.rehearse(n)
	return m.ensureUp(n, undo, true)
}

// EnsureDefault returns the default network, "bridge" on mr0, creating it
// the first time (minirun has no daemon to create it at boot).
//
// ORDER: it does not check that an existing network's host objects are
// there (after a reboot they are gone while the state on disk remains):
// Attach does, under the same lock, right before it plugs the container
// in, and for every bridged network. Checking here too listed the
// firewall's rules twice per `run`, and this check sat on the critical
// path before the init's clone, while Attach's runs beside the init's
// start.
func (m *Manager) EnsureDefault() (*Network, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	if n, err := find(nets, DefaultNetwork); err == nil {
		return n, nil
	}
	return m.create(nets, DefaultNetwork, m.DefaultSubnet, "", false, false, map[string]string{}, DriverBridge, "")
}

// Remove deletes a user-defined network that no container uses: its DNS
// server, its firewall rules, its bridge and its state. The pre-defined
// networks cannot be removed, as in Docker.
func (m *Manager) Remove(ref string) error {
	defer m.useDialed()()
	n, unlock, err := m.findLocked(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if n.Predefined() {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed", n.Name)
	}
	return m.remove(n)
}

// remove tears a network down everywhere: an overlay network leaves the
// cluster's store first (refused while any host uses it), then this host.
func (m *Manager) remove(n *Network) error {
	if n.Driver != DriverOverlay {
		return m.removeLocal(n)
	}
	if !m.tr.DryRun() {
		if err := m.reapStale(n); err != nil {
			return err
		}
	}
	if err := netInUse(n); err != nil {
		return err
	}
	if err := m.removeOverlay(n); err != nil {
		return err
	}
	return m.removeLocal(n)
}

// netInUse is the error of a network that still has containers here.
func netInUse(n *Network) error {
	if len(n.Containers) == 0 {
		return nil
	}
	var names []string
	for _, ep := range n.Endpoints() {
		names = append(names, ep.Name)
	}
	return fmt.Errorf("cannot remove network %s: %w (%s): disconnect or remove them first", n.Name, ErrInUse, strings.Join(names, ", "))
}

// removeLocal tears a network down on this host; the lock is held.
// Endpoints of containers that died without a Detach are reaped first
// (minirun has no daemon to notice a crash or a reboot). Each step runs
// even if an earlier one failed, so one stuck object does not keep the
// others. An overlay network's keys in the cluster's store are not
// touched: remove does that.
func (m *Manager) removeLocal(n *Network) error {
	if !m.tr.DryRun() {
		if err := m.reapStale(n); err != nil {
			return err
		}
	}
	if err := netInUse(n); err != nil {
		return err
	}
	if err := m.removePlugins(n); err != nil {
		return err
	}
	var errs []error
	if n.DNS != nil {
		errs = append(errs, m.tr.Do(dnsStopStep(n), nil))
	}
	if n.bridged() {
		errs = append(errs, m.tr.Do(rulesDeleteStep(n), nil))
		if n.Driver == DriverOverlay {
			errs = append(errs, m.tr.Do(vxlanDeleteStep(n), nil))
		}
		errs = append(errs, m.tr.Do(bridgeDeleteStep(n), nil))
	}
	if isSublink(n.Driver) && n.CreatedParent {
		// A parent that could not go keeps the record: it is the only
		// thing that names the link, and `network rm` can be run again.
		nets, err := m.list()
		if err == nil {
			err = m.parentDelete(n, nets)
		}
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	errs = append(errs, m.tr.Do(stateDeleteStep(m.netDir(n.ID), n), nil))
	m.forget(n)
	if n.bridged() {
		// Always narrated: the step deletes table ip minirun only once no
		// rule of a network or container is left in it, and says so.
		errs = append(errs, m.tr.Do(tableDeleteStep(), nil))
	}
	return errors.Join(errs...)
}

// Prune removes every user-defined network no container uses that f
// selects and returns their names, like `docker network prune`. Networks
// carry no labels here: a label filter selects none, label! all.
func (m *Manager) Prune(f prunefilter.Filter) ([]string, error) {
	defer m.useDialed()()
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range nets {
		if n.Predefined() {
			continue
		}
		if err := m.reapStale(n); err != nil {
			errs = append(errs, err)
			continue
		}
		if len(n.Containers) > 0 || !f.Match(nil, n.Created) {
			continue
		}
		if err := m.remove(n); err != nil {
			if !errors.Is(err, ErrInUse) { // an overlay used on another host
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

// Reset removes every bridge network, the default one included, when no
// container uses any: the way back to a host without anything of minirun's
// networking (tests and the end of a class). Docker has no equivalent: its
// daemon owns docker0 for good. Overlay networks leave this host only:
// they stay in the cluster's store for the other hosts (and come back
// here on the next SyncOverlayNetworks).
func (m *Manager) Reset() error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	nets, err := m.list()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if err := m.reapStale(n); err != nil {
			return err
		}
		if len(n.Containers) > 0 {
			return fmt.Errorf("cannot reset networks: network %s: %w", n.Name, ErrInUse)
		}
	}
	var errs []error
	for _, n := range nets {
		if n.Driver == DriverBridge || fileExists(NetworkFile(m.dir, n.ID)) {
			errs = append(errs, m.removeLocal(n))
		}
	}
	return errors.Join(errs...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
