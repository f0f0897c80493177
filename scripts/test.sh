#!/usr/bin/env bash
# test.sh — sets everything up, then runs every test: unit tests (no root),
# root tests of each package, the integration suite and the hostile suite
# (tests/hostile: attacks from inside containers, kills at random points),
# each of which ends with a leak check. It is the README's test command: CI
# (.ci/run) runs it as the README writes it, on a fresh Debian 12 root;
# developers run it directly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The go that setup.sh built with (scripts/go.sh chose or installed it).
GO=$(bash scripts/go.sh 2>/dev/null)
export PATH="$(dirname "$GO"):$PATH"

echo; echo "== unit tests (no root needed)"
go vet ./...
go test -count=1 ./...

echo; echo "== root tests and integration suite"
export MINIRUN_TEST_ROOT=1
go test -count=1 -p 1 -tags integration ./... 

echo; echo "== hostile suite: escapes from a container, races, SIGKILL loops, full disk (ends with a leak check)"
go vet -tags hostile ./tests/hostile/...
go test -count=1 -p 1 -tags hostile -timeout 10m ./tests/hostile

echo; echo "== cgroup v2 tests in a qemu VM (Debian 12's kernel, cgroup2 only)"
bash tests/vm/fetch-kernel.sh
vmtmp=$(mktemp -d /tmp/minirun-vmtest-XXXXXX)
trap 'rm -rf "$vmtmp"' EXIT
CGO_ENABLED=0 go test -c -o "$vmtmp/cgroups.test" ./cgroups
bash tests/vm/run.sh -- "$vmtmp/cgroups.test" -test.v -test.count=1

echo; echo "== integration tests on cgroup v2, in the VM"
bash scripts/build.sh "$vmtmp/minirun"
CGO_ENABLED=0 go test -c -tags integration -o "$vmtmp/integration.test" ./tests/integration
bash scripts/mkbusybox.sh "$vmtmp/busybox.tar" >/dev/null
# The nftables expressions a Debian 12 host would autoload, shipped in the
# initramfs so the kernel finds them there too.
nftmods=()
for m in nft_fib nft_fib_ipv4 nft_fib_inet nft_reject nft_reject_ipv4 nft_reject_inet nft_limit nft_log nft_redir nft_objref nft_hash nft_numgen nft_quota; do
  nftmods+=(--module "$m")
done
# Debian's NFS server programs (not installed here: fetched and unpacked
# by fetch-nfs.sh) for TestNFSVolume's nfsd in the VM; macvlan, ipvlan,
# 8021q and the NFS modules ship with run.sh's on-demand modules.
bash tests/vm/fetch-nfs.sh >"$vmtmp/nfs.args"
mapfile -t nfsfiles <"$vmtmp/nfs.args"
bash tests/vm/run.sh --timeout 600 "${nftmods[@]}" "${nfsfiles[@]}" --add "$vmtmp/minirun:/usr/local/bin/minirun" --add "$vmtmp/busybox.tar:/images/busybox.tar" \
  --env MINIRUN_BINARY=/usr/local/bin/minirun --env MINIRUN_BUSYBOX_TAR=/images/busybox.tar -- \
  "$vmtmp/integration.test" -test.v -test.count=1 \
  -test.run 'Cgroup|Stats|DeviceCgroup|Namespaces|PID1|OnlyLoopback|WriteGoes|ExitCodes|OCILifecycle|Explain|MacvlanLAN|IPvlanL2LAN|MacvlanParentsAndErrors|NFSVolume' \
  -test.skip 'TestExplainShell|TestExplainAPI|TestDaemon'
# The daemon's tests and `explain api` drive Debian's docker client, which
# the VM does not carry (the host runs them). TestExplainShell runs the `explain --shell` scripts with bash, jq, nft and
# ip, which this VM's initramfs does not carry (it has minirun, busybox and
# the test binary): the scripts run on the host above; their cgroup v2
# branch is checked there only by `bash -n` and by its v1 twin.

echo; echo "== the multi-host overlay across two VMs (two Debian 12 kernels on one cable)"
# tests/vm/run2.sh boots two VMs joined by qemu's socket network (a TCP
# connection between the two qemu processes on 127.0.0.1). VM 1 runs
# Debian's etcd (dynamically linked: host-files.sh adds libc and ld-linux)
# and TestOverlayTwoVMs, which drives its own daemon and VM 2's (on
# tcp://192.168.78.2:2375, TestOverlayVMPeer) through the Engine API.
bash tests/vm/host-files.sh /usr/bin/etcd >"$vmtmp/etcd.args"
mapfile -t etcdfiles <"$vmtmp/etcd.args"
bash tests/vm/run2.sh --timeout 300 "${nftmods[@]}" "${etcdfiles[@]}" --log "$vmtmp/overlay" \
  --add "$vmtmp/minirun:/usr/local/bin/minirun" --add "$vmtmp/busybox.tar:/images/busybox.tar" \
  --env MINIRUN_BINARY=/usr/local/bin/minirun --env MINIRUN_BUSYBOX_TAR=/images/busybox.tar -- \
  "$vmtmp/integration.test" -test.v -test.count=1 -test.run '^(TestOverlayTwoVMs|TestOverlayVMPeer)$'
# Both roles skip outside their VM: a run where neither ran would pass.
for want in "vm1:TestOverlayTwoVMs" "vm2:TestOverlayVMPeer"; do
  grep -q -- "--- PASS: ${want#*:} " "$vmtmp/overlay.${want%%:*}" ||
    { echo "test.sh: ${want#*:} did not run and pass in ${want%%:*}" >&2; exit 1; }
done

echo; echo "== provisioning: twice (the second run must change nothing), and vagrant validate"
bash scripts/check-provision.sh
