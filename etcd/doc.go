// Package etcd is minirun's client for the cluster store of multi-host
// overlay networks (`minirun daemon --cluster-store etcd://HOST:2379
// --cluster-advertise ADDR`, as in Docker's classic swarm-less overlay):
// the hosts agree on VXLAN ids, subnets and addresses through keys in one
// etcd, and learn of each other's endpoints by watching a prefix.
//
// # Why the JSON gateway and not go.etcd.io/etcd/client/v3
//
// etcd's native API is gRPC. Its official Go client (clientv3) pulls in
// google.golang.org/grpc and protobuf, and Go runs every linked package's
// initialiser in every process, whatever the process is for. Measured on
// minirun: linking clientv3 added 1.49 MB of heap and about 13 ms to the
// start of EVERY minirun process, the idle shim included, whose whole PSS
// budget is 4.4 MB (it was at 3.42 MB). So this package speaks to etcd's
// gRPC gateway instead, which etcd serves on the same client port: every
// gRPC call is also a POST of a JSON body to /v3/<service>/<method>, using
// only net/http and encoding/json, which minirun links anyway. See
// https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/ and, for the
// messages, https://etcd.io/docs/v3.4/dev-guide/api_reference_v3/.
//
// What the gateway's JSON looks like (proto3's JSON mapping,
// https://protobuf.dev/programming-guides/proto3/#json), checked against
// etcd 3.4.23 (Debian's etcd-server):
//
//   - the prefix is /v3/ (3.4 also serves /v3beta/, kept for 3.3 clients;
//     /v3alpha/ is gone and answers 404);
//   - keys and values are bytes, so they travel base64-encoded ("foo" is
//     "Zm9v"), which is exactly how encoding/json encodes a []byte;
//   - int64 fields (revisions, lease ids, TTLs) travel as JSON strings
//     ("revision":"42"), and fields at their zero value are left out;
//   - a failed call answers a 4xx/5xx status and
//     {"error":"etcdserver: ...","message":"...","code":N}, N being the
//     gRPC status code (5 NotFound, 11 OutOfRange for a compacted revision);
//   - streaming calls (Watch, LeaseKeepAlive) answer a chunked body of one
//     JSON object per line, each {"result":{...}} (or {"error":{...}}).
//
// # Failures
//
// Every error names the server ("etcd 127.0.0.1:2379: put /k: ...") and
// carries etcd's own message. A request without a deadline gets
// RequestTimeout; a dead server fails at once (connection refused) or
// after DialTimeout (nothing answers), never hangs.
package etcd
