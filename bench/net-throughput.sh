#!/usr/bin/env bash
# net-throughput.sh — TCP throughput (iperf3, one stream) over minirun's
# network paths, each as a ratio to the same transfer over loopback in the
# same namespace:
#   bridge     container → container on one network (veth, bridge, veth)
#   localhost  host → 127.0.0.1:PUBLISHED (output DNAT, route_localnet, masquerade)
#   remote     another host → HOSTIP:PUBLISHED (prerouting DNAT, forward)
# Target (issue 4): bridge ≥ 0.80 of loopback.
#
# Mede a vazão TCP pelos caminhos de rede do minirun, como fração da mesma
# transferência pelo loopback.
#
# Everything happens in a network namespace the script makes for itself
# (unshare --net), which plays the host: the machine's own interfaces,
# firewall and sysctls are never touched. "Containers" are processes in
# namespaces of their own, plugged in with the hidden `minirun network
# attach` (CNI's ADD). Needs root and Debian's iperf3 (apt-get install
# iperf3).
#
# Each round measures the paths back to back and each path's ratio is taken
# within its round, so a machine that is busier in one round than in
# another (a shared VM) skews the numbers less; the medians of the rounds
# are printed. (Pinning client and server to CPUs made the numbers worse
# on a shared 2-CPU VM: another job on the pinned CPU stalls one path only.)
# One more line, for information: the bridge path on a network created
# with -o com.docker.network.driver.mtu=65535 (loopback's MTU is 65536;
# the default 1500 is Ethernet's and Docker's).
#
# usage: bench/net-throughput.sh [SECONDS] [ROUNDS]   (default 5 s, 5 rounds)
#        MINIRUN=/path/to/minirun to use a built binary
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3: apt-get install -y iperf3" >&2; exit 1; }

if [ "${MINIRUN_BENCH_NS:-}" != 1 ]; then
  work=$(mktemp -d /tmp/minirun-netbench-XXXXXX)
  trap 'rm -rf "$work"' EXIT
  if [ -z "${MINIRUN:-}" ]; then
    bash scripts/build.sh "$work/minirun"
    MINIRUN=$work/minirun
  fi
  "$MINIRUN" network --help >/dev/null 2>&1 || {
    echo "$MINIRUN has no 'network' command (not wired into main.go yet?); set MINIRUN=" >&2; exit 1; }
  MINIRUN_BENCH_NS=1 MINIRUN=$MINIRUN WORK=$work unshare --net --fork bash "$0" "$@"
  exit $?
fi

# --- from here on: inside the bench's own "host" namespace ---
export MINIRUN_DATA_ROOT=$WORK/data
MR=$MINIRUN
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  "$MR" network detach bench aaaaaaaaaaaa0000 >/dev/null 2>&1
  "$MR" network detach bench bbbbbbbbbbbb0000 >/dev/null 2>&1
  "$MR" network detach jumbo cccccccccccc0000 >/dev/null 2>&1
  "$MR" network detach jumbo dddddddddddd0000 >/dev/null 2>&1
  "$MR" network rm bench jumbo >/dev/null 2>&1
}
trap cleanup EXIT
ip link set lo up

unshare --net sleep infinity </dev/null >/dev/null 2>&1 & A=$!
unshare --net sleep infinity </dev/null >/dev/null 2>&1 & B=$!
unshare --net sleep infinity </dev/null >/dev/null 2>&1 & OUT=$!
unshare --net sleep infinity </dev/null >/dev/null 2>&1 & C=$!
unshare --net sleep infinity </dev/null >/dev/null 2>&1 & D=$!
pids+=("$A" "$B" "$OUT" "$C" "$D")
sleep 0.2
for p in "$A" "$B" "$OUT" "$C" "$D"; do nsenter -t "$p" -n ip link set lo up; done

# the "outside world": a veth pair to another namespace, TEST-NET-1 addresses
ip link add mrtbh type veth peer name eth0 netns "$OUT"
ip addr add 192.0.2.1/24 dev mrtbh && ip link set mrtbh up
nsenter -t "$OUT" -n sh -c 'ip addr add 192.0.2.100/24 dev eth0 && ip link set eth0 up'

"$MR" network create bench >/dev/null
"$MR" network attach --id aaaaaaaaaaaa0000 --name a -p 15201:5201 bench "$A" >/dev/null
"$MR" network attach --id bbbbbbbbbbbb0000 --name b bench "$B" >/dev/null
"$MR" network create -o com.docker.network.driver.mtu=65535 jumbo >/dev/null
"$MR" network attach --id cccccccccccc0000 --name c jumbo "$C" >/dev/null
"$MR" network attach --id dddddddddddd0000 --name d jumbo "$D" >/dev/null
addr() { nsenter -t "$1" -n ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }
AIP=$(addr "$A"); CIP=$(addr "$C")

# one transfer: server in namespace $1 (or "host") on port $5, client in
# $2 to $3:$4; prints Mbit/s as the receiver counted them
mbits() {
  local srv=$1 cli=$2 addr=$3 port=$4 spid
  local in_srv=() in_cli=()
  [ "$srv" != host ] && in_srv=(nsenter -t "$srv" -n)
  [ "$cli" != host ] && in_cli=(nsenter -t "$cli" -n)
  "${in_srv[@]}" iperf3 -s -1 -p "$5" >/dev/null 2>&1 & spid=$!
  sleep 0.3
  "${in_cli[@]}" iperf3 -c "$addr" -p "$port" -t "$SECS" -f m 2>/dev/null | awk '/receiver/ {print $(NF-2)}'
  wait "$spid" 2>/dev/null || true
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a/b }'; }
lo=() br=() lh=() rm=() jb=() rbr=() rlh=() rrm=() rjb=()
for i in $(seq 1 "$ROUNDS"); do
  l=$(mbits host host 127.0.0.1 5301 5301)
  b=$(mbits "$A" "$B" "$AIP" 5201 5201)
  h=$(mbits "$A" host 127.0.0.1 15201 5201)
  r=$(mbits "$A" "$OUT" 192.0.2.1 15201 5201)
  j=$(mbits "$C" "$D" "$CIP" 5201 5201)
  lo+=("$l") br+=("$b") lh+=("$h") rm+=("$r") jb+=("$j")
  rbr+=("$(ratio "$b" "$l")") rlh+=("$(ratio "$h" "$l")") rrm+=("$(ratio "$r" "$l")") rjb+=("$(ratio "$j" "$l")")
  echo "round $i: loopback $l, bridge $b, localhost $h, remote $r, bridge mtu 65535 $j Mbit/s" >&2
done
echo "iperf3, 1 TCP stream, ${SECS}s × ${ROUNDS} rounds (medians; ratios within each round)"
printf '%-34s %8s Mbit/s\n' "loopback (reference)" "$(median "${lo[@]}")"
printf '%-34s %8s Mbit/s  ratio %s (target >= 0.80)\n' "bridge: container -> container" "$(median "${br[@]}")" "$(median "${rbr[@]}")"
printf '%-34s %8s Mbit/s  ratio %s\n' "published: host -> localhost" "$(median "${lh[@]}")" "$(median "${rlh[@]}")"
printf '%-34s %8s Mbit/s  ratio %s\n' "published: remote -> host IP" "$(median "${rm[@]}")" "$(median "${rrm[@]}")"
printf '%-34s %8s Mbit/s  ratio %s\n' "bridge, -o ...mtu=65535" "$(median "${jb[@]}")" "$(median "${rjb[@]}")"
