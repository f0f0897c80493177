#!/usr/bin/env bash
# cgroups-vs-runc.sh — the cost of cgroup setup and teardown per container,
# minirun against runc on the same machine. For each runtime it times
# `create` + `delete --force` of one bundle twice: with limits (memory, cpu,
# pids, blkio weight) and without, alternating runtimes every round. The
# difference is what setting the limits costs; the totals include creating
# and removing the cgroup directories, which both runtimes always do.
#
# Mede o custo de montar e desmontar os cgroups de um contêiner, contra o runc.
#
# usage: bench/cgroups-vs-runc.sh [ROUNDS]   (as root; default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-30}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v runc >/dev/null || { echo "needs Debian's runc (apt-get install runc)" >&2; exit 1; }

work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
# runc creates the shared /minirun parent in every hierarchy and leaves it;
# rmdir removes it only when empty, so a real container's cgroup is safe.
trap 'rm -rf "$work"; for d in /sys/fs/cgroup/*/minirun /sys/fs/cgroup/minirun; do rmdir "$d" 2>/dev/null; done; true' EXIT
bash scripts/build.sh "$work/minirun"
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
for b in plain limits; do
  mkdir -p "$work/$b/rootfs"
  tar -C "$work/$b/rootfs" -xf "$work/busybox.tar"
  "$work/minirun" spec --bundle "$work/$b"
done
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
for b in ("plain", "limits"):
    p = f"{w}/{b}/config.json"
    c = json.load(open(p))
    c["process"]["terminal"] = False
    c["process"]["args"] = ["sleep", "60"]
    c["linux"]["cgroupsPath"] = "/minirun/bench"   # both runtimes: under minirun's parent
    if b == "limits":
        r = c["linux"].setdefault("resources", {})
        r["memory"] = {"limit": 64 << 20, "swap": 128 << 20}
        r["cpu"] = {"quota": 50000, "period": 100000, "shares": 512}
        r["pids"] = {"limit": 100}
        r["blockIO"] = {"weight": 500}
    json.dump(c, open(p, "w"), indent=1)
PY
# runc's spec has no blockIO weight support on every kernel: drop it if runc refuses.
now() { date +%s%N; }
once() { # runtime bundle id → microseconds for create + delete
  local rt=$1 b=$2 id=$3 t0 t1
  t0=$(now)
  if [ "$rt" = minirun ]; then
    "$work/minirun" --root "$work/mr-state" create --bundle "$work/$b" "$id" </dev/null >/dev/null
    "$work/minirun" --root "$work/mr-state" delete --force "$id"
  else
    runc --root "$work/runc-state" create --bundle "$work/$b" "$id" </dev/null >/dev/null
    runc --root "$work/runc-state" delete --force "$id"
  fi
  t1=$(now); echo $(( (t1-t0)/1000 ))
}
declare -A res
for i in $(seq 1 "$ROUNDS"); do
  for rt in minirun runc; do
    for b in plain limits; do
      res[$rt-$b]+="$(once $rt $b "c$i") "
    done
  done
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med
for k in minirun-plain minirun-limits runc-plain runc-limits; do med[$k]=$(median "${res[$k]}"); done
echo "rounds: $ROUNDS (create + delete --force, median µs)"
for k in minirun-plain minirun-limits runc-plain runc-limits; do printf '  %-15s %8d µs\n' "$k" "${med[$k]}"; done
awk -v mp="${med[minirun-plain]}" -v ml="${med[minirun-limits]}" -v rp="${med[runc-plain]}" -v rl="${med[runc-limits]}" 'BEGIN {
  printf "ratio minirun/runc, whole create+delete with limits: %.2f\n", ml/rl
  dm = ml-mp; dr = rl-rp; if (dr < 1) dr = 1
  printf "cost of setting the limits: minirun %d µs, runc %d µs\n", dm, rl-rp
}'
