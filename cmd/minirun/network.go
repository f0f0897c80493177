package main

// `minirun network …`: Docker's network commands over the network package,
// and the hidden roles the package re-executes minirun in.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/network"
	"github.com/urfave/cli/v2"
)

// openNetworks opens the network manager of the data root, narrating with
// the --explain flags when the command has them.
func openNetworks(c *cli.Context) (*network.Manager, func(), error) {
	var tr *explain.Tracer
	done := func() {}
	if c.Command.HasName("create") || c.Command.HasName("rm") || c.Command.HasName("prune") ||
		c.Command.HasName("attach") || c.Command.HasName("detach") {
		var err error
		if tr, done, err = tracerFromFlags(c); err != nil {
			return nil, nil, err
		}
	}
	m, err := network.Open(c.String("data-root"), tr)
	if err != nil {
		done()
		return nil, nil, err
	}
	return m, done, nil
}

var networkCommand = &cli.Command{
	Name:  "network",
	Usage: "manage networks (bridge, host, none), like docker network",
	Subcommands: []*cli.Command{
		{
			Name: "create", Usage: "create a bridge network, or a network plugin's", ArgsUsage: "NAME",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "bridge, overlay (needs a cluster store, docs/network.md#overlay), macvlan, ipvlan, or a network plugin's name (libnetwork remote driver, docs/plugins.md); host and none are pre-defined"},
				&cli.StringFlag{Name: "ipam-driver", Value: "default", Usage: "default (minirun's own), or an IPAM plugin's name: the pool, the gateway and every address come from it"},
				&cli.StringFlag{Name: "subnet", Usage: "CIDR, e.g. 10.78.5.0/24 (default: the next free /24 of 10.78.0.0/16)"},
				&cli.StringFlag{Name: "gateway", Usage: "the bridge's address (default: the subnet's first)"},
				&cli.BoolFlag{Name: "internal", Usage: "no NAT, no route out"},
				&cli.BoolFlag{Name: "attachable", Usage: "accepted and recorded, as Docker's (every minirun network takes containers)"},
				&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: network.OptBridgeName + "=mrNAME, " + network.OptMTU + "=N, " + network.OptDNSUpstream + "=IP[:PORT],… (bridge); parent=IF[.VLAN], macvlan_mode=…, ipvlan_mode=…, ipvlan_flag=… (macvlan, ipvlan)"},
			}, explainFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return errors.New("network create: expects exactly one NAME (flags go before it)")
				}
				if err := requireRoot(); err != nil {
					return err
				}
				opts := map[string]string{}
				for _, kv := range c.StringSlice("opt") {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return fmt.Errorf("invalid option %q: expected KEY=VALUE", kv)
					}
					opts[k] = v
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				n, err := m.Create(network.CreateOpts{
					Name: c.Args().First(), Driver: c.String("driver"), Subnet: c.String("subnet"),
					Gateway: c.String("gateway"), Internal: c.Bool("internal"), Options: opts, IPAMDriver: c.String("ipam-driver"),
					Attachable: c.Bool("attachable"),
				})
				if err != nil {
					return err
				}
				fmt.Println(n.ID)
				return nil
			},
		},
		{
			Name: "ls", Aliases: []string{"list"}, Usage: "list networks",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only ids"}},
			Action: func(c *cli.Context) error {
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				nets, err := m.List()
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
				if !c.Bool("quiet") {
					fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSCOPE\tSUBNET\tBRIDGE")
				}
				for _, n := range nets {
					if c.Bool("quiet") {
						fmt.Fprintln(w, n.Short())
						continue
					}
					sub := "-"
					if s := n.Subnet(); s.IsValid() {
						sub = s.String()
					}
					br := n.Bridge
					if br == "" {
						br = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Short(), n.Name, n.Driver, n.Scope, sub, br)
				}
				return w.Flush()
			},
		},
		{
			Name: "inspect", Usage: "show networks as JSON, with their containers and addresses", ArgsUsage: "NETWORK [NETWORK…]",
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return errors.New("network inspect: expects at least one NETWORK")
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				var out []*network.Network
				for _, ref := range c.Args().Slice() {
					n, err := m.Get(ref)
					if err != nil {
						return err
					}
					out = append(out, n)
				}
				b, err := json.MarshalIndent(out, "", "    ")
				if err != nil {
					return err
				}
				fmt.Println(string(b))
				return nil
			},
		},
		{
			Name: "rm", Aliases: []string{"remove"}, Usage: "remove networks no container uses", ArgsUsage: "NETWORK [NETWORK…]",
			Flags: explainFlags,
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return errors.New("network rm: expects at least one NETWORK")
				}
				if err := requireRoot(); err != nil {
					return err
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				var errs []error
				for _, ref := range c.Args().Slice() {
					if err := m.Remove(ref); err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Println(ref)
				}
				return errors.Join(errs...)
			},
		},
		{
			Name: "reset", Usage: "remove every network, the default bridge and minirun's firewall table too (end of class; no container may use them)",
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				return m.Reset()
			},
		},
		{
			Name: "prune", Usage: "remove every user-defined network no container uses",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"}, pruneFilterFlag}, explainFlags...),
			Action: func(c *cli.Context) error {
				if err := requireRoot(); err != nil {
					return err
				}
				if !c.Bool("force") {
					fmt.Fprint(os.Stderr, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ")
					ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
					if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" && a != "s" && a != "sim" {
						return nil
					}
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				f, err := pruneFilter(c)
				if err != nil {
					return err
				}
				removed, err := m.Prune(f)
				if len(removed) > 0 {
					fmt.Println("Deleted Networks:")
					for _, n := range removed {
						fmt.Println(n)
					}
				}
				return err
			},
		},
		{
			Name: "connect", Usage: "connect a running container to a network (a new ethN appears in it)", ArgsUsage: "NETWORK CONTAINER",
			Flags: append([]cli.Flag{
				&cli.StringSliceFlag{Name: "alias", Usage: "network-scoped name for the container (DNS)"},
				&cli.StringFlag{Name: "ip", Usage: "IPv4 address (user-defined networks)"},
			}, explainFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return errors.New("network connect: expects NETWORK CONTAINER")
				}
				if err := requireRoot(); err != nil {
					return err
				}
				cm, err := openManager(c)
				if err != nil {
					return err
				}
				tr, done, err := tracerFromFlags(c)
				if err != nil {
					return err
				}
				defer done()
				return cm.Connect(c.Args().Get(0), c.Args().Get(1), network.EndpointOpts{IP: c.String("ip"), Aliases: c.StringSlice("alias")}, tr)
			},
		},
		{
			Name: "disconnect", Usage: "disconnect a container from a network", ArgsUsage: "NETWORK CONTAINER",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted for Docker compatibility"}}, explainFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return errors.New("network disconnect: expects NETWORK CONTAINER")
				}
				if err := requireRoot(); err != nil {
					return err
				}
				cm, err := openManager(c)
				if err != nil {
					return err
				}
				tr, done, err := tracerFromFlags(c)
				if err != nil {
					return err
				}
				defer done()
				return cm.Disconnect(c.Args().Get(0), c.Args().Get(1), tr)
			},
		},
		{
			// CNI's ADD for a process minirun did not start: the test
			// scripts and the benchmark plug their own namespaces in.
			Name: "attach", Hidden: true, ArgsUsage: "NETWORK PID",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "id", Required: true, Usage: "12-64 hex digits naming the endpoint's owner"},
				&cli.StringFlag{Name: "name"},
				&cli.StringFlag{Name: "ip"},
				&cli.StringSliceFlag{Name: "alias"},
				&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}},
			}, explainFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return errors.New("network attach: expects NETWORK PID")
				}
				pid, err := strconv.Atoi(c.Args().Get(1))
				if err != nil {
					return fmt.Errorf("invalid pid %q", c.Args().Get(1))
				}
				var ports []network.PortMapping
				for _, p := range c.StringSlice("publish") {
					ps, err := network.ParsePublish(p)
					if err != nil {
						return err
					}
					ports = append(ports, ps...)
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				ep, err := m.Connect(c.Args().Get(0), c.String("id"), c.String("name"), pid, network.EndpointOpts{IP: c.String("ip"), Aliases: c.StringSlice("alias"), Ports: ports})
				if err != nil {
					return err
				}
				b, _ := json.MarshalIndent(ep, "", "  ")
				fmt.Println(string(b))
				return nil
			},
		},
		{
			Name: "detach", Hidden: true, ArgsUsage: "NETWORK ID", Flags: explainFlags,
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return errors.New("network detach: expects NETWORK ID")
				}
				m, done, err := openNetworks(c)
				if err != nil {
					return err
				}
				defer done()
				return m.Disconnect(c.Args().Get(0), c.Args().Get(1))
			},
		},
		{
			// The network's DNS server: started by the network package,
			// detached (setsid), never by hand.
			Name: network.DNSServerArgs[1], Hidden: true, ArgsUsage: "NETWORK-ID",
			Flags: []cli.Flag{&cli.StringFlag{Name: "dir", Required: true}},
			Action: func(c *cli.Context) error {
				return network.ServeDNS(c.String("dir"), c.Args().First(), network.ReadyFile())
			},
		},
	},
}
