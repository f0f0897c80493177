#!/usr/bin/env bash
# test.sh — sets everything up, then runs every test: unit tests (no root),
# root tests of each package, and the integration suite, which ends with a
# leak check. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/local/go/bin"

echo; echo "== unit tests (no root needed)"
go vet ./...
go test -count=1 ./...

echo; echo "== root tests and integration suite"
export MINIRUN_TEST_ROOT=1
go test -count=1 -p 1 -tags integration ./... 
