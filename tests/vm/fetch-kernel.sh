#!/bin/bash
# fetch-kernel.sh — put Debian 12's own kernel where run.sh can boot it.
#
# Usage: tests/vm/fetch-kernel.sh [CACHE_DIR]
#   CACHE_DIR defaults to $MINIRUN_VM_CACHE, else /var/cache/minirun-vm.
#
# It installs the host tools the VM harness needs (qemu, cpio, busybox-static,
# xz, kmod), asks apt which exact package linux-image-amd64 points to today,
# downloads only that one .deb and unpacks it. Afterwards the cache holds:
#
#   CACHE_DIR/vmlinuz        the kernel image
#   CACHE_DIR/modules/       lib/modules/<version> (modules.dep, kernel/...)
#   CACHE_DIR/config         the kernel's build config (=y built in, =m module)
#   CACHE_DIR/kernel.version the version string, e.g. 6.1.0-28-amd64
#
# Idempotent: when those are already there it only checks the host tools.
# Set MINIRUN_VM_REFRESH=1 to ask apt again and replace an older kernel.
set -euo pipefail

CACHE=${1:-${MINIRUN_VM_CACHE:-/var/cache/minirun-vm}}

log() { echo "fetch-kernel: $*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root runs a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_updated runs `apt-get update` at most once per script run, and only when
# a look-up failed: on a machine with fresh lists we do not touch the network.
APT_UPDATED=0
apt_update_once() {
	if [ "$APT_UPDATED" -eq 0 ]; then
		log "apt-get update"
		as_root apt-get update -qq >&2
		APT_UPDATED=1
	fi
}

# ensure_tools installs the host packages whose command is missing.
ensure_tools() {
	local need=() cmd pkg
	for pair in qemu-system-x86_64:qemu-system-x86 cpio:cpio gzip:gzip xz:xz-utils \
		depmod:kmod busybox:busybox-static dpkg-deb:dpkg apt-get:apt; do
		cmd=${pair%%:*} pkg=${pair#*:}
		# busybox must be the static one: the VM has no libc.
		if [ "$cmd" = busybox ]; then
			dpkg -s busybox-static >/dev/null 2>&1 || need+=("$pkg")
			continue
		fi
		command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]}"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
		apt_update_once
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
	fi
}

# kernel_package prints the one versioned package that linux-image-amd64
# depends on (e.g. linux-image-6.1.0-28-amd64). Never a wildcard: that would
# download every kernel version in the archive.
kernel_package() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$pkg" ]; then
		apt_update_once
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$pkg" ] || die "apt-cache depends linux-image-amd64 named no linux-image-<version> package"
	echo "$pkg"
}

cached() {
	[ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/modules/modules.dep" ] && [ -s "$CACHE/kernel.version" ]
}

ensure_tools

if cached && [ "${MINIRUN_VM_REFRESH:-0}" != 1 ]; then
	log "kernel $(cat "$CACHE/kernel.version") already in $CACHE"
	exit 0
fi

mkdir -p "$CACHE"
# Two run.sh started at once on an empty cache must not both unpack into it.
exec 9>"$CACHE/.lock"
flock 9
if cached && [ "${MINIRUN_VM_REFRESH:-0}" != 1 ]; then
	log "kernel $(cat "$CACHE/kernel.version") already in $CACHE"
	exit 0
fi
pkg=$(kernel_package)
version=${pkg#linux-image-}
if cached && [ "$(cat "$CACHE/kernel.version")" = "$version" ]; then
	log "kernel $version already in $CACHE (apt agrees)"
	exit 0
fi

log "downloading $pkg into $CACHE"
work=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory. Its sandbox user _apt
# cannot write into a root-owned cache, so download as the caller instead.
download() { (cd "$work" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "$pkg" >&2); }
download || { apt_update_once; download; }
debs=("$work/$pkg"_*.deb)
deb=${debs[0]}
[ -f "$deb" ] || die "apt-get download $pkg left no .deb"

log "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/root"
[ -f "$work/root/boot/vmlinuz-$version" ] || die "$deb has no boot/vmlinuz-$version"
# Debian 12 is merged-/usr: modules may sit under lib/ or usr/lib/.
moddir=""
for d in "$work/root/lib/modules/$version" "$work/root/usr/lib/modules/$version"; do
	[ -f "$d/modules.order" ] && moddir=$d && break
done
[ -n "$moddir" ] || die "$deb has no lib/modules/$version"
# The package does not ship modules.dep: its postinst runs depmod on the
# installed system. Run it here on the unpacked tree instead.
PATH=$PATH:/usr/sbin:/sbin depmod -b "$work/root" -F "$work/root/boot/System.map-$version" "$version"
[ -f "$moddir/modules.dep" ] || die "depmod wrote no modules.dep for $version"

# Swap the new kernel in only when it is complete, so an interrupted run
# never leaves a half-filled cache that looks finished.
rm -rf "$CACHE/modules" "$CACHE/vmlinuz" "$CACHE/config" "$CACHE/kernel.version"
mv "$work/root/boot/vmlinuz-$version" "$CACHE/vmlinuz"
# config tells which features are built in (=y) and which are modules (=m).
mv "$work/root/boot/config-$version" "$CACHE/config"
mv "$moddir" "$CACHE/modules"
echo "$version" >"$CACHE/kernel.version"
log "kernel $version ready: $CACHE/vmlinuz, $CACHE/modules"
