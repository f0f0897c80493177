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
# Everything lives in a temp dir (bench/lib-daemon.sh); the containers run
# with --network none (the figure is the daemon's, not the bridge's) and
# are removed at the end.
# Measured (2 shared cores): idle 16.6 MiB; 30 containers 23.0 MiB; 100 containers 23.6 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
. bench/lib-daemon.sh

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
