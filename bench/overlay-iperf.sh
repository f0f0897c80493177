#!/usr/bin/env bash
# overlay-iperf.sh — TCP throughput (iperf3, one stream) between two
# containers on an overlay network across two "hosts" (network namespaces
# with their own minirun daemons on one etcd, tests/integration
# TestOverlayThroughput), against the same kind of pair on one host's
# user bridge, in alternating rounds of the same run.
# Then, 20 times: from `run -d` of a container on host 1 until a container
# on host 2, already looping on `ping NAME`, resolves and reaches it.
# Targets (issue 18): overlay ≥ 0.5 of bridge; reach ≤ 1 s (median of 20).
# Throughput: overlay ≥ 0.5 of bridge (VXLAN costs 50 bytes a
# packet — the overlay's MTU is 1450 — and an encapsulation in UDP and a
# second pass through a bridge on each side).
#
# Measured (Dec 2026, a 2-core VM shared with other jobs): 3 rounds of
# 3 s: overlay 12.7–12.9 Gbit/s, bridge 15.7–15.8 Gbit/s, ratio 0.81 in
# every round; another run (2 s rounds, busier): ratios 0.85, 0.95, 0.86.
# Reach: median 699 ms of 20 (min 540, max 1737): the watch's event, one
# reconcile (list, FDB and neighbour entries, the DNS record) on host 2,
# and the ping loop's own 20 ms naps.
#
# Mede a vazão TCP entre dois contêineres numa rede overlay entre dois
# "hosts" e compara com um par na bridge de um host só.
#
# usage: bench/overlay-iperf.sh [SECONDS] (as root; default 3 s per round)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3 (scripts/setup.sh installs it)" >&2; exit 1; }
out=$(MINIRUN_TEST_ROOT=1 MINIRUN_BENCH_OVERLAY=1 MINIRUN_BENCH_SECS=${1:-3} \
  go test -count=1 -p 1 -tags integration -run 'TestOverlayThroughput$' -v ./tests/integration 2>&1) || {
  echo "$out" >&2; exit 1; }
echo "$out" | grep '^round'
ratios=$(echo "$out" | awk '/^round/ { print $NF }' | sort -n)
[ -n "$ratios" ] || { echo "$out" >&2; exit 1; }
n=$(echo "$ratios" | wc -l)
med=$(echo "$ratios" | sed -n "$(((n + 1) / 2))p")
awk -v m="$med" 'BEGIN { ok = (m >= 0.5)
  printf "median ratio overlay/bridge %.2f (target >= 0.50): %s\n", m, (ok ? "met" : "NOT met")
  exit !ok }' || status=1
reach=$(echo "$out" | awk '/^reach/ { print $3 }' | sort -n)
[ -n "$reach" ] || { echo "$out" >&2; exit 1; }
n=$(echo "$reach" | wc -l)
med=$(echo "$reach" | sed -n "$(((n + 1) / 2))p")
echo "run -d on host 1 until host 2 resolves and reaches it: median ${med} ms of $n," \
  "min $(echo "$reach" | head -1), max $(echo "$reach" | tail -1)"
if [ "$med" -le 1000 ]; then echo "(target <= 1000 ms): met"; else echo "(target <= 1000 ms): NOT met"; status=1; fi
exit "${status:-0}"
