package daemon

// The daemon's side of Docker's classic multi-host mode (dockerd
// --cluster-store, --cluster-advertise; libnetwork's datastore and its
// watches): overlay networks, their addresses and their endpoints live in
// etcd, and each daemon keeps its own host in step with them. A network
// created on another host appears here; an endpoint that appears on
// another host gets its FDB and neighbour entries on this host's VXLAN
// device, and its names in this host's DNS; one that goes away loses them.
//
// The loop reconciles rather than applying events one by one: list the
// keys, make the host match, then watch from the listed revision and, on
// any change, reconcile again. Missing an event (etcd compacted, the
// stream broke, etcd was down for a minute) therefore costs nothing but
// the next full reconcile: a daemon that loses etcd keeps its containers
// running and catches up when etcd is back.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/minirun/minirun/etcd"
	"github.com/minirun/minirun/network"
)

// Cluster is the daemon's cluster store (--cluster-store) and this host's
// address on the underlay (--cluster-advertise).
type Cluster struct {
	// Store is the etcd the overlay networks live in.
	Store *etcd.Client
	// Net is what network.Manager needs: the same store, its URL and the
	// advertise address.
	Net network.Cluster
}

// clusterPrefix is the part of etcd the daemon watches: everything
// minirun keeps there (network/overlay.go documents the layout).
const clusterPrefix = "/minirun/"

// Reconnect delays: the first retry comes quickly (a blip), later ones
// slow down to clusterRetryMax so a long etcd outage costs little.
const (
	clusterRetryMin = 200 * time.Millisecond
	clusterRetryMax = 5 * time.Second
)

// clusterSettle is how long the loop waits after a change for the ones
// that come with it (a container's endpoint key and its address key)
// before it reconciles: one pass for a burst, not one per key.
const clusterSettle = 20 * time.Millisecond

// runCluster keeps the host in step with the store until ctx ends.
func (d *Daemon) runCluster(ctx context.Context) {
	wait := clusterRetryMin
	for ctx.Err() == nil {
		err := d.followCluster(ctx)
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "minirun daemon: cluster store %s: %v (again in %v)\n", d.cfg.Cluster.Net.URL, err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if wait *= 2; wait > clusterRetryMax {
			wait = clusterRetryMax
		}
		if err == nil {
			wait = clusterRetryMin
		}
	}
}

// followCluster reconciles once, then again after every change the watch
// reports, until the watch ends; it returns why.
func (d *Daemon) followCluster(ctx context.Context) error {
	_, rev, err := d.cfg.Cluster.Store.List(ctx, clusterPrefix)
	if err != nil {
		return err
	}
	if err := d.reconcileCluster(ctx); err != nil {
		return err
	}
	events, err := d.cfg.Cluster.Store.Watch(ctx, clusterPrefix, rev+1)
	if err != nil {
		return err
	}
	for ev := range events {
		if ev.Err != nil {
			return ev.Err
		}
		if err := drain(ctx, events); err != nil {
			return err
		}
		if err := d.reconcileCluster(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("watch of %s ended", clusterPrefix)
}

// drain takes the events that arrive within clusterSettle of the last.
func drain(ctx context.Context, events <-chan etcd.WatchEvent) error {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Err != nil {
				return ev.Err
			}
		case <-time.After(clusterSettle):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reconcileCluster makes this host match the store: the overlay networks
// first (records created or removed), then each one's remote endpoints.
func (d *Daemon) reconcileCluster(ctx context.Context) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	if err := nm.SyncOverlayNetworks(ctx); err != nil {
		return err
	}
	nets, err := nm.List()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if n.Driver != network.DriverOverlay {
			continue
		}
		if err := nm.SyncOverlayPeers(ctx, n.ID); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return nil
}
