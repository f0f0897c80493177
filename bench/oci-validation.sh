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
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v runc >/dev/null || { echo "needs Debian's runc (apt-get install runc)" >&2; exit 1; }

out=${1:-$(mktemp -d /tmp/minirun-oci-validation-XXXXXX)}
mkdir -p "$out"
work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
# 0755: a container in a user namespace (linux_uid_mappings) runs minirun
# as its mapped root, which must reach the binary (mktemp makes 0700).
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -o "$work/minirun" ./cmd/minirun
harness=bench/oci-validation-harness.sh

# runc is run by its full path, minirun too: neither needs to be on PATH.
for rt in minirun runc; do
  bin=$work/minirun; [ "$rt" = runc ] && bin=$(command -v runc)
  echo "== $rt: $bin" >&2
  flock /tmp/minirun-root-tests.lock bash "$harness" "$bin" "$out/$rt" >"$out/$rt.log" 2>&1 ||
    { tail -5 "$out/$rt.log" >&2; exit 1; }
done

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
echo "results: $out"
