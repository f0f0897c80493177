#!/usr/bin/env bash
# check-provision.sh — checks the lab environment, as root:
#
#   1. scripts/provision.sh runs;
#   2. scripts/provision.sh runs again and reports that nothing changed
#      (every step is idempotent: the fingerprint it takes before and after
#      matches, and no step printed "provision: mudou / changed");
#   3. `vagrant validate` accepts the Vagrantfile, provider blocks included.
#      Debian's vagrant and vagrant-libvirt packages are installed if missing:
#      without a provider plugin, `vagrant validate` stops at "No usable
#      default provider could be found"; with vagrant-libvirt it checks the
#      libvirt block too (a misspelt setting fails), and needs no libvirt
#      daemon. (VirtualBox is not in Debian: its block is read, not checked.)
#
# Confere o ambiente dos labs: provision.sh duas vezes (a segunda não pode
# mudar nada) e `vagrant validate`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "check-provision.sh: run as root" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== check-provision: first run"
bash scripts/provision.sh

echo "== check-provision: second run (must change nothing)"
bash scripts/provision.sh 2>&1 | tee "$tmp/second.log"
if grep -q '^provision: mudou / changed' "$tmp/second.log" ||
	! grep -q '^provision: nada mudou / nothing changed' "$tmp/second.log"; then
	echo "check-provision: FAIL: the second run changed the machine:" >&2
	grep '^provision: mudou / changed' "$tmp/second.log" >&2 || echo "  (the machine's fingerprint differs)" >&2
	exit 1
fi

echo "== check-provision: vagrant validate"
missing=()
for p in vagrant vagrant-libvirt; do
	dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Vagrant keeps per-project state in .vagrant/ next to the Vagrantfile;
# validating should leave the checkout as it was.
VAGRANT_DOTFILE_PATH=$tmp/dotvagrant vagrant validate
echo "check-provision: OK"
