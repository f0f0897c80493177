#!/usr/bin/env bash
# images/build.sh — prepare the course's image recipes and build them.
#
#   images/build.sh [--stage-only] [webserver|contador|redis ...]
#
# For each recipe (all three by default) it stages what the Dockerfile
# COPYs into the recipe's directory, its build context:
#   webserver, contador   the Go program, compiled static (CGO_ENABLED=0:
#                         no libc needed in the image)
#   redis                 Debian's redis-server and the shared libraries
#                         ldd says it loads, under redis/rootfs/ (installs
#                         the redis-server package with apt if missing)
# and then runs `minirun build -t minirun/NAME images/NAME`, unless
# --stage-only. MINIRUN names the minirun binary (default: minirun on PATH).
#
# The script writes only inside images/<recipe>/ (the staged files are in
# images/.gitignore) and in a temporary directory it removes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
stage_only=0
recipes=()
for a in "$@"; do
	case $a in
	--stage-only) stage_only=1 ;;
	webserver | contador | redis) recipes+=("$a") ;;
	*)
		echo "usage: $0 [--stage-only] [webserver|contador|redis ...]" >&2
		exit 2
		;;
	esac
done
[ ${#recipes[@]} -gt 0 ] || recipes=(webserver contador redis)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stage_go() {
	local name=$1
	echo "build.sh: compiling $name (CGO_ENABLED=0)" >&2
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp/$name" "./images/$name")
	install -m 0755 "$tmp/$name" "$here/$name/$name"
}

stage_redis() {
	if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
		echo "build.sh: installing Debian's redis-server (for its binary)" >&2
		# policy-rc.d 101: the package must not start a Redis on the host.
		local policy=/usr/sbin/policy-rc.d created_policy=0
		if [ ! -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >&2 || {
			[ $created_policy = 1 ] && rm -f "$policy"
			exit 1
		}
		[ $created_policy = 1 ] && rm -f "$policy"
	fi
	local bin
	bin=$(readlink -f /usr/bin/redis-server)
	local root=$tmp/rootfs
	mkdir -p "$root/usr/bin" "$root/data" "$root/tmp" "$root/etc"
	chmod 1777 "$root/tmp"
	cp "$bin" "$root/usr/bin/redis-server"
	# Each library at the path ldd prints (the loader's own path too:
	# /lib64/ld-linux-x86-64.so.2), its symlinks resolved to the file.
	ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	# Users for tools that look them up; Redis itself runs as root here.
	printf 'root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	rm -rf "$here/redis/rootfs"
	cp -a "$root" "$here/redis/rootfs"
	echo "build.sh: redis/rootfs has $(find "$here/redis/rootfs" -type f | wc -l) files, $(du -sh "$here/redis/rootfs" | cut -f1)" >&2
}

for r in "${recipes[@]}"; do
	case $r in
	webserver | contador) stage_go "$r" ;;
	redis) stage_redis ;;
	esac
	if [ $stage_only = 0 ]; then
		"${MINIRUN:-minirun}" build -t "minirun/$r:latest" "$here/$r"
	fi
done
