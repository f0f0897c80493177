#!/usr/bin/env bash
# daemon-load.sh — CLIENTS docker clients at once, TOTAL `docker run --rm
# busybox true` in all, through one `minirun daemon`; then counts the
# errors and looks for what the runs may have left: containers (records,
# runtime state, shim sockets), cgroups under minirun/, mr* links of the
# containers, mounts under the bench's roots, nft rules of the containers
# or more rules of the bench's network in minirun's table, shims (alive,
# or zombies of the daemon). Target (issue 16): 20 clients, 200 runs, no
# error, no leak. Exit status 1 on any error or leak.
#
# 20 clientes docker ao mesmo tempo, 200 `docker run --rm` ao todo, pelo
# daemon do minirun: conta os erros e procura o que sobrou.
#
# usage: bench/daemon-load.sh [CLIENTS] [TOTAL]   (as root; default 20 200)
# Everything lives in a temp dir, on a bridge of its own (mrbenchld0,
# 10.74.0.0/16), removed at the end (bench/lib-daemon.sh).
# Measured (2 shared cores, Dec 2026), 20 clients, 200 runs: 0 errors,
# no leak, 29.9 s (6.7 runs/s). Before the fixes it found, on the same
# machine: each run left a zombie minirun-shim among the daemon's
# children (201 after 200 runs); ~5% of the runs failed with "removed
# before its exit was seen" (a waiter that saw the --rm record gone
# before the attach recorded the exit code); 4 to 9 runs exited 137 with
# no message (a waiter's stale "running" record, read just before the
# shim recorded the exit and went away, taken for a dead shim).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-20}
TOTAL=${2:-200}
BENCH_BRIDGE=mrbenchld0 BENCH_SUBNET=10.74.0.0/16
. bench/lib-daemon.sh

# One run first: the bridge and its rules exist from here on, and are not
# the runs' to remove.
docker run --rm busybox true
bridge_rules() { nft list table ip minirun 2>/dev/null | grep -c "\"$MINIRUN_BRIDGE_NAME\"" || true; }
rules_before=$(bridge_rules)

mkdir -p "$work/cids" "$work/errors"
t0=$(date +%s%N)
clients=()
for c in $(seq 1 "$CLIENTS"); do
  (
    # Client c takes runs c, c+CLIENTS, c+2·CLIENTS… up to TOTAL.
    for i in $(seq "$c" "$CLIENTS" "$TOTAL"); do
      code=0
      out=$(docker run --rm --cidfile "$work/cids/$i" busybox true </dev/null 2>&1) || code=$?
      if [ "$code" != 0 ]; then
        printf 'exit %s: %s\n' "$code" "$out" >"$work/errors/$i"
      fi
    done
  ) &
  clients+=($!)
done
# The clients only: a bare `wait` would wait for the daemon too.
wait "${clients[@]}"
t1=$(date +%s%N)
errors=$(find "$work/errors" -type f | wc -l)
ms=$(( (t1 - t0) / 1000000 ))
echo "clients: $CLIENTS, runs: $TOTAL, errors: $errors"
awk -v ms="$ms" -v n="$TOTAL" 'BEGIN { printf "wall: %.1f s, %.1f runs/s\n", ms/1000, n/(ms/1000) }'
for f in $(find "$work/errors" -type f | sort -n | head -5); do echo "  run $(basename "$f"): $(head -c 300 "$f")"; done

# A --rm run's client returns once the container is removed; its shim
# ends a moment after. Allow the stragglers 5 s.
# A cidfile holds the id without a newline.
cids=$(for f in "$work/cids/"*; do [ -f "$f" ] && cat "$f" && echo; done | sort -u)
shims() { pgrep -f "^minirun-shim --root $work/run " || true; }
children() { cat /proc/"$daemon_pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -c . || true; }
for _ in $(seq 50); do [ -z "$(shims)" ] && [ "$(children)" = 0 ] && break; sleep 0.1; done

leaks=()
leak() { leaks+=("$1"); }
n=$(mr ps -a -q | wc -l); [ "$n" = 0 ] || leak "containers: $n left (minirun ps -a)"
n=$(find "$work/run" -mindepth 1 -maxdepth 1 ! -name .shims | wc -l); [ "$n" = 0 ] || leak "runtime state: $n dirs in $work/run"
n=$(find "$work/run/.shims" -mindepth 1 2>/dev/null | wc -l); [ "$n" = 0 ] || leak "shim sockets: $n in $work/run/.shims"
n=$(find "$work/lib/containers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l); [ "$n" = 0 ] || leak "container dirs: $n in $work/lib/containers"
cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -path '*/minirun/*' 2>/dev/null | awk -F/ '{print $NF}' | sort -u)
n=$(comm -12 <(printf '%s\n' "$cids") <(printf '%s\n' "$cg") | grep -c . || true); [ "$n" = 0 ] || leak "cgroups: $n of the runs' under minirun/"
links=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^mr' || true)
n=0; for id in $cids; do grep -q "^mr${id:0:10}" <<<"$links" && n=$((n+1)); done
[ "$n" = 0 ] || leak "links: $n runs left mr* links"
n=$(grep -c " $work/" /proc/self/mountinfo || true); [ "$n" = 0 ] || leak "mounts: $n under $work"
rules=$(nft list table ip minirun 2>/dev/null || true)
n=0; for id in $cids; do grep -q "minirun:${id:0:12}" <<<"$rules" && n=$((n+1)); done
[ "$n" = 0 ] || leak "nft: rules of $n runs in table ip minirun"
[ "$(bridge_rules)" = "$rules_before" ] || leak "nft: $MINIRUN_BRIDGE_NAME's rules $rules_before before, $(bridge_rules) after"
n=$(shims | grep -c . || true); [ "$n" = 0 ] || leak "shims: $n still running"
n=$(children); [ "$n" = 0 ] || leak "daemon's children (shims not reaped): $n"
# Every run that succeeded created a container (a failed one may have too).
n=$(printf '%s\n' "$cids" | grep -c . || true)
[ "$n" -ge "$(( TOTAL - errors ))" ] || leak "container ids: $n recorded for $(( TOTAL - errors )) runs that succeeded"

if [ "${#leaks[@]}" = 0 ]; then
  echo "leaks: none"
else
  printf 'LEAK %s\n' "${leaks[@]}"
fi
[ "$errors" = 0 ] && [ "${#leaks[@]}" = 0 ]
