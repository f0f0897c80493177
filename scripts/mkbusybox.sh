#!/usr/bin/env bash
# mkbusybox.sh OUT.tar — build a minimal root filesystem tar around Debian's
# static busybox, for `minirun import OUT.tar busybox`.
#
# What goes in (the least a shell in a container needs):
#   /bin/busybox               the static binary (no libc needed beside it)
#   one symlink per applet     bin/sh -> busybox, usr/bin/awk -> ../../bin/busybox, ...
#                              (the list is `busybox --list-full`)
#   /etc/passwd, /etc/group    root (0) and nobody (65534)
#   empty /proc /sys /dev /tmp /root /var /home   mount points and homes
#
# The tar is reproducible: entries sorted by name, owner 0:0, one fixed
# mtime (SOURCE_DATE_EPOCH, see reproducible-builds.org), so the same
# busybox always gives the same layer diff ID (sha256 of the tar).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUT.tar" >&2
	exit 2
fi
out=$1
BUSYBOX=/bin/busybox
# 2024-01-01T00:00:00Z unless the caller pins another date.
epoch=${SOURCE_DATE_EPOCH:-1704067200}

# Debian's busybox-static is a static executable; the plain "busybox"
# package links against libc, which would not exist in the image.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
	echo "mkbusybox: installing busybox-static" >&2
	apt-get install -y busybox-static >&2
fi
if [ ! -x "$BUSYBOX" ]; then
	echo "mkbusybox: $BUSYBOX not found after installing busybox-static" >&2
	exit 1
fi

umask 022
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,home}
cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"

# One symlink per applet, relative so that it also resolves when the layer
# is inspected from the host (ls -l $LAYER/bin/sh shows "busybox").
while read -r applet; do
	case $applet in
	*/*) ;;
	*) continue ;; # "linuxrc" (no directory): an initrd's init, not wanted here
	esac
	[ "$applet" = bin/busybox ] && continue
	dir=${applet%/*}
	up=$(echo "$dir" | sed -e 's#[^/]*#..#g') # usr/bin -> ../..
	ln -sf "$up/bin/busybox" "$root/$applet"
done < <("$BUSYBOX" --list-full | LC_ALL=C sort)
# bin/* links point at ../bin/busybox; shorten them to plain "busybox".
for l in "$root"/bin/*; do
	[ -L "$l" ] && ln -sfn busybox "$l"
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF

chmod 0755 "$root"
chmod 0555 "$root/proc" "$root/sys"
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"

tar -C "$root" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
	--format=gnu -cf "$out" .
echo "mkbusybox: wrote $out ($("$BUSYBOX" --list-full | grep -c /) applets)" >&2
