#!/bin/bash
# selftest.sh — prove tests/vm/run.sh works, end to end.
#
# Usage: tests/vm/selftest.sh [--quick]
#
# Builds tests/vm/selftest into a static test binary and boots it:
#   pass      all checks (cgroup2 only, memory/pids limits enforced, overlay,
#             modules and autoload, pivot_root, orphans reaped)  -> exit 0
#   fail      a test that fails on purpose                       -> exit 1
#   poweroff  a test that powers the VM off, so no exit marker   -> exit 125
#   hang      a test that never ends, killed by --timeout 15     -> exit 124
#   cable     run2.sh: two VMs ping each other over their cable  -> exit 0
#   cable-fail  run2.sh with a failing test in both VMs          -> exit 1
# --quick runs only the first two. Prints timings and a closing
# "N passed, N failed" line; exits non-zero when any case went wrong.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
QUICK=0
[ "${1:-}" = --quick ] && QUICK=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/minirun-vm-selftest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

T0=$(now)
# The kernel first, so its one-time download is not counted as boot time.
"$HERE/fetch-kernel.sh"
BIN=$WORK/selftest.test
(cd "$REPO" && CGO_ENABLED=0 go test -c -o "$BIN" ./tests/vm/selftest)
echo "selftest: built $BIN in $(since "$T0")s"

PASSED=0 FAILED=0
SUMMARY=()
# check NAME WANT_CODE run.sh-args... : boot once, compare run.sh's exit code.
check() {
	local name=$1 want=$2 start got
	shift 2
	start=$(now)
	echo "selftest: === $name (want exit $want)"
	set +e
	"${RUN:-$HERE/run.sh}" "$@"
	got=$?
	set -e
	local took
	took=$(since "$start")
	if [ "$got" = "$want" ]; then
		PASSED=$((PASSED + 1))
		SUMMARY+=("ok    $name: exit $got in ${took}s")
	else
		FAILED=$((FAILED + 1))
		SUMMARY+=("FAIL  $name: exit $got, want $want (${took}s)")
	fi
}

check pass 0 -- "$BIN" -test.v
check fail 1 --env MINIRUN_VM_SELFTEST_FAIL=fail -- "$BIN" -test.v -test.run '^TestDeliberateFailure$'
if [ "$QUICK" = 0 ]; then
	check poweroff 125 --env MINIRUN_VM_SELFTEST_FAIL=poweroff -- "$BIN" -test.v -test.run '^TestDeliberateFailure$'
	check hang 124 --timeout 15 --env MINIRUN_VM_SELFTEST_FAIL=hang -- "$BIN" -test.v -test.run '^TestDeliberateFailure$'
	RUN="$HERE/run2.sh" check cable 0 -- "$BIN" -test.v -test.run '^TestCable$'
	# Both VMs fail on purpose: run2.sh passes the failure on.
	RUN="$HERE/run2.sh" check cable-fail 1 --grace 5 --env MINIRUN_VM_SELFTEST_FAIL=fail -- "$BIN" -test.v -test.run '^TestDeliberateFailure$'
fi

echo
for line in "${SUMMARY[@]}"; do echo "selftest: $line"; done
echo "selftest: whole run $(since "$T0")s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
