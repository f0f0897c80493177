#!/usr/bin/env bash
# go.sh — the one place that gets a Go new enough for go.mod. It prints the
# path of that go command on stdout (progress goes to stderr), as root:
#
#   GO=$(bash scripts/go.sh) && export PATH="$(dirname "$GO"):$PATH"
#
# scripts/setup.sh and scripts/provision.sh both call it. In order:
#
#   1. the go on PATH, then $MINIRUN_GOROOT/bin/go (default /usr/local/go):
#      the first whose own version (GOTOOLCHAIN=local) is at least go.mod's
#      "go" line wins. Debian 12's golang-go (1.19) is too old and may come
#      first on PATH, hence the second look;
#   2. otherwise go.mod's release is installed into $MINIRUN_GOROOT from the
#      Go module proxy, where every release is published as the module
#      golang.org/toolchain@v0.0.1-goVERSION.GOOS-GOARCH (go.dev/doc/toolchain):
#      a. with an older go that knows toolchains (1.21 or later), that go
#         downloads it: GOTOOLCHAIN=goVERSION checks the module against the
#         checksum database as for any module;
#      b. with no go, or one older than 1.21 (Debian's), the module's zip is
#         fetched with curl and its "h1:" hash (golang.org/x/mod/sumdb/dirhash)
#         computed here and compared with the checksum database's record,
#         read through the proxy (GOPROXY's /sumdb/ endpoint, the way the go
#         command reaches sum.golang.org when only the proxy is reachable).
#
# The module proxy is the only network it needs besides Debian's mirror:
# $GOPROXY's first URL, default https://proxy.golang.org.
#
# Encontra (ou instala em /usr/local/go) um Go tão novo quanto o go.mod pede.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "go.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

GOROOT_DIR=${MINIRUN_GOROOT:-/usr/local/go}

# go.mod's "go" line is the oldest toolchain that may build the module.
need=$(awk '$1 == "go" {print $2; exit}' go.mod)
[ -n "$need" ] || die "no go line in go.mod"
case $need in *.*.*) ;; *) need=$need.0 ;; esac # "go 1.26" means go1.26.0

# version_ge A B: A >= B, comparing dotted versions numerically (sort -V).
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

# go_version GO: the version GO itself is, without letting GOTOOLCHAIN
# switch to another toolchain first (that would report the other one).
go_version() {
	local v
	v=$(cd / && GOTOOLCHAIN=local GOFLAGS= "$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ -n "$v" ] && echo "$v"
}

# 1. A go that is already there.
old="" old_ver=""
for g in "$(command -v go || true)" "$GOROOT_DIR/bin/go"; do
	[ -n "$g" ] && [ -x "$g" ] || continue
	v=$(go_version "$g") || continue
	if version_ge "$v" "$need"; then
		log "Go $v (go.mod: $need) at $g"
		echo "$g"
		exit 0
	fi
	[ -n "$old" ] || { old=$g old_ver=$v; }
done

[ "$(id -u)" = 0 ] || die "Go $need is not installed and installing it into $GOROOT_DIR needs root"
case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) die "no Go release for $(uname -m)" ;;
esac
ver=v0.0.1-go$need.linux-$arch
mod=golang.org/toolchain
found=${old:+go $old_ver at $old}
log "Go $need is needed (found: ${found:-none}); installing $mod@$ver into $GOROOT_DIR"

# The new tree is put together beside the final one (same file system, so
# the last step is a rename) and only then replaces it: an interrupted run
# leaves the old Go, never half of a new one.
parent=$(dirname "$GOROOT_DIR")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.go-install.XXXXXX")
# The module cache's files are read-only: make them writable to remove them.
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
newroot=""

if [ -n "$old" ] && version_ge "$old_ver" 1.21.0; then
	# 2a. The older go fetches and verifies the toolchain, then reports
	# where it unpacked it; a private module cache keeps the host's clean.
	log "downloading with $old (go $old_ver) through GOTOOLCHAIN=go$need"
	dir=$(cd "$tmp" && GOTOOLCHAIN=go$need GOFLAGS= GOMODCACHE=$tmp/mod GOPATH=$tmp/gopath \
		"$old" env GOROOT) || die "go $old_ver could not fetch go$need"
	case $dir in "$tmp"/mod/*) ;; *) die "go $old_ver reported GOROOT $dir, not a downloaded toolchain" ;; esac
	cp -a "$dir" "$tmp/goroot"
	chmod -R u+w "$tmp/goroot"
	newroot=$tmp/goroot
else
	# 2b. No go that can do it: curl, the proxy and the checksum database.
	need_pkgs=()
	command -v curl >/dev/null || need_pkgs+=(curl)
	[ -e /etc/ssl/certs/ca-certificates.crt ] || need_pkgs+=(ca-certificates)
	command -v unzip >/dev/null || need_pkgs+=(unzip)
	if [ ${#need_pkgs[@]} -gt 0 ]; then
		log "apt-get install ${need_pkgs[*]}"
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
	fi
	# GOPROXY is a list separated by "," or "|"; take its first URL.
	proxy=""
	IFS=',|' read -ra entries <<<"${GOPROXY:-https://proxy.golang.org}"
	for e in "${entries[@]}"; do
		case $e in http://* | https://*) proxy=${e%/}; break ;; esac
	done
	[ -n "$proxy" ] || die "GOPROXY=$GOPROXY names no proxy URL to download Go from"
	log "downloading $proxy/$mod/@v/$ver.zip"
	curl -fsSL -o "$tmp/go.zip" "$proxy/$mod/@v/$ver.zip" || die "cannot download $mod@$ver from $proxy"
	# The checksum database's record: "golang.org/toolchain v0.0.1-... h1:BASE64".
	want=$(curl -fsSL "$proxy/sumdb/sum.golang.org/lookup/$mod@$ver" |
		awk -v m="$mod" -v v="$ver" '$1 == m && $2 == v {print $3; exit}') ||
		die "cannot read the checksum database's record for $mod@$ver through $proxy"
	[ -n "$want" ] || die "the checksum database has no record for $mod@$ver"
	unzip -q "$tmp/go.zip" -d "$tmp/x"
	# dirhash.Hash1: for every file, sorted by its name inside the zip,
	# the line "SHA256HEX  NAME\n"; the hash is "h1:" + base64(sha256(lines)).
	got=$(cd "$tmp/x" && find . -type f -printf '%P\n' | LC_ALL=C sort |
		while IFS= read -r f; do printf '%s  %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"; done |
		sha256sum | cut -d' ' -f1 | tr a-f A-F | basenc --base16 -d | base64)
	[ "h1:$got" = "$want" ] || die "$mod@$ver: the zip hashes to h1:$got, the checksum database says $want"
	log "checksum $want matches the checksum database"
	newroot=$tmp/x/$mod@$ver
	[ -x "$newroot/bin/go" ] || [ -f "$newroot/bin/go" ] || die "$mod@$ver has no bin/go"
	# Module zips keep no file modes: the go command itself sets the
	# execute bits of pkg/tool and bin on first use (cmd/go/internal/
	# toolchain); so do we.
	find "$newroot/pkg/tool" "$newroot/bin" -type f -exec chmod 0755 {} +
fi

# Swap: the Go docs' install removes any previous tree first (mixing two
# releases' files breaks the toolchain).
rm -rf "$GOROOT_DIR"
mv "$newroot" "$GOROOT_DIR"
v=$(go_version "$GOROOT_DIR/bin/go") || die "the Go just installed in $GOROOT_DIR does not run"
version_ge "$v" "$need" || die "the Go just installed in $GOROOT_DIR is $v, not $need"
log "installed Go $v in $GOROOT_DIR"
echo "$GOROOT_DIR/bin/go"
