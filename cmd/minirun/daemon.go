package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/minirun/minirun/daemon"
	"github.com/minirun/minirun/etcd"
	"github.com/minirun/minirun/internal/cleanup"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/plugins"
	"github.com/urfave/cli/v2"
)

// daemonCommand is `minirun daemon`: Docker's Engine API on a unix
// socket, so the docker client drives minirun (DOCKER_HOST=unix://…).
// --root and --data-root may follow the command, as the usage
// writes them; before it they are the global flags.
var daemonCommand = &cli.Command{
	Name:  "daemon",
	Usage: "serve Docker's Engine API on a unix socket, for the docker client (DOCKER_HOST=unix:///run/minirun/docker.sock)",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "host", Aliases: []string{"H"}, Value: daemon.DefaultHost, Usage: "unix:///PATH of the socket to serve, or tcp://ADDR:PORT (with --tlsverify)"},
		&cli.BoolFlag{Name: "tls", Usage: "serve tcp:// with TLS (--tlscert, --tlskey); --tls=false serves it in the clear"},
		&cli.BoolFlag{Name: "tlsverify", Usage: "mutual TLS: require a client certificate signed by --tlscacert"},
		&cli.StringFlag{Name: "tlscacert", Usage: "PEM file of the CA that signs client certificates"},
		&cli.StringFlag{Name: "tlscert", Usage: "PEM file of the server's certificate"},
		&cli.StringFlag{Name: "tlskey", Usage: "PEM file of the server's key"},
		&cli.StringSliceFlag{Name: "authorization-plugin", Usage: "authorization plugin (Docker's AuthZ protocol) that checks every request, found as Docker finds plugins (/run/docker/plugins/NAME.sock, NAME.spec or NAME.json in /etc/docker/plugins, /usr/lib/docker/plugins; MINIRUN_PLUGIN_SOCKETS and MINIRUN_PLUGIN_SPECS override the directories)"},
		&cli.StringFlag{Name: "cluster-store", Usage: "etcd://HOST:PORT of the etcd that overlay networks live in (Docker's classic multi-host mode)"},
		&cli.StringFlag{Name: "cluster-advertise", Usage: "this host's address on the underlay (an IP, or an interface's name), where the other hosts send its VXLAN packets"},
		&cli.StringFlag{Name: "root", Usage: "state directory of running containers (the global --root)"},
		&cli.StringFlag{Name: "data-root", Usage: "where images and containers' layers are stored (the global --data-root)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() != 0 {
			return fmt.Errorf("daemon: takes no arguments")
		}
		if err := requireRoot(); err != nil {
			return err
		}
		global := c.Lineage()[1]
		root, dataRoot := global.String("root"), global.String("data-root")
		if v := c.String("root"); v != "" {
			root = v
		}
		if v := c.String("data-root"); v != "" {
			dataRoot = v
		}
		m, err := openManagerAt(global, dataRoot, root)
		if err != nil {
			return err
		}
		var authz []*plugins.AuthZPlugin
		for _, name := range c.StringSlice("authorization-plugin") {
			p, err := plugins.AuthZ(plugins.DirsFromEnv(), name)
			if err != nil {
				return err
			}
			authz = append(authz, p)
		}
		cluster, err := clusterFlags(c)
		if err != nil {
			return err
		}
		var undo cleanup.Stack
		l, err := listenDaemon(c, &undo)
		if err != nil {
			return errors.Join(err, undo.Run())
		}
		// SIGINT and SIGTERM stop serving and remove the socket; the
		// containers go on (their shims hold them).
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		go func() { <-sigs; l.Close() }()
		fmt.Fprintf(os.Stderr, "minirun daemon: API %s (min %s) on %s, root %s, data root %s\n",
			daemon.APIVersion, daemon.MinAPIVersion, c.String("host"), root, dataRoot)
		d := daemon.New(daemon.Config{Containers: m, Version: version, AuthZ: authz, Cluster: cluster})
		err = d.Serve(l)
		return errors.Join(err, undo.Run())
	},
}

// clusterFlags reads --cluster-store and --cluster-advertise: both or
// neither, as dockerd wants them. The store is not asked anything yet: a
// daemon starts while etcd is down and catches up when it is back
// (daemon/cluster.go).
func clusterFlags(c *cli.Context) (*daemon.Cluster, error) {
	url, adv := c.String("cluster-store"), c.String("cluster-advertise")
	if url == "" && adv == "" {
		return nil, nil
	}
	if url == "" || adv == "" {
		return nil, errors.New("daemon: --cluster-store and --cluster-advertise go together")
	}
	store, err := etcd.New(url)
	if err != nil {
		return nil, fmt.Errorf("--cluster-store: %w", err)
	}
	addr, err := advertiseAddr(adv)
	if err != nil {
		return nil, err
	}
	return &daemon.Cluster{Store: store, Net: network.Cluster{Store: store, URL: url, Advertise: addr}}, nil
}

// advertiseAddr is --cluster-advertise as an IPv4 address: given as one
// (a ":PORT" after it, which dockerd takes, is ignored: VXLAN has its
// own), or as the name of an interface, whose first IPv4 address it is.
func advertiseAddr(s string) (netip.Addr, error) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() || a.IsUnspecified() || a.IsLoopback() {
			return netip.Addr{}, fmt.Errorf("--cluster-advertise %s: an IPv4 address the other hosts reach", s)
		}
		return a, nil
	}
	ifc, err := net.InterfaceByName(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--cluster-advertise %s: neither an IPv4 address nor an interface", s)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--cluster-advertise %s: %w", s, err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("--cluster-advertise %s: the interface has no IPv4 address", s)
}

// listenDaemon opens -H: a unix socket, or a TCP port with the TLS the
// flags ask for (daemon.ListenTCP refuses plain TCP unless --tls=false).
func listenDaemon(c *cli.Context, undo *cleanup.Stack) (net.Listener, error) {
	host := c.String("host")
	if !strings.HasPrefix(host, "tcp://") {
		if c.Bool("tls") || c.Bool("tlsverify") {
			return nil, fmt.Errorf("-H %s: --tls and --tlsverify are for tcp:// sockets", host)
		}
		return daemon.Listen(host, nil, undo)
	}
	return daemon.ListenTCP(host, daemon.TLSOptions{
		TLS: c.Bool("tls"), Verify: c.Bool("tlsverify"),
		CACert: c.String("tlscacert"), Cert: c.String("tlscert"), Key: c.String("tlskey"),
		Insecure: c.IsSet("tls") && !c.Bool("tls") && !c.Bool("tlsverify"),
		Warn:     func(s string) { fmt.Fprintln(os.Stderr, "minirun daemon: "+s) },
	}, nil, undo)
}
