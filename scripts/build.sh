#!/bin/bash
# build.sh OUT — builds minirun as it ships: one static binary (no cgo)
# that carries, embedded, the small program its containers' init runs.
#
# Why two programs in one file: Go runs the initialiser of every linked
# package at every start, whatever the process is for. minirun links ~450
# packages (the CLI, the daemon, compose, images, etcd's client), and its
# start-up takes ~18 ms here; the init, which only sets up the namespaces
# and execs the user's program, links ~180 and starts in ~8 ms. Every
# `run` starts one init, on the path the user waits for.
#
# The steps, in this order:
#   1. cmd/minirun-init, built with the tag minirun_init (so it does not
#      embed an older init in itself), into runtime/initbin/minirun-init;
#   2. cmd/minirun, which embeds that file (runtime/initexe.go).
# Both get the same build token (-X): the init refuses to run for a
# minirun of another build, so a stale embedded init fails loudly. A plain
# `go build ./cmd/minirun` has no token and uses its own binary as the
# init, as before (slower, but never stale).
#
# The token is a digest of the sources (every .go file, go.mod, go.sum)
# and of the Go version, not a time: -trimpath builds of the same sources are the same bytes, and
# so must the token be, or every build would differ and provisioning twice
# (scripts/check-provision.sh) would reinstall minirun each time.
#
# urfave_cli_no_docs leaves out urfave/cli's man page and Markdown writers
# (App.ToMan, ToMarkdown; minirun calls neither) and with them blackfriday,
# whose package initialisers build ~210 KB of tables every process keeps:
# every idle shim too (bench/detached-100.sh).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/build.sh OUT" >&2; exit 2; }
out=$1
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
pkg=github.com/minirun/minirun/runtime
token=$({
  go env GOVERSION
  find . -path ./.git -prune -o -path ./runtime/initbin -prune -o -type f \
    \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)
# Two builds in one checkout at once (the test suites) would swap each
# other's init between steps 1 and 2: one at a time.
exec 9>runtime/initbin/.lock
flock 9
tmp=$(mktemp runtime/initbin/.minirun-init.XXXXXX)
trap 'rm -f "$tmp"' EXIT
go build -trimpath -tags minirun_init -ldflags "-s -w -X $pkg.buildToken=$token" \
  -o "$tmp" ./cmd/minirun-init
mv -f "$tmp" runtime/initbin/minirun-init
go build -trimpath -tags urfave_cli_no_docs -ldflags "-s -w -X $pkg.buildToken=$token" \
  -o "$out" ./cmd/minirun
