package network

import "github.com/minirun/minirun/etcd"

// The cluster store every minirun process dials from an overlay network's
// record is etcd, through its v3 JSON gateway (package etcd says why not
// the grpc client). Tests replace DialCluster with an in-memory store.
func init() { DialCluster = dialEtcd }

// dialEtcd opens the etcd at url (etcd://HOST:PORT).
func dialEtcd(url string) (ClusterStore, error) { return etcd.New(url) }
