#!/usr/bin/env bash
# detached-100.sh — starts N (100) detached busybox containers one after the
# other and reports:
#  (1) how long each `run -d` took: the 100th should be no slower than 1.2×
#      the first;
#  (2) the memory each idle shim keeps, read from /proc/PID/smaps_rollup.
#      RSS counts the pages of the minirun binary every shim has mapped,
#      though the page cache holds one copy for all (an idle shim drops the
#      mappings it only needed to start: shim.ReleaseIdleMemory); PSS
#      splits shared pages between their users and USS counts only the
#      shim's private pages — what one more container really costs.
#      Target: PSS <= 4.4 MB (4.2 MiB) per idle shim. Measured (Dec 2026,
#      N=20): 4.63 MB before, 4.34-4.46 MB (mean of 20; USS 4.05-4.17 MiB)
#      once the build leaves out urfave/cli's doc writers
#      (urfave_cli_no_docs: blackfriday's init tables, -0.19 MB) and silent
#      pumps keep small stacks (shim.readOnce, -0.09 MB). One shim in 20 is
#      sometimes 1-2 MB above the rest and moves the mean by up to 0.1 MB:
#      read min and max too. What stays (heap profile, memprofilerate=1):
#      ~1 MB live heap, of which encoding/json's field cache for the spec's
#      types ~210 KB and regexps compiled by package initialisers ~240 KB
#      (distribution/reference 105 KB, go-digest 50 KB); heap spans
#      ~2.1 MB resident, the runtime's own metadata ~1.6 MB. Tried without
#      effect: GOGC=5, a second ReleaseIdleMemory a second later,
#      GODEBUG=memprofilerate=0, GOEXPERIMENT=nogreenteagc. The shim's
#      control protocol (#16) brought it to 4.41-4.46 MB; then 3.42 MB
#      (min 3.33, max 3.53; USS 3.18 MiB): the shim waits for its init
#      parked on a pidfd instead of blocked in waitid, so the collector can
#      shrink the stack the create path grew (runtime.parkUntilExit, stacks
#      557 -> 426 KB); the regexps of distribution/reference and go-digest
#      compile on first use (third_party/, init heap 947 -> 444 KB); and
#      the shim starts with Go's default GOGC, setting 20 only once idle;
#  (3) how long one `stop -t 1` of all N takes. Each container runs
#      `sleep 1000` as PID 1, which ignores SIGTERM (the kernel drops
#      signals a namespace's init has no handler for), so each needs the
#      SIGKILL after the 1 s grace period. Stopped in parallel, as Docker
#      does: target <= 5 s for 100 (one at a time it took 107 s).
#
# Sobe N contêineres em segundo plano e mede o tempo de cada um, a memória
# de cada shim e quanto leva um `stop -t 1` de todos de uma vez.
#
# usage: bench/detached-100.sh [N]   (as root; default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
# A network of the bench's own, so it neither meets nor changes the
# machine's default mr0 (10.77.0.0/16).
export MINIRUN_BRIDGE_NAME=${MINIRUN_BRIDGE_NAME:-mrbench0} MINIRUN_BRIDGE_SUBNET=${MINIRUN_BRIDGE_SUBNET:-10.86.0.0/16}
work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
MR=("$work/minirun" --root "$work/run" --data-root "$work/lib")
cleanup() {
  "${MR[@]}" ps -a -q 2>/dev/null | xargs -r "${MR[@]}" rm -f >/dev/null 2>&1 || true
  "${MR[@]}" network reset >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# Built as scripts/setup.sh builds it (scripts/build.sh: minirun-init embedded).
bash scripts/build.sh "$work/minirun"
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
"${MR[@]}" image import --change 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null

now() { date +%s%N; }
times=()
for i in $(seq 1 "$N"); do
  t0=$(now); "${MR[@]}" run -d --name "c$i" busybox sleep 1000 >/dev/null; t1=$(now)
  times+=($(( (t1-t0)/1000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
first=${times[0]}; last=${times[$((N-1))]}
head10=$(median "${times[@]:0:10}"); tail10=$(median "${times[@]: -10}")
echo "containers: $N"
echo "run -d: first ${first} µs, last ${last} µs; median of the first 10 ${head10} µs, of the last 10 ${tail10} µs"
awk -v a="$head10" -v b="$tail10" 'BEGIN { printf "ratio last10/first10: %.2f (target <= 1.20)\n", b/a }'
sleep 2   # let the shims settle to idle
rss=0; pss=0; uss=0; n=0; pmin=; pmax=0
for p in $(pgrep -f "^minirun-shim --root $work/run "); do   # this run's shims only
  r=$(awk '/^Rss:/{print $2}' /proc/$p/smaps_rollup)
  s=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)
  u=$(awk '/^Private_(Clean|Dirty):/{t+=$2} END{print t}' /proc/$p/smaps_rollup)
  rss=$((rss+r)); pss=$((pss+s)); uss=$((uss+u)); n=$((n+1))
  [ -z "$pmin" ] || [ "$s" -lt "$pmin" ] && pmin=$s
  [ "$s" -gt "$pmax" ] && pmax=$s
done
echo "idle shims: $n"
awk -v r="$rss" -v s="$pss" -v u="$uss" -v n="$n" -v lo="$pmin" -v hi="$pmax" 'BEGIN {
  printf "per shim: RSS %.2f MiB, PSS %.2f MiB (%.2f MB; min %.2f, max %.2f MB), USS (private) %.2f MiB\n", r/n/1024, s/n/1024, s/n*1.024/1000, lo*1.024/1000, hi*1.024/1000, u/n/1024
  printf "PSS per shim: %.2f MB (target <= 4.4 MB): %s\n", s/n*1.024/1000, (s/n*1.024/1000 <= 4.4 ? "ok" : "OVER") }'

names=(); for i in $(seq 1 "$N"); do names+=("c$i"); done
t0=$(now); "${MR[@]}" stop -t 1 "${names[@]}" >/dev/null; t1=$(now)
stopped=$("${MR[@]}" ps -a -q --filter status=exited | wc -l)
awk -v d="$(( (t1-t0)/1000000 ))" -v n="$N" -v k="$stopped" 'BEGIN {
  printf "stop -t 1 of %d containers in one command: %.2f s, %d exited (target <= 5 s): %s\n", n, d/1000, k, (d/1000 <= 5 && k == n ? "ok" : "OVER") }'
