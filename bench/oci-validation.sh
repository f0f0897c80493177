#!/usr/bin/env bash
# oci-validation.sh — runs the OCI runtime-tools v0.9.0 validation programs
# (58 of them) against minirun and against Debian's runc on the same
# machine, one after the other, and prints the programs passed by each,
# side by side. docs/oci-conformance.md explains every program minirun
# still fails on this machine.
#
# Roda os 58 programas de validação do runtime-tools (v0.9.0) contra o
# minirun e contra o runc, e mostra lado a lado quantos cada um passa.
#
# usage: bench/oci-validation.sh [OUTDIR]   (as root; about 80 s per runtime)
#   OUTDIR (default: a temp dir, kept) gets minirun/ and runc/, each with one
#   .tap file per program and summary.tsv.
# The harness (bench/oci-validation-harness.sh) builds the suite once with
# the Go module proxy into /var/tmp/oci-validation-build. Root tests share
# host objects, so both runs hold /tmp/minirun-root-tests.lock.
#
# Preparation: net_cls and net_prio (linux.resources.network) are often
# enabled in the kernel but mounted nowhere (hierarchy 0 in /proc/cgroups,
# and absent from cgroup v2's cgroup.controllers, which lists only
# controllers that have a v2 interface). The suite reads them only under
# <first v1 mount's parent>/net_cls and /net_prio. So both runtimes run, in
# turn and under the same conditions, in one private mount namespace
# (unshare -m --propagation private) where:
#   1. a private tmpfs replaces /sys/fs/cgroup, holding bind mounts of the
#      host's hierarchies (same cgroups, same files) and its symlinks;
#   2. a new v1 hierarchy "-t cgroup -o net_cls,net_prio" is mounted at
#      net_cls,net_prio, with net_cls and net_prio symlinks to it, as
#      systemd lays them out where it mounts them itself.
# The host's own mount table and its /sys/fs/cgroup tmpfs are not touched
# (not even a mkdir), and nothing is done unless both controllers are
# unbound: a host that mounts them already is used as it is. Controllers
# bound elsewhere (here hugetlb, which sits in the v2 hierarchy) are left
# alone. Afterwards the leftover cgroup directories are removed, the bench
# waits for the kernel to free them, and unmounts the hierarchy: with no
# cgroup left in it, the kernel destroys it (/proc/cgroups shows
# hierarchy 0 again, which the bench checks).
#
# Preparação: net_cls e net_prio costumam estar no kernel sem montagem
# nenhuma; os dois runtimes rodam, um depois do outro, num namespace de
# montagem privado com uma hierarquia v1 net_cls,net_prio montada só lá.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

# unbound CONTROLLER: the controller is enabled, in no v1 hierarchy and not
# in the v2 one (cgroups(7): /proc/cgroups' second column is 0 for a
# controller that is not bound to a v1 hierarchy).
unbound() {
  awk -v c="$1" '$1 == c && $2 == 0 && $4 == 1 {f = 1} END {exit !f}' /proc/cgroups &&
    ! grep -qw "$1" /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null &&
    ! grep -qw "$1" /sys/fs/cgroup/cgroup.controllers 2>/dev/null
}

# In the private mount namespace (see "Preparation"): prepare, run each
# "RUNTIME_BIN OUTDIR" pair through the harness, clean up.
if [ "${1:-}" = --in-mount-ns ]; then
  shift
  harness=$1; shift
  # The namespace must not hand anything back to the host: unshare(1) made
  # every mount private, which is checked rather than assumed.
  if awk '$5 == "/" && / shared:/ {f = 1} END {exit !f}' /proc/self/mountinfo; then
    echo "/ is still shared in the bench's mount namespace" >&2; exit 1
  fi
  netcg=""
  if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] && unbound net_cls && unbound net_prio; then
    new=$(mktemp -d /tmp/minirun-bench-cgroupfs-XXXXXX)
    mount -t tmpfs -o mode=0755 minirun-bench "$new"
    for e in /sys/fs/cgroup/*; do
      n=${e##*/}
      if [ -L "$e" ]; then cp -P "$e" "$new/$n"
      elif mountpoint -q "$e"; then mkdir "$new/$n" && mount --bind "$e" "$new/$n"
      fi
    done
    mkdir "$new/net_cls,net_prio"
    mount -t cgroup -o net_cls,net_prio cgroup "$new/net_cls,net_prio"
    ln -s net_cls,net_prio "$new/net_cls"
    ln -s net_cls,net_prio "$new/net_prio"
    # Only this namespace loses the old tree (lazily: nothing here uses it).
    umount -R -l /sys/fs/cgroup
    mount --move "$new" /sys/fs/cgroup
    rmdir "$new"
    netcg=/sys/fs/cgroup/net_cls,net_prio
    echo "prepared: net_cls,net_prio mounted as cgroup v1 at $netcg (private mount namespace)"
  else
    echo "not prepared: net_cls/net_prio are already bound, or /sys/fs/cgroup is not a v1 layout"
  fi
  rc=0
  while [ $# -ge 2 ]; do
    bash "$harness" "$1" "$2" >"$2.log" 2>&1 || { rc=1; tail -5 "$2.log" >&2; }
    shift 2
  done
  if [ -n "$netcg" ]; then
    # Deepest first; rmdir only succeeds for an empty cgroup.
    find "$netcg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
    left=$(find "$netcg" -mindepth 1 -type d | wc -l)
    [ "$left" = 0 ] || { echo "net_cls,net_prio: $left cgroup(s) still in use" >&2; rc=1; }
    # NOTE: the kernel destroys a v1 hierarchy at its last unmount only if
    # the root has no children left then, and a removed cgroup stays a
    # child ("dying") until its last reference is dropped. Unmounted too
    # early, the hierarchy would stay bound, mounted nowhere, until someone
    # mounts and unmounts it again. /proc/cgroups' num_cgroups counts the
    # dying ones too: wait (up to a minute) until only the root is left.
    for _ in $(seq 120); do
      awk '$1 == "net_cls" && $3 == 1 {f = 1} END {exit !f}' /proc/cgroups && break
      sleep 0.5
    done
    umount "$netcg"
  fi
  exit $rc
fi
command -v runc >/dev/null || { echo "needs Debian's runc (apt-get install runc)" >&2; exit 1; }

out=${1:-$(mktemp -d /tmp/minirun-oci-validation-XXXXXX)}
mkdir -p "$out"
out=$(realpath "$out")
work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
# 0755: a container in a user namespace (linux_uid_mappings) runs minirun
# as its mapped root, which must reach the binary (mktemp makes 0700).
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
bash scripts/build.sh "$work/minirun"
harness=bench/oci-validation-harness.sh

# runc is run by its full path, minirun too: neither needs to be on PATH.
# One namespace and one hold of the lock for both, so they see the same
# cgroup layout.
echo "== minirun: $work/minirun; runc: $(command -v runc)" >&2
flock /tmp/minirun-root-tests.lock unshare -m --propagation private \
  bash "$self" --in-mount-ns "$harness" "$work/minirun" "$out/minirun" "$(command -v runc)" "$out/runc" |
  tee "$out/preparation.log"
# The hierarchy is destroyed once its last mount is gone (with the
# namespace) and it had no cgroup left: check that the host is as before.
if grep -q '^prepared:' "$out/preparation.log"; then
  for _ in $(seq 20); do
    unbound net_cls && unbound net_prio && break
    sleep 0.5
  done
  if unbound net_cls && unbound net_prio; then
    echo "net_cls,net_prio: hierarchy destroyed, unbound again as before" | tee -a "$out/preparation.log"
  else
    echo "net_cls,net_prio: the hierarchy outlived its mount (a cgroup was still dying);" \
      "mount it once more and unmount it when empty to drop it" | tee -a "$out/preparation.log" >&2
  fi
fi

# A program that prints no TAP at all and exits 0 counts as a pass for the
# harness (process_rlimits_fail is written that way). Some such "silent"
# passes hide a container that died after start (its error is then only in
# the container's stderr): they are listed apart.
silent() { # $1 = dir: programs passed with no TAP line
  awk -F'\t' 'NR > 1 && $2 == "PASS" && $3 == "-" {print $1}' "$1/summary.tsv" | sort
}
printf '%-32s %-8s %-8s\n' PROGRAM minirun runc
join -t $'\t' <(awk -F'\t' 'NR>1 {print $1"\t"$2}' "$out/minirun/summary.tsv" | sort) \
              <(awk -F'\t' 'NR>1 {print $1"\t"$2}' "$out/runc/summary.tsv" | sort) |
  awk -F'\t' '{printf "%-32s %-8s %-8s\n", $1, $2, $3}'
for rt in minirun runc; do
  n=$(awk -F'\t' 'NR>1 && $2=="PASS"' "$out/$rt/summary.tsv" | wc -l)
  total=$(awk -F'\t' 'NR>1' "$out/$rt/summary.tsv" | wc -l)
  printf '%-8s passed %d/%d programs (silent passes: %s)\n' "$rt" "$n" "$total" "$(silent "$out/$rt" | tr '\n' ' ')"
done
sed 's/^/preparation: /' "$out/preparation.log"
echo "results: $out"
