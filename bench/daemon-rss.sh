#!/usr/bin/env bash
# daemon-rss.sh — resident memory of `minirun daemon` idle, and with N
# containers running that it started (docker run -d … sleep) and has
# listed and inspected once (docker ps, docker inspect), so their records
# have passed through it. Targets (issue 16): idle <= 30 MiB, 100
# containers <= 60 MiB.
#
# Mede a memória residente (VmRSS) do daemon parado e com N contêineres.
#
# usage: bench/daemon-rss.sh [N]   (as root; default 100)
# Everything lives in a temp dir; the containers run with --network none
# (the figure is the daemon's, not the bridge's) and are removed at the end.
# Measured (2 shared cores): idle 16.6 MiB; 30 containers 23.0 MiB; 100 containers 23.6 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v docker >/dev/null || { echo "needs Debian's docker.io for its client (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
mr() { "$work/minirun" --root "$work/run" --data-root "$work/lib" "$@"; }
daemon_pid=
cleanup() {
  for id in $(mr ps -a -q 2>/dev/null); do mr rm -f "$id" >/dev/null 2>&1 || true; done
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags "-s -w" -o "$work/minirun" ./cmd/minirun
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
mr image import --change 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
"$work/minirun" --root "$work/run" --data-root "$work/lib" daemon -H "unix://$work/docker.sock" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/docker.sock" ] && break; sleep 0.05; done
export DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/docker-config"

rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$daemon_pid/status"; }
docker version >/dev/null
echo "idle (after one docker version): $(rss) MiB"
for i in $(seq 1 "$N"); do
  docker run -d --network none --name "rss$i" busybox sleep 3600 >/dev/null
done
docker ps -q | wc -l | xargs echo "running:"
docker inspect $(docker ps -q) >/dev/null
sleep 2
echo "with $N containers: $(rss) MiB"
