#!/bin/bash
# run2.sh — run one static test binary in two VMs joined by a network cable.
#
# Usage: tests/vm/run2.sh [run.sh options] -- TESTBINARY [test args...]
#
# Boots two run.sh VMs at once, each with one e1000 NIC (eth0 in the guest),
# joined by qemu's socket network: VM 1's qemu listens on a free port of
# 127.0.0.1, VM 2's qemu connects to it, and the Ethernet frames of the two
# NICs travel over that one TCP connection. Nothing else is on the cable:
# the VMs reach only each other, and the host's own network sees nothing but
# a loopback connection between its two qemu processes.
#
# Both VMs run the same test binary with the same arguments and options;
# MINIRUN_VM_NODE=1 or 2 tells the test which VM it is in (the test gives
# eth0 its address: there is no DHCP on the cable). Each console is shown
# live, its lines prefixed with "vm1| " or "vm2| ".
#
# When VM 1 ends, VM 2 has --grace seconds (default 30) to end too, then it
# is stopped. run2.sh exits with VM 1's code when that is not 0, else with
# VM 2's (124 if it had to be stopped). Options of its own, before the rest:
#   --grace SEC      how long VM 2 may outlive VM 1
#   -h, --help       print this text
# Every other option goes to both run.sh (see run.sh --help); --log FILE
# becomes FILE.vm1 and FILE.vm2.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GRACE=30
OPTS=()
LOG=""

log() { echo "vm2x: $*" >&2; }
die() { log "error: $*"; exit 2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
	case $1 in
	--grace) [ $# -ge 2 ] || die "--grace needs SEC"; GRACE=$2; shift 2 ;;
	--log) [ $# -ge 2 ] || die "--log needs FILE"; LOG=$2; shift 2 ;;
	--shell) die "--shell: two consoles cannot share this terminal; use run.sh --shell" ;;
	-h | --help) usage; exit 0 ;;
	--) break ;;
	# run.sh's options with a value, passed on as they are.
	--add | --env | --cwd | --module | --timeout | --mem | --smp | --append | --accel | --compress | --qemu)
		[ $# -ge 2 ] || die "$1 needs a value"; OPTS+=("$1" "$2"); shift 2 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
[ "${1:-}" = -- ] && [ $# -ge 2 ] || die "no test binary (usage: run2.sh [options] -- TESTBINARY [args...])"
[[ $GRACE =~ ^[0-9]+$ ]] || die "--grace $GRACE is not a number of seconds"
# The kernel cache first, once, so the two run.sh do not race to fill it.
"$HERE/fetch-kernel.sh"

START=$(date +%s.%N)
since() { awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
PID1="" PID2=""
cleanup() {
	# run.sh's own EXIT trap stops its qemu when it is signalled.
	for p in $PID2 $PID1; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port on loopback for VM 1's qemu to listen on: ports in use are
# skipped; another program could still take it before qemu does, and then
# qemu fails to start and VM 1 ends with 125.
listening() { ss -Hltn "sport = :$1" | grep -q .; }
PORT=""
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	if ! listening "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || die "no free port on 127.0.0.1"

# vm N NETDEV: start run.sh for VM N in the background, its console prefixed.
vm() {
	local n=$1 netdev=$2 logopt=()
	shift 2
	[ -z "$LOG" ] || logopt=(--log "$LOG.vm$n")
	# e1000 needs no other module (virtio-net needs virtio, virtio_ring,
	# virtio_pci…); the MAC addresses differ so the two NICs can talk.
	"$HERE/run.sh" ${OPTS[@]+"${OPTS[@]}"} ${logopt[@]+"${logopt[@]}"} --module e1000 --env "MINIRUN_VM_NODE=$n" \
		--qemu -netdev --qemu "$netdev" --qemu -device --qemu "e1000,netdev=n0,mac=52:54:00:78:00:0$n" \
		"$@" > >(sed -u "s/^/vm$n| /") 2>&1 &
}
vm 1 "socket,id=n0,listen=127.0.0.1:$PORT" "$@"
PID1=$!
# VM 2's qemu connects once at start: wait for VM 1's qemu to listen
# (run.sh first builds its initramfs, 1-3 s).
for _ in $(seq 600); do
	listening "$PORT" && break
	kill -0 "$PID1" 2>/dev/null || break
	sleep 0.1
done
if ! listening "$PORT"; then
	set +e
	wait "$PID1"
	code=$?
	log "VM 1's qemu never listened on 127.0.0.1:$PORT (VM 1 exit $code)"
	exit $((code == 0 ? 125 : code))
fi
log "VM 1's qemu listens on 127.0.0.1:$PORT after $(since)s; starting VM 2"
vm 2 "socket,id=n0,connect=127.0.0.1:$PORT" "$@"
PID2=$!

set +e
wait "$PID1"
CODE1=$?
PID1=""
T1=$(since)
CODE2=""
for _ in $(seq $((GRACE * 10))); do
	kill -0 "$PID2" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$PID2" 2>/dev/null; then
	log "VM 2 still runs ${GRACE}s after VM 1 ended: stopping it"
	kill "$PID2"
	wait "$PID2"
	CODE2=124
else
	wait "$PID2"
	CODE2=$?
fi
PID2=""
set -e
log "VM 1 exit $CODE1 after ${T1}s, VM 2 exit $CODE2 after $(since)s"
if [ "$CODE1" != 0 ]; then exit "$CODE1"; fi
exit "$CODE2"
