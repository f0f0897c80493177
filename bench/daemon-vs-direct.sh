#!/usr/bin/env bash
# daemon-vs-direct.sh — times `docker run --rm busybox true` through
# `minirun daemon` against `minirun run --rm busybox true` direct, on the
# same data root, alternating so both see the same machine state, and
# prints the ratio of the medians. Target (issue 16): ratio <= 1.3.
#
# Mede `docker run --rm` pelo daemon do minirun contra `minirun run --rm`
# direto.
#
# usage: bench/daemon-vs-direct.sh [ROUNDS]   (as root; default 20 rounds)
# Everything lives in a temp dir, on a bridge of its own (mrbench0,
# 10.75.0.0/16), removed at the end (bench/lib-daemon.sh); Docker's
# dockerd is never started.
# Measured (2 shared cores, 15 rounds): 327 ms against 280 ms, ratio 1.17.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
. bench/lib-daemon.sh

now() { date +%s%N; }
# One round of each first: the bridge and the page cache are warm for both.
docker run --rm busybox true; mr run --rm busybox true
dk=() dr=()
for _ in $(seq 1 "$ROUNDS"); do
  t0=$(now); docker run --rm busybox true </dev/null; t1=$(now)
  mr run --rm busybox true </dev/null; t2=$(now)
  dk+=($(( (t1-t0)/1000 ))); dr+=($(( (t2-t1)/1000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
k=$(median "${dk[@]}"); r=$(median "${dr[@]}")
echo "rounds: $ROUNDS"
echo "docker run --rm (minirun daemon): median ${k} µs"
echo "minirun run --rm (direct):        median ${r} µs"
awk -v k="$k" -v r="$r" 'BEGIN { printf "ratio daemon/direct: %.2f (target <= 1.3)\n", k/r }'
