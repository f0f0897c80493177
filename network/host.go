package network

import (
	"fmt"
	"os"
	"strconv"

	"github.com/minirun/minirun/explain"
)

// StepHostNet is the check that a container on the host network shares
// the host's network namespace; docs/network.md has its anchor.
const StepHostNet = "network-host"

// ShowHostNetwork is Attach's counterpart for a container on the host
// network (--network host): there is nothing to plug in, since the
// container was created without CLONE_NEWNET, so the step only checks, and
// shows, that its init's network namespace is the very one minirun runs
// in. A container that got a namespace of its own anyway is an error, not
// a silent isolation the student did not ask for.
func (m *Manager) ShowHostNetwork(ep *Endpoint, pid int) error {
	return m.tr.Do(hostNetStep(ep.Name, pid), nil)
}

func hostNetStep(name string, pid int) stepT {
	ctr := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	return stepT{
		ID: StepHostNet, Chapter: explain.ChapterNetwork,
		Title: text(fmt.Sprintf("Confere que %s usa a rede do host", name), fmt.Sprintf("Check that %s uses the host's network", name)),
		Why: text("Com --network host o clone não leva CLONE_NEWNET: o contêiner vê as interfaces, rotas e portas do host, sem veth, sem bridge e sem NAT; um servidor nele escuta direto nas portas do host.",
			"With --network host the clone has no CLONE_NEWNET: the container sees the host's interfaces, routes and ports, with no veth, no bridge and no NAT; a server in it listens straight on the host's ports."),
		Shell: "readlink /proc/self/ns/net /proc/$PID/ns/net",
		Do: func() error {
			host, ns, err := hostAndContainerNetNS(ctr)
			if err != nil {
				return err
			}
			if host != ns {
				return fmt.Errorf("container %s is on the host network but its init has network namespace %s, the host %s", name, ns, host)
			}
			return nil
		},
		Evidence: func() string {
			host, ns, err := hostAndContainerNetNS(ctr)
			if err != nil {
				return err.Error()
			}
			return "net: host " + host + " = container " + ns
		},
	}
}

// hostAndContainerNetNS reads the network namespace links of this process
// (the host's, where minirun runs) and of the container's init: two equal
// "net:[INODE]" are one namespace (namespaces(7), "The /proc/[pid]/ns/
// directory").
func hostAndContainerNetNS(ctr string) (host, ns string, err error) {
	if host, err = os.Readlink("/proc/self/ns/net"); err != nil {
		return "", "", fmt.Errorf("read the host's network namespace: %w", err)
	}
	if ns, err = os.Readlink(ctr); err != nil {
		return "", "", fmt.Errorf("read the container's network namespace: %w", err)
	}
	return host, ns, nil
}
