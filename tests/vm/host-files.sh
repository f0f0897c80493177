#!/bin/bash
# host-files.sh — the run.sh options that copy programs into the VM, with
# the libraries they link.
#
# Usage: tests/vm/host-files.sh [SRC:]DEST...
#
# The VM has a static busybox and no libc. A dynamically linked program
# (Debian's etcd links libc; rpc.nfsd links TI-RPC…) runs there only with
# its loader and libraries. Each argument is a file for the VM: DEST alone
# is the host's file at the same path, SRC:DEST another file (a program
# unpacked from a .deb, see fetch-nfs.sh) copied to DEST. For a dynamically
# linked one, ldd(1) lists its libraries, found through LD_LIBRARY_PATH
# first when it is set, then the host's. This prints, one per line:
#   --add SRC:DEST   each file; each library at /lib/x86_64-linux-gnu/NAME,
#                    where the program's loader looks; ld-linux at the path
#                    its ELF header names
# once per DEST, so a caller does:
#   mapfile -t files < <(tests/vm/host-files.sh /usr/bin/etcd)
# and passes "${files[@]}" to run.sh or run2.sh. Static programs and data
# files (/etc/…) get their own line only.
set -euo pipefail

log() { echo "host-files: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -gt 0 ] || die "usage: host-files.sh [SRC:]DEST..."
declare -A SEEN=()
emit() { # SRC DEST, once per DEST
	[ -n "${SEEN[$2]:-}" ] && return 0
	SEEN[$2]=1
	printf -- '--add\n%s:%s\n' "$1" "$2"
}
for a in "$@"; do
	src=${a%%:*} dst=${a#*:}
	case $dst in /*) ;; *) die "$a: DEST must be an absolute path" ;; esac
	[ -f "$src" ] || die "$src not found (scripts/setup.sh installs the packages the tests need)"
	emit "$(readlink -f "$src")" "$dst"
	# ldd exits 1 for a static program or a data file ("not a dynamic
	# executable"): nothing more to copy.
	out=$(ldd "$src" 2>&1) || continue
	if grep -q 'not found' <<<"$out"; then
		die "$dst needs libraries found neither in LD_LIBRARY_PATH nor on this host: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
	fi
	# "libX.so.N => /path (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)".
	while read -r lib; do
		emit "$(readlink -f "$lib")" "/lib/x86_64-linux-gnu/$(basename "$lib")"
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$out")
	ld=$(awk '$1 ~ /^\/.*ld-linux/ { print $1 }' <<<"$out")
	[ -z "$ld" ] || emit "$(readlink -f "$ld")" "$ld"
done
