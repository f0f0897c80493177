#!/usr/bin/env bash
# run-vs-runc.sh — times `minirun run` of /bin/true against `runc run` on the
# same OCI bundle, alternating so both see the same machine state, and prints
# the ratio of the medians. Target (issue 2): ratio <= 1.0.
#
# Mede `minirun run` de /bin/true contra `runc run` no mesmo bundle.
#
# usage: bench/run-vs-runc.sh [ROUNDS]   (as root; default 50 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-50}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v runc >/dev/null || { echo "needs Debian's runc (apt-get install runc)" >&2; exit 1; }

work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
bash scripts/build.sh "$work/minirun"
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/busybox.tar"
"$work/minirun" spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json,sys
p=sys.argv[1]; c=json.load(open(p))
c["process"]["terminal"]=False; c["process"]["args"]=["/bin/true"]
json.dump(c,open(p,"w"),indent=1)
PY

now() { date +%s%N; }
mr=() rc=()
for i in $(seq 1 "$ROUNDS"); do
  t0=$(now); "$work/minirun" --root "$work/mr-state" run --bundle "$work/bundle" "b$i" </dev/null; t1=$(now)
  runc --root "$work/runc-state" run --bundle "$work/bundle" "b$i" </dev/null; t2=$(now)
  mr+=($(( (t1-t0)/1000 ))); rc+=($(( (t2-t1)/1000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m=$(median "${mr[@]}"); r=$(median "${rc[@]}")
echo "rounds: $ROUNDS"
echo "minirun run: median ${m} µs"
echo "runc run:    median ${r} µs"
awk -v m="$m" -v r="$r" 'BEGIN { printf "ratio minirun/runc: %.2f (target <= 1.00)\n", m/r }'
