#!/usr/bin/env bash
# check-provision.sh — checks the lab environment, as root:
#
#   1. scripts/provision.sh runs;
#   2. scripts/provision.sh runs again and reports that nothing changed
#      (every step is idempotent: the fingerprint it takes before and after
#      matches, and no step printed "provision: mudou / changed");
#   3. `vagrant validate` accepts the Vagrantfile (Debian's vagrant package is
#      installed if missing; validating needs no provider installed).
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
if ! command -v vagrant >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vagrant >/dev/null
fi
# Vagrant keeps per-project state in .vagrant/ next to the Vagrantfile;
# validating should leave the checkout as it was.
VAGRANT_DOTFILE_PATH=$tmp/dotvagrant vagrant validate
echo "check-provision: OK"
