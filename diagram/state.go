package diagram

// State is what Probe read on the host at one moment.
type State struct {
	// HostNS maps a namespace kind ("net") to the inode of the host's
	// namespace of that kind (the narrating process's own).
	HostNS map[string]uint64 `json:"hostNS"`
	// HostLinks are minirun's links on the host (bridges and veth ends,
	// named mr…), with their addresses.
	HostLinks []Link `json:"hostLinks,omitempty"`
	// Rules are the rules of minirun's nftables table.
	Rules []Rule `json:"rules,omitempty"`
	// Containers are the containers that appeared since the probe's
	// baseline, in id order.
	Containers []Container `json:"containers,omitempty"`
	// Client is the narrating process (`minirun explain`): the client
	// of the components panel.
	Client *Proc `json:"client,omitempty"`
	// Daemon is `minirun daemon` when it is the parent of the
	// containers' shims (the containers were made through it).
	Daemon *Proc `json:"daemon,omitempty"`
	// DNS are the embedded DNS servers of the networks the containers
	// are on (or that appeared since the baseline).
	DNS []DNSServer `json:"dns,omitempty"`
}

// Container is one container as the host sees it.
type Container struct {
	ID string `json:"id"`
	// Pid is the container's init on the host (0 before it exists).
	Pid int `json:"pid,omitempty"`
	// NS maps a namespace kind to the inode of the init's namespace.
	NS      map[string]uint64 `json:"ns,omitempty"`
	Overlay *Overlay          `json:"overlay,omitempty"`
	Cgroup  *Cgroup           `json:"cgroup,omitempty"`
	// Links are the links inside the container's network namespace.
	Links []Link `json:"links,omitempty"`
	// Init is the container's init process (Pid) as /proc shows it.
	Init *Proc `json:"init,omitempty"`
	// Shim is the container's shim, for a detached container.
	Shim *Proc `json:"shim,omitempty"`
}

// Overlay is the container's root filesystem as mounted on the host.
type Overlay struct {
	Merged string  `json:"merged"`
	Upper  string  `json:"upper,omitempty"`
	Work   string  `json:"work,omitempty"`
	Lower  []Layer `json:"lower"`
	// UpperFiles are the first files found in the upper directory: what
	// the container wrote (or deleted: a whiteout, shown as "-path").
	UpperFiles []string `json:"upperFiles,omitempty"`
}

// Layer is one lower directory of the overlay: an image layer.
type Layer struct {
	Dir string `json:"dir"`
	// ID is the layer's short digest, taken from its directory
	// (…/layers/sha256/<hex>/diff), or the directory's name.
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// Cgroup is the container's control group and what its files say.
type Cgroup struct {
	// Path is the group's path from the hierarchy's root
	// (/minirun/<id>).
	Path    string `json:"path"`
	Version int    `json:"version"`
	// Stats are the limits and usages read, one per resource.
	Stats []Stat `json:"stats,omitempty"`
}

// Stat is one resource of a cgroup: its limit and current usage, as
// read from the named files and formatted for a person.
type Stat struct {
	Resource string `json:"resource"` // memory, pids, cpu
	Limit    string `json:"limit"`
	Usage    string `json:"usage"`
	// Files are the cgroup files read, so the student can cat them.
	Files []string `json:"files"`
}

// Link is one network interface.
type Link struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Kind  string `json:"kind"` // bridge, veth, device (lo), …
	// Master is the index of the bridge the link is a port of (0: none).
	Master int `json:"master,omitempty"`
	// Peer is, for a veth, the index of its other end (IFLA_LINK), which
	// lives in another namespace.
	Peer  int      `json:"peer,omitempty"`
	Up    bool     `json:"up"`
	Addrs []string `json:"addrs,omitempty"`
}

// Rule is one rule of minirun's nftables table.
type Rule struct {
	Chain string `json:"chain"`
	Text  string `json:"text"`
	// Owner is the rule's tag, the comment minirun puts on it
	// ("minirun:<id>" or a network's tag).
	Owner string `json:"owner,omitempty"`
}
