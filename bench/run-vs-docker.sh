#!/usr/bin/env bash
# run-vs-docker.sh — times `minirun run --rm busybox true` (the direct
# CLI, default bridge network) against Debian's Docker 20.10
# `docker run --rm busybox true` on the same machine, in one run,
# alternating so both see the same machine state, and prints the medians
# and their ratio. Targets (issue 16, "Measured"): minirun <= 60 ms median
# and <= 0.1 of Docker's.
#
# Docker's daemon is started by this script only (never by the tests), and
# walled off so that it changes nothing on the host:
#  - in a network namespace of its own (unshare --net): its docker0 bridge,
#    veths and iptables/nft rules live and die there;
#  - in a mount namespace of its own (unshare --mount, private
#    propagation): its overlay mounts, the netns bind mounts under its
#    exec-root and containerd's mounts are never seen by the host, and go
#    when the namespace's last process exits; a tmpfs over /run and a temp
#    directory over /etc/docker (its key.json) keep its files off the host;
#  - with its data-root, exec-root, pidfile, socket and config file in a
#    temp directory, and its containers' cgroups under a parent of its own
#    (--cgroup-parent), removed at the end.
# The same busybox image goes to both: scripts/mkbusybox.sh's tar, imported
# into minirun, then `minirun save` → `docker load`.
# Before and after, it lists the host's links, mounts, nft ruleset,
# iptables rules, cgroups and /run, /etc/docker, /var/lib entries, and fails
# if they differ (lines of other minirun runs working beside it, mr*
# links and minirun mounts outside this run, are left out of the check).
#
# Measured (Dec 2026, 2 shared cores, load average 7-12 from other jobs,
# N=20): Docker 1107 ms, minirun 215 ms, ratio 0.19 (0.23 before this
# round of speed-ups, N=10). Then (quiet machine, load ~0.5, N=15):
# Docker 622 ms, minirun 124 ms, ratio 0.200. With minirun-init (the
# init's own small program, N=15, load ~1): Docker 637 ms, minirun
# 116 ms, ratio 0.182. Not at either target; bench/run-rm.sh says where
# minirun's time goes.
#
# Mede `minirun run --rm busybox true` contra `docker run --rm busybox true`
# do Docker 20.10 do Debian (dockerd num namespace de rede e de montagem
# próprios, desmontado no fim) e imprime as medianas e a razão.
#
# usage: bench/run-vs-docker.sh [N]   (as root; default N=20)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for c in dockerd containerd docker unshare nsenter; do
  command -v "$c" >/dev/null || { echo "needs $c (Debian's docker.io, scripts/setup.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
# minirun on a bridge of its own, so it neither meets nor changes the
# machine's default mr0 nor the other benches' networks.
export MINIRUN_BRIDGE_NAME=mrbenchdk0 MINIRUN_BRIDGE_SUBNET=10.88.0.0/16
MR=("$work/minirun" --root "$work/run" --data-root "$work/lib")
# An absolute --cgroup-parent under minirun's parent: a relative one
# lands inside dockerd's own cgroup of each hierarchy, which on a machine
# whose jobs run in cgroups of their own is a cgroup minirun did not make.
cgname=bench-docker-$$
cgparent=/minirun/$cgname
export DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/docker-cli"

# snapshot lists what this script must leave as it found it.
snapshot() (
  # A list may be empty (grep finds nothing): not an error here.
  set +e +o pipefail
  {
    echo "# links"; ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v '^mr' | sort
    echo "# our bridge"; ip -o link show "$MINIRUN_BRIDGE_NAME" 2>/dev/null | awk -F': ' '{print $2}'
    echo "# mounts"; awk '{print $5, $9}' /proc/self/mountinfo | grep -v minirun | sort
    echo "# mounts of this run"; awk '{print $5}' /proc/self/mountinfo | grep -F "$work" | sort
    echo "# nft"; nft list ruleset 2>/dev/null | grep -v minirun | grep -v 'comment "mr' || true
    echo "# iptables"; { iptables-save; ip6tables-save; } 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' || true
    echo "# cgroups"; find /sys/fs/cgroup -maxdepth 2 -type d 2>/dev/null | grep -v minirun | sort
    echo "# minirun's cgroup parents"; ls -d /sys/fs/cgroup/*/minirun 2>/dev/null
    echo "# cgroups of this run, and any of docker's"; find /sys/fs/cgroup -type d \( -name "$cgname" -o -name "docker*" -o -name "containerd*" -o -name "moby*" \) 2>/dev/null | sort
    echo "# files"; ls -a /run /etc/docker /var/lib 2>/dev/null | grep -v minirun
    echo "# processes"; pgrep -a -f -- "$work/docker"
    echo "# modules"; cut -d' ' -f1 /proc/modules 2>/dev/null | sort
  }
)
# dockerd makes its --cgroup-parent in every hierarchy, the named systemd
# one and the empty cgroup2 too, where no minirun container ever makes
# minirun's parent: the parents this run made go with it.
parents_before=$(ls -d /sys/fs/cgroup/*/minirun 2>/dev/null || true)
snapshot >"$work/before"

dockerd_pid= dockerd_netns=
cleanup() {
  set +e
  if [ -n "$dockerd_pid" ]; then
    # dockerd stops its containerd (and their shims) on SIGTERM; the
    # namespaces go with their last process.
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    # Anything left in its network namespace (a containerd or a shim
    # that outlived it), by pid.
    if [ -n "$dockerd_netns" ]; then
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$dockerd_netns" ] && kill -KILL "${p#/proc/}" 2>/dev/null
      done
    fi
  fi
  # dockerd made the parent in every hierarchy, under minirun's parent.
  find /sys/fs/cgroup -type d -path "*/minirun/$cgname" -prune 2>/dev/null | while read -r d; do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for d in /sys/fs/cgroup/*/minirun; do
    [ -d "$d" ] || continue
    grep -qxF "$d" <<<"${parents_before:-}" || rmdir "$d" 2>/dev/null
  done
  "${MR[@]}" ps -a -q 2>/dev/null | xargs -r "${MR[@]}" rm -f >/dev/null 2>&1
  "${MR[@]}" network reset >/dev/null 2>&1
  snapshot >"$work/after"
  if ! diff -u "$work/before" "$work/after" >"$work/diff"; then
    echo "run-vs-docker: the host changed:" >&2
    cat "$work/diff" >&2
    rm -rf "$work"
    exit 1
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Built as scripts/setup.sh builds it (scripts/build.sh: minirun-init embedded).
bash scripts/build.sh "$work/minirun"
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
"${MR[@]}" image import --change 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
"${MR[@]}" save -o "$work/busybox-image.tar" busybox

mkdir -p "$work/docker/data" "$work/docker/exec" "$work/docker/etc" "$DOCKER_CONFIG"
echo '{}' >"$work/docker/daemon.json"
# In the new namespaces: /run and /etc/docker replaced by this run's own
# (private propagation: the host sees neither mount), lo up, then dockerd.
# The socket is a path in $work: the docker client reaches it from the
# host's network namespace (a unix socket is found by its file).
unshare --net --mount --propagation private -- sh -c '
  set -e
  mount -t tmpfs -o mode=0755 tmpfs /run
  mount --bind "$1/docker/etc" /etc/docker
  ip link set lo up
  exec dockerd --data-root "$1/docker/data" --exec-root "$1/docker/exec" \
    --pidfile "$1/docker/dockerd.pid" -H "unix://$1/docker.sock" \
    --config-file "$1/docker/daemon.json" --cgroup-parent "$2" \
    --userland-proxy=false
' sh "$work" "$cgparent" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 50); do
  dockerd_netns=$(readlink "/proc/$dockerd_pid/ns/net" 2>/dev/null || true)
  [ -n "$dockerd_netns" ] && [ "$dockerd_netns" != "$(readlink /proc/self/ns/net)" ] && break
  dockerd_netns=; sleep 0.02
done
for _ in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
docker version --format 'docker {{.Server.Version}}' || { tail -20 "$work/dockerd.log" >&2; exit 1; }
docker load -q -i "$work/busybox-image.tar" >/dev/null

now() { date +%s%N; }
# One of each first: images, bridges and page cache warm for both.
docker run --rm busybox true
"${MR[@]}" run --rm busybox true
dk=() mr=()
for _ in $(seq 1 "$N"); do
  t0=$(now); docker run --rm busybox true </dev/null; t1=$(now)
  "${MR[@]}" run --rm busybox true </dev/null; t2=$(now)
  dk+=($(( (t1-t0)/1000 ))); mr+=($(( (t2-t1)/1000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
d=$(median "${dk[@]}"); m=$(median "${mr[@]}")
echo "runs: $N"
echo "docker run --rm busybox true (Docker 20.10): median ${d} µs"
echo "minirun run --rm busybox true (direct):      median ${m} µs"
awk -v m="$m" -v d="$d" 'BEGIN {
  printf "ratio minirun/docker: %.3f (target <= 0.1): %s\n", m/d, (m <= 0.1*d ? "ok" : "OVER")
  printf "minirun median: %.1f ms (target <= 60 ms): %s\n", m/1000, (m <= 60000 ? "ok" : "OVER") }'
left=$("${MR[@]}" ps -a -q | wc -l)
[ "$left" = 0 ] || { echo "leak: $left minirun containers left" >&2; exit 1; }
left=$(docker ps -a -q | wc -l)
[ "$left" = 0 ] || { echo "leak: $left docker containers left" >&2; exit 1; }
