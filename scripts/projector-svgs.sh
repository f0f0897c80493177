#!/usr/bin/env bash
# projector-svgs.sh — regenerates the diagrams docs/projector.md shows: runs
# the namespaces, rootfs and cgroups chapters for real with `minirun explain
# CHAPTER --svg DIR` and keeps each chapter's last diagram as
# docs/projector/CHAPTER.svg. They are drawn from this machine's kernel (its
# inodes, paths and addresses), never by hand.
#
# Regera as figuras de docs/projector.md a partir do kernel desta máquina.
#
# usage: scripts/projector-svgs.sh [OUTDIR]   (as root; default docs/projector)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/projector}
M=${MINIRUN:-minirun}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
work=$(mktemp -d /tmp/minirun-svgs-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
for ch in namespaces rootfs cgroups; do
  "$M" explain "$ch" --lang pt --svg "$work/$ch" >/dev/null
  last=$(ls "$work/$ch"/*.svg | sort | tail -1)
  cp "$last" "$OUT/$ch.svg"
  echo "$OUT/$ch.svg <- $(basename "$last")"
done
