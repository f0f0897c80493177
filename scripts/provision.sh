#!/usr/bin/env bash
# provision.sh — makes a Debian 12 machine ready for the course, as root:
#
#   1. the Debian packages: scripts/setup.sh's, plus what the labs and the
#      demos use (iperf3, redis-server, tmux, jq, capsh, getfattr, ping, curl);
#   2. Go: scripts/go.sh — the Go on PATH (or in /usr/local/go) when it is
#      at least go.mod's version, otherwise go.mod's release from the Go
#      module proxy into /usr/local/go, checked against the checksum database;
#   3. scripts/setup.sh: builds and installs minirun, imports busybox;
#   4. every image the demos and labs use (images/build.sh: webserver,
#      contador, redis), so class time needs no registry.
#
# Vagrant runs it as the "setup" provisioner (see the Vagrantfile); without
# Vagrant, run `sudo bash scripts/provision.sh` from the repository. Running it
# again changes nothing: every step checks first, an image is rebuilt only
# when its recipe changed (a hash of it is recorded in $STAMPS), and the last
# line compares a fingerprint of the machine taken before and after:
# "provision: nada mudou / nothing changed" on a second run.
#
# Prepara uma máquina Debian 12 para o curso: pacotes, Go, minirun e as
# imagens das demonstrações e dos labs. Pode ser rodado de novo sem mudar nada.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf '\n== %s\n' "$*"; }
changed() { printf 'provision: mudou / changed: %s\n' "$*"; }
die() { echo "provision.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo bash scripts/provision.sh)"
if ! grep -qs '^VERSION_ID="12"' /etc/os-release; then
	echo "provision.sh: warning: written for Debian 12; this is $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}")" >&2
fi

STAMPS=${PROVISION_STAMPS:-/var/lib/minirun-provision}
export PATH="$PATH:/usr/local/go/bin"

# fingerprint summarises everything this script may change, so the end can
# say honestly whether this run changed anything: installed packages, the Go
# toolchain in /usr/local/go, the installed minirun, the images (name, tag, id) and the stamps.
fingerprint() {
	{
		dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' 2>/dev/null | sort
		[ -x /usr/local/go/bin/go ] && /usr/local/go/bin/go version
		[ -e /etc/profile.d/minirun-go.sh ] && cat /etc/profile.d/minirun-go.sh
		[ -e /usr/local/bin/minirun ] && sha256sum /usr/local/bin/minirun
		command -v minirun >/dev/null && minirun images 2>/dev/null | awk '{print $1, $2, $3}'
		[ -d "$STAMPS" ] && cat "$STAMPS"/* 2>/dev/null
		command -v systemctl >/dev/null && [ -d /run/systemd/system ] &&
			systemctl is-enabled redis-server 2>/dev/null
		true # a missing piece is part of the state, not an error
	} | sha256sum | cut -d' ' -f1
}
before=$(fingerprint)

# --- 1. Debian packages ------------------------------------------------------
# scripts/setup.sh's own list (it installs them too, but checking here lets
# one apt-get run do everything), then: iperf3 for bench/net-throughput.sh;
# redis-server, whose binary images/build.sh copies into the redis image;
# the tools the labs' "evidence" commands use: capsh (libcap2-bin), getfattr
# (attr), jq, ping (iputils-ping), curl, ps (procps).
PKGS=(busybox-static runc iproute2 nftables iptables util-linux ca-certificates tmux
	iperf3 redis-server libcap2-bin attr jq iputils-ping curl procps)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "apt-get install ${missing[*]}"
	# policy-rc.d answering 101 ("action forbidden") keeps the packages'
	# daemons (Redis, iperf3) from starting on the machine itself: the
	# course's Redis runs in a container. Removed right after.
	policy=/usr/sbin/policy-rc.d made_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ [ $made_policy = 1 ] && rm -f "$policy"; die "apt-get install failed"; }
	[ $made_policy = 1 ] && rm -f "$policy"
	changed "pacotes / packages: ${missing[*]}"
fi
# A Redis on the machine itself would answer `redis-cli` in place of the
# container's and confuse the compose lab: keep Debian's service off.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ] &&
	systemctl is-enabled redis-server >/dev/null 2>&1; then
	systemctl disable --now redis-server >/dev/null 2>&1
	changed "redis-server do host desligado / host's redis-server disabled"
fi

# --- 2. Go -------------------------------------------------------------------
# scripts/go.sh owns the choice: the go on PATH or in /usr/local/go when it
# is at least go.mod's version, otherwise go.mod's release from the Go module
# proxy into /usr/local/go (see its header). It says on stderr what it did.
goroot_before=$(/usr/local/go/bin/go version 2>/dev/null || true)
GO=$(bash scripts/go.sh) || die "no Go new enough for go.mod (scripts/go.sh)"
if [ "$goroot_before" != "$(/usr/local/go/bin/go version 2>/dev/null || true)" ]; then
	changed "Go $("$GO" env GOVERSION) em / in /usr/local/go"
fi
# The chosen go comes first on PATH for setup.sh and images/build.sh.
export PATH="$(dirname "$GO"):$PATH"
hash -r
# Login shells (sudo -i, vagrant ssh) find /usr/local/go's go first too.
if [ -x /usr/local/go/bin/go ]; then
	profile='case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH="/usr/local/go/bin:$PATH" ;; esac'
	if [ "$(cat /etc/profile.d/minirun-go.sh 2>/dev/null)" != "$profile" ]; then
		echo "$profile" >/etc/profile.d/minirun-go.sh
		changed "/etc/profile.d/minirun-go.sh"
	fi
fi

# --- 3. minirun and busybox --------------------------------------------------
bash scripts/setup.sh

# --- 4. the images of the demos and labs -------------------------------------
# recipe_hash NAME: what the image is made of — its Dockerfile and sources,
# build.sh, the busybox image it starts FROM, and for redis the version of
# Debian's redis-server whose binary it copies. A change to any of them
# rebuilds the image; nothing else does.
recipe_hash() {
	local name=$1
	{
		cat images/build.sh
		find "images/$name" -maxdepth 1 -type f \( -name Dockerfile -o -name '*.go' \) ! -name '*_test.go' |
			sort | xargs cat
		minirun image inspect busybox 2>/dev/null | jq -r '.[0].Id'
		if [ "$name" = redis ]; then dpkg-query -W -f '${Version}\n' redis-server; fi
	} | sha256sum | cut -d' ' -f1
}
image_id() { minirun image inspect "minirun/$1:latest" 2>/dev/null | jq -r '.[0].Id' || true; }
mkdir -p "$STAMPS"
for name in webserver contador redis; do
	want="$(recipe_hash "$name") $(image_id "$name")"
	if [ -n "$(image_id "$name")" ] && [ "$(cat "$STAMPS/$name" 2>/dev/null)" = "$want" ]; then
		echo "provision: imagem / image minirun/$name: em dia / up to date"
		continue
	fi
	say "image minirun/$name"
	MINIRUN=minirun bash images/build.sh "$name"
	echo "$(recipe_hash "$name") $(image_id "$name")" >"$STAMPS/$name"
	changed "imagem / image minirun/$name"
done

say "imagens / images"
minirun images
if [ "$before" = "$(fingerprint)" ]; then
	echo "provision: nada mudou / nothing changed"
else
	echo "provision: pronto, com mudanças / ready, with changes"
fi
echo "provision: labs em / in $repo/docs/labs — minirun lab list"
