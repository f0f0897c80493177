#!/usr/bin/env bash
# demo.sh — sets everything up, then runs a container from the busybox image
# and narrates the namespaces chapter. / Prepara tudo e narra um contêiner real.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo
minirun run --rm --name demo busybox sh -c 'echo "Olá do contêiner: pid $$, hostname $(hostname)"; ls /'
echo
minirun explain namespaces "$@"
