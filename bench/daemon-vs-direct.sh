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
# 10.75.0.0/16), removed at the end; Docker's dockerd is never started.
# Measured (2 shared cores, 15 rounds): 327 ms against 280 ms, ratio 1.17.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v docker >/dev/null || { echo "needs Debian's docker.io for its client (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
export MINIRUN_BRIDGE_NAME=mrbench0 MINIRUN_BRIDGE_SUBNET=10.75.0.0/16
mr() { "$work/minirun" --root "$work/run" --data-root "$work/lib" "$@"; }
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  mr network reset >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags "-s -w" -o "$work/minirun" ./cmd/minirun
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
mr image import --change 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
# Started directly, not through the mr function: $! must be minirun's own
# pid (a backgrounded function is a subshell, and killing it left the
# daemon running).
"$work/minirun" --root "$work/run" --data-root "$work/lib" daemon -H "unix://$work/docker.sock" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/docker.sock" ] && break; sleep 0.05; done
export DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/docker-config"

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
