#!/bin/bash
# run.sh — run one static test binary inside a throw-away cgroup-v2 VM.
#
# Usage: tests/vm/run.sh [options] [-- TESTBINARY [test args...]]
#
# It boots Debian 12's own kernel (fetched by fetch-kernel.sh) under
# qemu-system-x86_64 with a small initramfs: busybox, the test binary, extra
# files, and the kernel modules minirun needs. Inside, /sys/fs/cgroup is a pure
# cgroup2 mount, as on the students' Debian 12 VM. The serial console is
# printed on stdout; run.sh exits with the test binary's exit code.
#
# Options:
#   --add SRC:DEST   copy a host file or directory to DEST (absolute) in the VM
#   --env K=V        export K=V for the test (MINIRUN_TEST_ROOT=1 is always set)
#   --cwd DIR        directory the test starts in (default /); go test -c
#                    binaries look for testdata/ here
#   --module NAME    load one more kernel module at boot (with its dependencies)
#   --timeout SEC    kill the VM after SEC seconds (default 300; 0 = never)
#   --mem MB         guest memory (default 1024)
#   --smp N          guest CPUs (default 2)
#   --append ARGS    extra kernel command line
#   --accel A        tcg (default) or kvm; a host without working KVM needs tcg
#   --compress C     initramfs compression: gzip (default) or none
#   --qemu ARG       pass one more argument to qemu (repeat for more)
#   --log FILE       also write the serial console to FILE
#   --shell          after the test (or instead of it), open a shell on the
#                    console; the VM powers off when the shell exits
#   -h, --help       print this text
#
# Environment: MINIRUN_VM_CACHE (kernel cache, default /var/cache/minirun-vm),
# MINIRUN_VM_TIMEOUT, MINIRUN_VM_ACCEL.
#
# Exit codes: the test's own code; 124 when the timeout killed the VM; 125 when
# the VM stopped without printing the exit marker (kernel panic, init died);
# 2 for bad usage.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MINIRUN_VM_CACHE:-/var/cache/minirun-vm}
TIMEOUT=${MINIRUN_VM_TIMEOUT:-300}
ACCEL=${MINIRUN_VM_ACCEL:-tcg}
MEM=1024
SMP=2
CWD=/
COMPRESS=gzip
APPEND=""
LOG=""
SHELL_AFTER=0
ADDS=()
ENVS=()
EXTRA_MODULES=()
QEMU_EXTRA=()

# Modules loaded at boot. Debian builds these as modules (=m in the kernel
# config), so a bare initramfs has none of them: overlayfs for rootfs, loop for
# image files and io tests, veth/bridge/dummy for networks, nf_tables and its
# NAT/conntrack expressions for masquerading, nft_compat and xt_* for rules
# written through the iptables-nft interface.
BOOT_MODULES=(overlay loop veth bridge dummy nf_conntrack nf_nat nf_tables
	nft_chain_nat nft_nat nft_masq nft_ct nft_compat xt_MASQUERADE xt_conntrack xt_comment)
# Modules shipped but not loaded: a test (or the kernel's request_module, which
# runs /sbin/modprobe) loads them on demand. br_netfilter stays out of the
# boot list because loading it changes how bridged traffic is filtered, and a
# fresh Debian 12 host does not load it either.
ONDEMAND_MODULES=(br_netfilter tun macvlan ipvlan 8021q vxlan nfsd nfs nfsv3 nfsv4)

log() { echo "vm: $*" >&2; }
die() { log "error: $*"; exit 2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
	case $1 in
	--add) [ $# -ge 2 ] || die "--add needs SRC:DEST"; ADDS+=("$2"); shift 2 ;;
	--env) [ $# -ge 2 ] || die "--env needs K=V"; ENVS+=("$2"); shift 2 ;;
	--cwd) [ $# -ge 2 ] || die "--cwd needs DIR"; CWD=$2; shift 2 ;;
	--module) [ $# -ge 2 ] || die "--module needs NAME"; EXTRA_MODULES+=("$2"); shift 2 ;;
	--timeout) [ $# -ge 2 ] || die "--timeout needs SEC"; TIMEOUT=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || die "--mem needs MB"; MEM=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || die "--smp needs N"; SMP=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || die "--append needs ARGS"; APPEND=$2; shift 2 ;;
	--accel) [ $# -ge 2 ] || die "--accel needs tcg or kvm"; ACCEL=$2; shift 2 ;;
	--compress) [ $# -ge 2 ] || die "--compress needs gzip or none"; COMPRESS=$2; shift 2 ;;
	--qemu) [ $# -ge 2 ] || die "--qemu needs ARG"; QEMU_EXTRA+=("$2"); shift 2 ;;
	--log) [ $# -ge 2 ] || die "--log needs FILE"; LOG=$2; shift 2 ;;
	--shell) SHELL_AFTER=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

TEST=""
if [ $# -gt 0 ]; then
	TEST=$1
	shift
fi
[ -n "$TEST" ] || [ "$SHELL_AFTER" = 1 ] || die "no test binary (usage: run.sh [options] -- TESTBINARY [args...])"
[ -z "$TEST" ] || [ -f "$TEST" ] || die "test binary $TEST not found"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout $TIMEOUT is not a number of seconds"
[[ $MEM =~ ^[0-9]+$ ]] || die "--mem $MEM is not a number of MiB"
[[ $SMP =~ ^[0-9]+$ ]] || die "--smp $SMP is not a number"
case $ACCEL in tcg | kvm) ;; *) die "--accel $ACCEL: want tcg or kvm" ;; esac
case $COMPRESS in gzip | none) ;; *) die "--compress $COMPRESS: want gzip or none" ;; esac
case $CWD in /*) ;; *) die "--cwd $CWD must be absolute" ;; esac
for kv in "${ENVS[@]}"; do
	[[ ${kv%%=*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ && $kv == *=* ]] || die "--env $kv: want NAME=VALUE"
done
for a in "${ADDS[@]}"; do
	[[ $a == *:/* ]] || die "--add $a: want SRC:/absolute/dest"
	[ -e "${a%%:*}" ] || die "--add $a: ${a%%:*} not found"
done
if [ -n "$TEST" ] && head -c 4096 "$TEST" | grep -qa 'ld-linux'; then
	log "warning: $TEST looks dynamically linked; the VM has no libc (build it with CGO_ENABLED=0)"
fi

# The kernel and host tools: a no-op when the cache is already filled.
MINIRUN_VM_CACHE=$CACHE "$HERE/fetch-kernel.sh" "$CACHE"
KVER=$(cat "$CACHE/kernel.version")
export PATH=$PATH:/usr/sbin:/sbin

START=$(date +%s.%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/minirun-vm.XXXXXX")
QEMU_PID=""
cleanup() {
	# Stop our own qemu (timeout passes the signal on) if run.sh is interrupted.
	if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ROOT=$WORK/root

# q quotes one word for the VM's shell: 'it'\''s' — safe for any byte but NUL.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# --- the file tree ------------------------------------------------------------
mkdir -p "$ROOT"/{bin,dev,etc,lib,proc,sys,run,tmp,root,mnt,newroot,usr/local/bin,var/tmp}
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
# One static busybox provides every command; merged-/usr like Debian 12, so
# /sbin/modprobe (which the kernel runs to autoload modules) exists too.
BUSYBOX=$(command -v busybox)
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
ln -s bin "$ROOT/sbin"
ln -s ../bin "$ROOT/usr/bin"
ln -s ../bin "$ROOT/usr/sbin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$ROOT/etc/hosts"
echo minirun-vm >"$ROOT/etc/hostname"
# Without /dev/console in the archive the kernel could not give /init a
# stdin/stdout before devtmpfs is mounted. Creating a device node needs root;
# as another user we rely on the node the kernel's built-in initramfs has.
if [ "$(id -u)" -eq 0 ]; then mknod -m 600 "$ROOT/dev/console" c 5 1; fi

TEST_IN_VM=""
if [ -n "$TEST" ]; then
	TEST_IN_VM=/usr/local/bin/$(basename "$TEST")
	cp "$TEST" "$ROOT$TEST_IN_VM"
	chmod 0755 "$ROOT$TEST_IN_VM"
fi
for a in "${ADDS[@]}"; do
	src=${a%%:*} dst=${a#*:}
	mkdir -p "$ROOT$(dirname "$dst")"
	cp -a "$src" "$ROOT$dst"
done

# --- kernel modules -----------------------------------------------------------
# modules.dep gives each module's full dependency closure, so one look-up per
# module is enough. Soft dependencies are not in it: libcrc32c (needed by
# nf_conntrack) asks the crypto API for "crc32c", which only a module found
# through modules.alias provides, so "softdep X pre: Y" lines are followed too
# and Y is loaded before X. Files keep their relative path and are decompressed
# when the package ships .ko.xz/.ko.zst/.ko.gz (busybox's insmod cannot
# decompress); depmod then writes modules.dep and modules.alias for just this
# subset, which busybox's modprobe and the kernel's autoloader read.
MODSRC=$CACHE/modules
MODDST=$ROOT/lib/modules/$KVER
mkdir -p "$MODDST"
declare -A FILES=() SEEN=()
LOAD=() # boot load order: soft dependencies first
mod_line() { # NAME -> its modules.dep line; - and _ are the same in names
	awk -F: -v n="${1//-/_}" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.(xz|zst|gz))?$/, "", b);
		gsub(/-/, "_", b); if (b == n) { print $0; exit } }' "$MODSRC/modules.dep"
}
resolve() { # NAME or alias -> module name (the first match), or nothing
	if [ -n "$(mod_line "$1")" ]; then echo "$1"; return; fi
	awk -v n="$1" '$1 == "alias" && $2 == n { print $3; exit }' "$MODSRC/modules.alias"
}
softdeps() { # MODULE -> names from its "softdep MODULE pre: ... post: ..." line
	awk -v n="${1//-/_}" '$1 == "softdep" && $2 == n {
		for (i = 3; i <= NF; i++) if ($i != "pre:" && $i != "post:") print $i }' "$MODSRC/modules.softdep"
}
# want MODULE LOAD(0|1): ship MODULE, its dependencies and soft dependencies;
# with LOAD=1 also append them to the boot load order.
want() {
	local m=$1 load=$2 line p s r
	[ -z "${SEEN[$m:$load]:-}" ] || return 0
	SEEN[$m:$load]=1
	line=$(mod_line "$m")
	if [ -z "$line" ]; then
		# Built into the kernel: nothing to ship, nothing to load.
		grep -q "/${m//_/[-_]}\.ko\$" "$MODSRC/modules.builtin" && return 0
		die "module $m is neither in modules.dep nor built into kernel $KVER"
	fi
	for p in ${line#*:} ${line%%:*}; do
		# A dependency's soft dependencies count too (libcrc32c's crc32c).
		for s in $(softdeps "$(basename "${p%%.ko*}")"); do
			r=$(resolve "$s")
			if [ -n "$r" ]; then want "$r" "$load"; fi
		done
		FILES[$p]=1
	done
	if [ "$load" = 1 ]; then LOAD+=("$m"); fi
}
for m in "${BOOT_MODULES[@]}" "${EXTRA_MODULES[@]}"; do want "$m" 1; done
for m in "${ONDEMAND_MODULES[@]}"; do want "$m" 0; done
for p in "${!FILES[@]}"; do
	mkdir -p "$MODDST/$(dirname "$p")"
	case $p in
	*.ko.xz) xz -dc "$MODSRC/$p" >"$MODDST/${p%.xz}" ;;
	*.ko.zst) zstd -qdc "$MODSRC/$p" >"$MODDST/${p%.zst}" ;;
	*.ko.gz) gzip -dc "$MODSRC/$p" >"$MODDST/${p%.gz}" ;;
	*) cp "$MODSRC/$p" "$MODDST/$p" ;;
	esac
done
cp "$MODSRC"/modules.{builtin,builtin.modinfo,order} "$MODDST/"
depmod -b "$ROOT" "$KVER"

# --- /init --------------------------------------------------------------------
NONCE=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
MARKER="MINIRUN-VM-EXIT-$NONCE"
{
	cat <<'EOF'
#!/bin/sh
# Stage 1, in the kernel's initramfs (rootfs). pivot_root(2) refuses to move
# away from rootfs ("EINVAL: the current root is on the rootfs"), and every
# container runtime calls it, so copy the tree into a real tmpfs mount and
# switch_root there; switch_root frees rootfs's copy as it goes.
export PATH=/bin
mount -t tmpfs -o mode=0755 root /newroot
for f in /*; do
	case $f in /newroot | /proc | /sys | /dev) mkdir -p "/newroot$f" ;; *) cp -a "$f" /newroot/ ;; esac
done
exec switch_root /newroot /init2
EOF
} >"$ROOT/init"
{
	cat <<'EOF'
#!/bin/sh
# Stage 2, PID 1 on a tmpfs root. Set the machine up the way systemd sets up
# a Debian 12 host, then run the test. As PID 1 this shell also reaps the
# orphans a test leaves behind: ash waits with waitpid(-1) while the test runs.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
booted=$(cut -d' ' -f1 /proc/uptime)
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=0755,nosuid,nodev run /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp
# cgroup v2 only: no v1 hierarchy is ever mounted. Same options as systemd:
# nsdelegate makes cgroup namespaces delegation boundaries,
# memory_recursiveprot applies memory.min/low to whole subtrees.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
	mount -t cgroup2 none /sys/fs/cgroup
# systemd marks every mount shared; so do we, or a runtime that forgets to
# make its mount namespace private would pass here and break the host there.
mount --make-rshared /
hostname -F /etc/hostname
ip link set lo up
EOF
	echo "for m in ${LOAD[*]}; do"
	cat <<'EOF'
	modprobe "$m" || echo "minirun-vm: modprobe $m failed" >&2
done
# Like systemd: enable every controller for the root's children, and move
# ourselves out of the root into a leaf (systemd's init.scope), so the test
# meets the "no internal processes" rule as it would on the real host.
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
mkdir -p /sys/fs/cgroup/init.scope
echo $$ >/sys/fs/cgroup/init.scope/cgroup.procs
echo "minirun-vm: kernel $(uname -r) ran /init after ${booted}s, ready after $(cut -d' ' -f1 /proc/uptime)s; cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
export MINIRUN_TEST_ROOT=1 MINIRUN_VM=1
EOF
	for kv in "${ENVS[@]}"; do echo "export ${kv%%=*}=$(q "${kv#*=}")"; done
	echo "cd $(q "$CWD")"
	echo "code=0"
	if [ -n "$TEST" ]; then
		printf '%s' "$(q "$TEST_IN_VM")"
		for arg in "$@"; do printf ' %s' "$(q "$arg")"; done
		echo " </dev/null"
		echo 'code=$?'
	fi
	if [ "$SHELL_AFTER" = 1 ]; then
		# cttyhack gives the shell a controlling terminal, so ^C works.
		echo 'echo "minirun-vm: shell; exit it to power off"'
		echo 'setsid cttyhack sh -l'
		[ -n "$TEST" ] || echo 'code=$?'
	fi
	# Own line, nonce included: no test output or kernel message can fake it.
	echo "echo; echo \"$MARKER=\$code\""
	echo 'sync'
	echo 'poweroff -f'
} >"$ROOT/init2"
chmod 0755 "$ROOT/init" "$ROOT/init2"

# --- the archive --------------------------------------------------------------
INITRD=$WORK/initrd
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$INITRD.cpio"
if [ "$COMPRESS" = gzip ]; then
	gzip -1 -c "$INITRD.cpio" >"$INITRD"
	rm -f "$INITRD.cpio"
else
	mv "$INITRD.cpio" "$INITRD"
fi
rm -rf "$ROOT"
BUILT=$(date +%s.%N)
log "initramfs $(du -h "$INITRD" | cut -f1) ($COMPRESS) built in $(awk -v a="$START" -v b="$BUILT" 'BEGIN{printf "%.1f", b-a}')s; booting $KVER (accel $ACCEL, ${MEM} MiB, $SMP CPUs)"

# --- boot ---------------------------------------------------------------------
# No network device of qemu's own (-nic none): the guest reaches nothing
# outside. run2.sh adds one with --qemu -netdev/-device: a cable between
# two guests only.
# -no-reboot plus panic=-1 turn a kernel panic into qemu exiting at once;
# oops=panic does the same for an oops instead of hanging to the timeout.
# -cpu max under TCG offers RDRAND, so the guest's RNG (and Go's runtime,
# which calls getrandom at start) never waits for entropy.
CMDLINE="console=ttyS0 quiet panic=-1 oops=panic $APPEND"
QEMU=(qemu-system-x86_64 -accel "$ACCEL" -cpu max -m "$MEM" -smp "$SMP"
	-nic none -no-reboot -display none
	-kernel "$CACHE/vmlinuz" -initrd "$INITRD" -append "$CMDLINE" ${QEMU_EXTRA[@]+"${QEMU_EXTRA[@]}"})
if [ "$SHELL_AFTER" = 1 ]; then
	# The console is the user's terminal; Ctrl-A x quits qemu.
	QEMU+=(-serial mon:stdio)
	FILTER=(cat)
	exec 3<&0
else
	# Nothing reads the guest's stdin; serial lines lose their \r for clean logs.
	QEMU+=(-monitor none -serial stdio)
	FILTER=(sed -u 's/\r$//')
	exec 3</dev/null
fi

SERIAL=$WORK/serial.log
: >"$SERIAL"
# qemu writes the console into a file that run.sh parses afterwards; tail
# shows it live and stops once qemu is gone. timeout(1) kills qemu when the
# time is up and then exits 124; its pid lets the EXIT trap stop it early.
timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" <&3 >"$SERIAL" 2>&1 &
QEMU_PID=$!
tail -s 0.2 -n +1 -f --pid="$QEMU_PID" "$SERIAL" | "${FILTER[@]}" &
TAIL_PID=$!
set +e
wait "$QEMU_PID"
QRC=$?
set -e
QEMU_PID=""
wait "$TAIL_PID" || true
END=$(date +%s.%N)
[ -z "$LOG" ] || tr -d '\r' <"$SERIAL" >"$LOG"

CODE=$(tr -d '\r' <"$SERIAL" | sed -n "s/.*$MARKER=\([0-9][0-9]*\).*/\1/p" | tail -n1)
ELAPSED=$(awk -v a="$START" -v b="$END" 'BEGIN{printf "%.1f", b-a}')
BOOTED=$(tr -d '\r' <"$SERIAL" | sed -n 's/^minirun-vm: kernel .* ran \/init after \([0-9.]*s\), ready after \([0-9.]*s\).*/\/init at \1, ready at \2 guest time/p' | head -n1)
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
	log "timeout: the VM ran longer than ${TIMEOUT}s and was killed (${ELAPSED}s in all)"
	exit 124
fi
if [ -z "$CODE" ]; then
	log "the VM stopped without the exit marker (qemu exit $QRC, ${ELAPSED}s): kernel panic or init died; see the console above"
	exit 125
fi
log "test exit code $CODE (${BOOTED:-boot time unknown}; ${ELAPSED}s in all)"
exit "$CODE"
