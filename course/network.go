package course

import (
	"errors"
	"os"
	"strconv"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/network"
)

func init() {
	register(&Chapter{
		Name: explain.ChapterNetwork,
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			nm, err := network.Open(e.DataRoot, tr)
			if err != nil {
				return -1, err
			}
			return 0, networkScenario(nm, liveNet{m: e.Containers, image: e.Image, tr: tr}, tr)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error {
			nm, err := network.Open(e.DataRoot, tr)
			if err != nil {
				return err
			}
			return networkScenario(nm, dryNet{container.DryRunNet{Networks: nm, DataRoot: e.DataRoot, Tracer: tr}}, tr)
		},
		Shell:     networkShell,
		ShellVars: network.ShellVars,
	})
}

// networkShell is the chapter as `explain network --shell` writes it: one
// network and one container publishing a port, what a student can build
// and take apart by hand —
//
//	minirun network create --subnet 10.98.0.0/24 shell
//	minirun run -d --network shell -p 18080:80 busybox sleep infinity
//
// described with the script's own names (network.DescribeForShell). The
// chapter's other containers, its DNS questions and its removals are
// minirun's commands again, not new steps; the script's teardown is the
// undo of each step.
func networkShell(e *Env, tr *explain.Tracer) error {
	restore := network.DescribeForShell()
	defer restore()
	nm, err := network.Open(e.DataRoot, tr)
	if err != nil {
		return err
	}
	n, err := nm.Create(network.CreateOpts{Name: "shell", Subnet: network.ShellSubnet})
	if err != nil {
		return err
	}
	d := container.DryRunNet{Networks: nm, DataRoot: e.DataRoot, Tracer: tr}
	o := container.NetworkOpts{Network: n.Name, Ports: []network.PortMapping{{HostPort: network.ShellHostPort, ContainerPort: 80, Proto: "tcp"}}}
	// As a run does it: the address first, then the container (its clone
	// makes the network namespace), then eth0 into that namespace.
	ep, err := d.Reserve("shell", o)
	if err != nil {
		return err
	}
	if err := container.DryRun(e.DataRoot, e.StateRoot, container.RunOpts{Image: e.Image, Cmd: []string{"sleep", "infinity"}, Net: o}, tr); err != nil {
		return err
	}
	return d.Attach(ep)
}

// netUseCases are the container commands of the network chapter: live,
// the real container manager; in a dry run, the same network functions
// over a manager that only describes.
type netUseCases interface {
	// run is `run -d --name NAME --network … IMAGE CMD…`.
	run(name string, o container.NetworkOpts, cmd ...string) error
	connect(net, name string) error
	disconnect(net, name string) error
	// remove is `rm -f NAME`, its network part narrated.
	remove(name string) error
	// ports are the host ports NAME got published on.
	ports(nm *network.Manager, name string) ([]network.PortMapping, error)
}

// networkScenario is the chapter, as a student would type it:
//
//	minirun network create curso-PID
//	minirun run -d --name web1-PID --network curso-PID --network-alias web -p 80 busybox httpd -f -p 80 -h /etc
//	minirun run -d --name web2-PID --network curso-PID --network-alias web busybox httpd -f -p 80 -h /etc
//	dig @GATEWAY web   (four times: the answers rotate)
//	curl 127.0.0.1:PORT/hostname
//	minirun run -d --name cliente-PID --network curso-PID busybox sleep 60
//	minirun network disconnect curso-PID cliente-PID
//	minirun network connect curso-PID cliente-PID
//	minirun run -d --name host-PID --network host busybox sleep 60
//	minirun rm -f host-PID cliente-PID web2-PID web1-PID
//	minirun network rm curso-PID
//
// The network is new every time, so every step that builds one is shown
// every time; the ones that find their object already there (ip_forward,
// the nftables table) say so in their evidence. The teardown is the
// scenario's undo stack: it runs, narrated, whether the scenario got to
// the end or failed halfway, and leaves nothing behind.
func networkScenario(nm *network.Manager, uc netUseCases, tr *explain.Tracer) (retErr error) {
	pid := strconv.Itoa(os.Getpid())
	netName := "curso-" + pid
	web1, web2, cliente, hostC := "web1-"+pid, "web2-"+pid, "cliente-"+pid, "host-"+pid
	var undo cleanup.Stack
	defer func() { retErr = errors.Join(retErr, undo.Run()) }()

	n, err := nm.Create(network.CreateOpts{Name: netName})
	if err != nil {
		return err
	}
	undo.Add("network rm "+netName, func() error { return nm.Remove(netName) })
	httpd := []string{"httpd", "-f", "-p", "80", "-h", "/etc"}
	for _, c := range []struct {
		name  string
		ports []network.PortMapping
	}{
		{web1, []network.PortMapping{{ContainerPort: 80, Proto: "tcp"}}},
		{web2, nil},
	} {
		if err := uc.run(c.name, container.NetworkOpts{Network: netName, Aliases: []string{"web"}, Ports: c.ports}, httpd...); err != nil {
			return err
		}
		name := c.name
		undo.Add("rm -f "+name, func() error { return uc.remove(name) })
	}
	if err := tr.Do(network.DNSRoundRobinStep(n, "web", 4), nil); err != nil {
		return err
	}
	ports, err := uc.ports(nm, web1)
	if err != nil {
		return err
	}
	if len(ports) != 1 {
		return errors.New("explain network: web1 has no published port")
	}
	if err := tr.Do(network.LocalhostStep(ports[0], "/hostname"), nil); err != nil {
		return err
	}
	if err := uc.run(cliente, container.NetworkOpts{Network: netName}, "sleep", "60"); err != nil {
		return err
	}
	undo.Add("rm -f "+cliente, func() error { return uc.remove(cliente) })
	if err := uc.disconnect(netName, cliente); err != nil {
		return err
	}
	if err := uc.connect(netName, cliente); err != nil {
		return err
	}
	// The deck's host driver: no namespace of its own, nothing to plug.
	if err := uc.run(hostC, container.NetworkOpts{Network: network.HostNetwork}, "sleep", "60"); err != nil {
		return err
	}
	undo.Add("rm -f "+hostC, func() error { return uc.remove(hostC) })
	return nil
}

// liveNet runs the chapter's containers for real.
type liveNet struct {
	m     *container.Manager
	image string
	tr    *explain.Tracer
}

func (l liveNet) run(name string, o container.NetworkOpts, cmd ...string) error {
	_, err := l.m.RunDetached(container.RunOpts{Name: name, Hostname: name, Image: l.image, Cmd: cmd, Net: o}, false, l.tr)
	return err
}

func (l liveNet) connect(net, name string) error {
	return l.m.Connect(net, name, network.EndpointOpts{}, l.tr)
}

func (l liveNet) disconnect(net, name string) error { return l.m.Disconnect(net, name, l.tr) }

func (l liveNet) remove(name string) error { return l.m.RemoveExplained(name, l.tr) }

func (l liveNet) ports(nm *network.Manager, name string) ([]network.PortMapping, error) {
	meta, err := l.m.Get(name)
	if err != nil {
		return nil, err
	}
	return endpointPorts(nm, meta.ID)
}

func endpointPorts(nm *network.Manager, id string) ([]network.PortMapping, error) {
	eps, err := nm.Endpoints(id)
	if err != nil {
		return nil, err
	}
	var out []network.PortMapping
	for _, ep := range eps {
		out = append(out, ep.Ports...)
	}
	return out, nil
}

// dryNet describes the chapter's containers.
type dryNet struct{ d container.DryRunNet }

func (d dryNet) run(name string, o container.NetworkOpts, _ ...string) error { return d.d.Run(name, o) }

func (d dryNet) connect(net, name string) error {
	return d.d.Connect(net, name, network.EndpointOpts{})
}

func (d dryNet) disconnect(net, name string) error { return d.d.Disconnect(net, name) }

func (d dryNet) remove(name string) error { return d.d.Remove(name) }

func (d dryNet) ports(nm *network.Manager, name string) ([]network.PortMapping, error) {
	return endpointPorts(nm, container.DryRunIDOf(name))
}
