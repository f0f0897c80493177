#!/bin/bash
# host-files.sh — the run.sh options that copy host programs into the VM.
#
# Usage: tests/vm/host-files.sh PROGRAM...
#
# The VM has a static busybox and no libc. A dynamically linked program of
# this host (Debian's etcd links libc) runs there only with its loader and
# libraries, at the paths its ELF header and ldd(1) name. For each PROGRAM
# (an absolute path) this prints, one per line:
#   --add SRC:DEST     the program, each library ldd resolves, ld-linux
# so a caller does: mapfile -t files < <(tests/vm/host-files.sh /usr/bin/etcd)
# and passes "${files[@]}" to run.sh or run2.sh. A static program needs only
# its own --add. Programs that also read data files (/etc/…) need those too.
set -euo pipefail

log() { echo "host-files: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -gt 0 ] || die "usage: host-files.sh PROGRAM..."
declare -A SEEN=()
emit() { # SRC DEST, once per DEST
	[ -n "${SEEN[$2]:-}" ] && return 0
	SEEN[$2]=1
	printf -- '--add\n%s:%s\n' "$1" "$2"
}
for p in "$@"; do
	case $p in /*) ;; *) die "$p: want an absolute path" ;; esac
	[ -f "$p" ] || die "$p not found (scripts/setup.sh installs the packages the tests need)"
	emit "$(readlink -f "$p")" "$p"
	# A static program: ldd says "not a dynamic executable" and exits 1.
	out=$(ldd "$p" 2>&1) || continue
	if grep -q 'not found' <<<"$out"; then
		die "$p needs libraries this host lacks: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
	fi
	# "libX.so.N => /path (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)";
	# each goes where the program's loader looks for it.
	while read -r lib; do
		emit "$(readlink -f "$lib")" "$lib"
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' <<<"$out")
done
