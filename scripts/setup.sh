#!/usr/bin/env bash
# setup.sh — prepares a Debian 12 machine for minirun: Debian packages, Go
# modules, the static minirun binary in /usr/local/bin, and the busybox image.
# Safe to run again: every step checks first and changes nothing the second time.
#
# Prepara uma máquina Debian 12 para o minirun: pacotes, módulos Go, o binário
# estático e a imagem busybox. Pode ser rodado de novo sem mudar nada.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (su -, or sudo -i)" >&2; exit 1; }

# Debian packages: busybox-static is the image's only program; runc is the
# reference the benchmark compares against; iproute2 and nftables let a student
# look at what minirun did; the labs (docs/labs/, run by the integration
# suite's TestLabs) read evidence with jq, curl and ps (procps);
# ca-certificates lets Go download modules over HTTPS; docker.io is there for
# its `docker` client only, which the daemon's tests (tests/integration
# daemon_test.go) point at `minirun daemon`: Docker's own dockerd is never
# started (see below); docker-compose (1.29, Python, docker-py) is there to
# drive `minirun daemon` the same way (issue 16: up -d / down / up -d of
# examples/contador); chromium (headless) checks the projector page of
# `explain --web` (projector/browser_test.go); etcd-server (/usr/bin/etcd) is
# the cluster store of multi-host overlay networks, which the etcd package's
# tests run on loopback (internal/etcdtest), and iperf3 measures throughput
# across an overlay.
PKGS=(busybox-static runc iproute2 nftables iptables util-linux ca-certificates tmux
  jq curl procps docker.io docker-compose chromium etcd-server iperf3)
missing=()
# "ii": installed, not merely known to dpkg (a removed package keeps a status).
for p in "${PKGS[@]}"; do
  dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  # docker.io's maintainer scripts start dockerd through invoke-rc.d, and
  # etcd-server's start an etcd on 127.0.0.1:2379; a policy-rc.d that
  # answers 101 ("action forbidden", invoke-rc.d(8)) keeps both stopped,
  # and their units are disabled afterwards so no boot (or socket
  # activation) starts them either. Only docker's client is wanted, and the
  # tests start their own etcd on free ports (internal/etcdtest).
  made_policy=
  if [[ " ${missing[*]} " == *" docker.io "* || " ${missing[*]} " == *" etcd-server "* ]] &&
    [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT  # also when the install fails
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  if command -v systemctl >/dev/null; then
    if [[ " ${missing[*]} " == *" docker.io "* ]]; then
      systemctl disable docker.service docker.socket >/dev/null 2>&1 || true
    fi
    if [[ " ${missing[*]} " == *" etcd-server "* ]]; then
      systemctl disable etcd.service >/dev/null 2>&1 || true
    fi
  fi
fi

# Go: the one new enough for go.mod, installed into /usr/local/go when the
# machine has none (scripts/go.sh owns that choice; provision.sh uses it too).
GO=$(bash scripts/go.sh)
export PATH="$(dirname "$GO"):$PATH"

say "go build (CGO_ENABLED=0: one static binary, minirun-init embedded)"
mkdir -p bin
bash scripts/build.sh bin/minirun
if ! cmp -s bin/minirun /usr/local/bin/minirun 2>/dev/null; then
  install -m 0755 bin/minirun /usr/local/bin/minirun
fi

# The busybox image, built here from Debian's busybox-static: no registry.
if ! minirun images -q 2>/dev/null | grep -q . || ! minirun inspect busybox >/dev/null 2>&1; then
  say "image busybox:latest"
  tar=$(mktemp --suffix=.tar)
  trap 'rm -f "$tar"' EXIT
  bash scripts/mkbusybox.sh "$tar"
  minirun image import --change 'CMD ["sh"]' "$tar" busybox:latest >/dev/null
fi
say "pronto / ready: $(minirun --version 2>/dev/null || echo minirun) — minirun images:"
minirun images
