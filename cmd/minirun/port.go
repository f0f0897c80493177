package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// portCommand is `docker port`: the container's published ports.
var portCommand = &cli.Command{
	Name: "port", Usage: "list a container's published ports", ArgsUsage: "CONTAINER",
	Action: func(c *cli.Context) error {
		_, meta, err := oneContainer(c)
		if err != nil {
			return err
		}
		for _, p := range meta.HostConfig.Network.Ports {
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			host := p.HostPort
			for _, ep := range meta.NetworkSettings.Networks {
				for _, q := range ep.Ports { // -P picked the real host port
					if q.ContainerPort == p.ContainerPort && q.Proto == p.Proto {
						host = q.HostPort
					}
				}
			}
			fmt.Printf("%d/%s -> %s:%d\n", p.ContainerPort, p.Proto, ip, host)
		}
		return nil
	},
}
