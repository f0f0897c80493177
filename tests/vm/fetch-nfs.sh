#!/bin/bash
# fetch-nfs.sh — Debian 12's NFS server programs, ready to be copied into the VM.
#
# Usage: tests/vm/fetch-nfs.sh [CACHE_DIR]
#   CACHE_DIR defaults to $MINIRUN_VM_CACHE, else /var/cache/minirun-vm.
#
# The VM's initramfs has a static busybox and no libc, and this machine's
# kernel has no NFS at all, so the NFS tests start a real nfsd in the VM
# (Debian's kernel) from Debian's own packages: rpcbind, rpc.mountd,
# rpc.nfsd and exportfs (nfs-kernel-server, rpcbind). The packages are NOT
# installed on this host: `apt-get download` fetches each .deb and
# `dpkg -x` unpacks it under CACHE_DIR/nfs/root. The shared libraries the
# programs need are taken from that tree first and from the host second
# (libc, libblkid, libsystemd… which every Debian 12 host has): host-files.sh
# asks ldd(1) with LD_LIBRARY_PATH pointing at the unpacked tree.
#
# It prints, one per line, the run.sh options that put them in the VM:
#   --add SRC:DEST     each program, each library, ld-linux, /etc/netconfig,
#                      /etc/services, /etc/protocols
# so a caller does: mapfile -t nfs < <(tests/vm/fetch-nfs.sh); run.sh "${nfs[@]}" …
# The kernel side (nfsd, nfs, nfsv3, lockd, sunrpc…) ships through run.sh's
# module list (ONDEMAND_MODULES), loaded by the kernel when first used.
#
# Idempotent: the .debs are fetched once; MINIRUN_VM_REFRESH=1 fetches again.
set -euo pipefail

CACHE=${1:-${MINIRUN_VM_CACHE:-/var/cache/minirun-vm}}
DIR=$CACHE/nfs
# nfs-kernel-server: rpc.nfsd, rpc.mountd, exportfs. rpcbind: the portmapper
# the kernel's NFSv3 client asks for mountd's port. The rest are libraries
# those link against that a minimal Debian 12 host may lack (tcp wrappers,
# TI-RPC and its /etc/netconfig, Kerberos' GSS-API that TI-RPC links,
# netbase's /etc/services).
PKGS=(nfs-kernel-server rpcbind libwrap0 libtirpc3 libtirpc-common libgssapi-krb5-2
	libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libnsl2 netbase)
PROGS=(/usr/sbin/rpc.nfsd /usr/sbin/rpc.mountd /usr/sbin/exportfs /sbin/rpcbind)

log() { echo "fetch-nfs: $*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ ! -f "$DIR/root/.complete" ] || [ "${MINIRUN_VM_REFRESH:-0}" = 1 ]; then
	log "downloading ${PKGS[*]}"
	work=$(mktemp -d "$DIR/.fetch.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	# The sandbox user _apt cannot write into a root-owned cache: download
	# as the caller (see fetch-kernel.sh).
	download() { (cd "$work" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "${PKGS[@]}" >&2); }
	if ! download; then
		log "apt-get update"
		if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >&2; else sudo apt-get update -qq >&2; fi
		download
	fi
	mkdir -p "$work/root"
	for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
	touch "$work/root/.complete"
	rm -rf "$DIR/root"
	mv "$work/root" "$DIR/root"
fi
ROOT=$DIR/root

# Library directories of the unpacked tree, searched before the host's.
LIBPATH=""
for d in "$ROOT/lib/x86_64-linux-gnu" "$ROOT/usr/lib/x86_64-linux-gnu"; do
	[ -d "$d" ] && LIBPATH=$LIBPATH${LIBPATH:+:}$d
done
FILES=()
for p in "${PROGS[@]}"; do
	src=$ROOT$p
	[ -f "$src" ] || src=$ROOT/usr$p # merged /usr: /sbin/x may sit in /usr/sbin
	[ -f "$src" ] || die "$p is in none of ${PKGS[*]}"
	FILES+=("$src:$p")
done
# TI-RPC reads its transports from /etc/netconfig: without it rpcbind and
# rpc.mountd open no socket at all. rpc.nfsd looks its port up by name
# (getaddrinfo "nfs"): netbase's /etc/services, and /etc/protocols beside it.
for f in netconfig services protocols; do
	[ -f "$ROOT/etc/$f" ] || die "none of ${PKGS[*]} has etc/$f"
	FILES+=("$ROOT/etc/$f:/etc/$f")
done
# The programs, each library they link (the unpacked tree's first, then
# the host's: libc, libblkid… which every Debian 12 host has) and ld-linux.
LD_LIBRARY_PATH=$LIBPATH "$(dirname "${BASH_SOURCE[0]}")/host-files.sh" "${FILES[@]}"
