#!/usr/bin/env bash
# (Copied from the course's shared oci-validation/run.sh, unchanged but for
# this note, so that bench/oci-validation.sh does not depend on shared/.)
# Run the OCI runtime-tools v0.9.0 validation suite (validation/*) against an
# OCI runtime binary that speaks the runc-style CLI
# (create [--pid-file F] [--bundle B] ID | start ID | state ID | kill ID SIG | delete ID).
#
# Usage:  run.sh RUNTIME_PATH OUTDIR [TEST ...]
#         run.sh --summarize OUTDIR      (re-parse existing OUTDIR/*.tap only)
#   RUNTIME_PATH  runtime binary (absolute path or name on $PATH)
#   OUTDIR        created if missing; gets <test>.tap and summary.tsv
#   TEST ...      optional subset of test program names (e.g. "create kill");
#                 default: all 58 programs under runtime-tools/validation
#
# Output: one line per program (status, planned/ok/not ok/skip), then
#   "TOTAL: N tests ok, M not ok, K skipped across P programs".
#   not_ok = TAP "not ok" lines + orphan "error" YAML diagnostics (the hook
#   tests report failures only that way) + 1 for a program that exited
#   non-zero / timed out / stopped short of its plan without reporting a
#   failure itself. Each .tap ends with the program's stderr as "# " lines
#   and a "# exit status: RC (Ns)" trailer.
#
# Environment knobs:
#   OCIV_BUILD_DIR  build cache (default /var/tmp/oci-validation-build)
#   OCIV_TIMEOUT    per-test timeout in seconds (default 60)
#   OCIV_KEEP=1     keep the scratch work dir (bundles) for debugging
#   OCIV_REBUILD=1  force a rebuild of the test binaries
#   GO              go binary (default /usr/local/go/bin/go, else `go` on PATH)
#
# Needs root. Tests run sequentially (several use fixed cgroup paths such as
# /sys/fs/cgroup/<ctrl>/cgrouptest). After every test the script best-effort
# cleans up: containers that appeared in `RUNTIME list -q` (kill KILL +
# delete --force), leftover processes of the test's own session, host mounts
# under the scratch dir, and cgroup directories that did not exist before.
set -uo pipefail
set +m   # no job control: the setsid child must stay in our process group so sid == $!

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] || usage
SUMMARIZE_ONLY=0
if [ "$1" = --summarize ]; then SUMMARIZE_ONLY=1; set -- /bin/true "$2"; fi

RT_ARG=$1; OUTDIR=$2; shift 2
SELECTED=("$@")

BUILD_DIR=${OCIV_BUILD_DIR:-/var/tmp/oci-validation-build}
TIMEOUT=${OCIV_TIMEOUT:-60}
if [ -z "${GO:-}" ]; then
  if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi

RT=$(command -v "$RT_ARG" 2>/dev/null || true)
[ -n "$RT" ] && [ -x "$RT" ] || { echo "run.sh: runtime '$RT_ARG' not found/executable" >&2; exit 2; }
RT=$(realpath "$RT")
[ "$(id -u)" = 0 ] || echo "run.sh: warning: not running as root; most tests will fail" >&2

RTOOLS_VERSION=v0.9.0
# runtime-tools v0.9.0 has no go.mod (it used Godeps). The proxy only serves
# tagged versions (or @latest pseudo-versions for untagged repos), so the
# Godeps revisions are approximated by the closest available versions.
GOMOD_REQUIRES='
	github.com/opencontainers/runtime-tools v0.9.0
	github.com/opencontainers/runtime-spec v1.0.2
	github.com/blang/semver v3.5.0+incompatible
	github.com/hashicorp/errwrap v1.0.0
	github.com/hashicorp/go-multierror v1.0.0
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b
	github.com/mrunalp/fileutils v0.5.0
	github.com/opencontainers/selinux v1.6.0
	github.com/satori/go.uuid v1.2.0
	github.com/sirupsen/logrus v1.0.4
	github.com/stretchr/testify v1.2.2
	github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635
	github.com/urfave/cli v1.19.1
	github.com/xeipuuv/gojsonpointer v0.0.0-20190905194746-02993c407bfb
	github.com/xeipuuv/gojsonreference v0.0.0-20180127040603-bd5ef7bd5415
	github.com/xeipuuv/gojsonschema v1.1.0
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
'
BIN_DIR=$BUILD_DIR/bin
STAMP_KEY=$(printf 'nofile-fix-1\n%s\n%s\n%s\n' "$RTOOLS_VERSION" "$GOMOD_REQUIRES" "$("$GO" version 2>/dev/null)" | sha256sum | cut -c1-16)

build() {
  [ -n "$GO" ] || { echo "run.sh: go not found" >&2; return 1; }
  local mod=$BUILD_DIR/mod srccopy=$BUILD_DIR/src/runtime-tools orig
  echo "== building runtime-tools $RTOOLS_VERSION validation programs into $BIN_DIR" >&2
  rm -rf "$mod" "$srccopy" "$BIN_DIR.new"
  mkdir -p "$mod" "$BIN_DIR.new" "$BUILD_DIR/src" || return 1
  export GOTOOLCHAIN=local GOFLAGS=-mod=mod
  # 1. fetch the pristine module through the proxy, copy it (the module cache
  #    is read-only) and give the copy a go.mod so it can be `replace`d.
  orig=$(cd "$mod" && printf 'module tmp\n' > go.mod &&
         "$GO" mod download -json "github.com/opencontainers/runtime-tools@$RTOOLS_VERSION" |
         sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$orig" ] && [ -d "$orig/validation" ] ||
    { echo "run.sh: could not download runtime-tools $RTOOLS_VERSION" >&2; return 1; }
  cp -r "$orig" "$srccopy" && chmod -R u+w "$srccopy" || return 1
  printf 'module github.com/opencontainers/runtime-tools\n\ngo 1.20\n' > "$srccopy/go.mod"
  # 2. The ONLY change to the suite: since Go 1.19 every Go binary raises its
  #    own soft RLIMIT_NOFILE to hard-1 at startup, so a runtimetest built with
  #    a modern Go always reports "not ok - has expected soft RLIMIT_NOFILE" in
  #    process_rlimits, whatever the runtime did. Undo that in an init().
  cat > "$srccopy/cmd/runtimetest/zz_restore_nofile.go" <<'GOEOF'
package main

// Added by oci-validation/run.sh: restore the RLIMIT_NOFILE soft limit set
// by the runtime, which the Go runtime (>= 1.19) raised in syscall's init.

import (
	"sync/atomic"
	"syscall"
	_ "unsafe"
)

//go:linkname origRlimitNofile syscall.origRlimitNofile
var origRlimitNofile atomic.Pointer[syscall.Rlimit]

func init() {
	if lim := origRlimitNofile.Load(); lim != nil {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, lim)
	}
}
GOEOF
  printf 'module ocivalidation\n\ngo 1.20\n\nrequire (%s)\n\nreplace github.com/opencontainers/runtime-tools => %s\n' \
    "$GOMOD_REQUIRES" "$srccopy" > "$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/opencontainers/runtime-tools/cmd/runtimetest"\n\t_ "github.com/opencontainers/runtime-tools/validation/util"\n)\n' \
    > "$mod/tools.go"
  ( cd "$mod" &&
    "$GO" mod tidy >&2 &&
    cp "$srccopy/rootfs-amd64.tar.gz" "$BIN_DIR.new/" && chmod 644 "$BIN_DIR.new/rootfs-amd64.tar.gz" &&
    CGO_ENABLED=0 "$GO" build -installsuffix cgo -ldflags=-checklinkname=0 -o "$BIN_DIR.new/runtimetest" \
        github.com/opencontainers/runtime-tools/cmd/runtimetest &&
    for d in "$srccopy"/validation/*/; do
      n=$(basename "$d"); [ "$n" = util ] && continue
      "$GO" build -o "$BIN_DIR.new/$n.t" "github.com/opencontainers/runtime-tools/validation/$n" || exit 1
    done ) || { echo "run.sh: build failed" >&2; return 1; }
  echo "$STAMP_KEY" > "$BIN_DIR.new/.stamp"
  rm -rf "$BIN_DIR"; mv "$BIN_DIR.new" "$BIN_DIR"
}

# ---------------------------------------------------------------- TAP parser
# prints: planned ok not_ok skip todo diag_err
#  - planned: sum of all top-level "1..N" lines (some programs print two TAP
#    streams, e.g. linux_cgroups_cpus), -1 if there is none
#  - only column-0 "ok"/"not ok" lines count (runtimetest output is often
#    embedded, indented, inside YAML diagnostics)
#  - diag_err: top-level YAML blocks with an "error" key that are not attached
#    to a preceding test point. The hook/lifecycle programs (hooks, prestart,
#    poststart, poststop, *_fail, ...) report failures ONLY this way and then
#    print "1..0"; such blocks are counted as "not ok" in the totals.
tap_counts() {
  awk '
    /^1\.\.[0-9]+/ { split($0, a, /\.\./); planned += a[2] + 0; seen_plan = 1; last = "plan"; next }
    /^  ---/ { inyaml = 1; attached = (last == "point"); haserr = 0; next }
    inyaml && /^  \.\.\./ { inyaml = 0; if (haserr && !attached) diag++; last = "yaml"; next }
    inyaml { if ($0 ~ /^    "error":/) haserr = 1; next }
    /^#/ { next }
    /^(not )?ok([ \t]|$)/ {
      last = "point"
      line = $0; low = tolower(line)
      if (low ~ /#[ \t]*skip/) { skip++ ; next }
      if (low ~ /#[ \t]*todo/) { todo++ ; next }
      if (substr(line, 1, 4) == "not ") notok++; else ok++
      next
    }
    /^TAP version/ { last = "header"; next }
    # anything else (e.g. a multi-line test description such as
    # "Refer to: ...") is a continuation and keeps "last" unchanged
    END { printf "%d %d %d %d %d %d\n", (seen_plan ? planned : -1), ok, notok, skip, todo, diag }
  ' "$1"
}

# ---------------------------------------------------------------- summary
T_OK=0; T_NOK=0; T_SKIP=0; P_PASS=0; P_FAIL=0; P_SKIP=0; P_N=0
summary_header() {
  printf 'test\tstatus\tplanned\tok\tnot_ok\tskip\ttap_not_ok\tdiag_err\tmissing\texit\tseconds\n' > "$SUMMARY"
  printf '%-32s %-7s %7s %4s %6s %4s %4s\n' TEST STATUS PLANNED OK NOT_OK SKIP RC
}
summarize_one() {   # $1 = test name; reads $OUTDIR/$1.tap (with trailer)
  local t=$1 tap=$OUTDIR/$1.tap planned ok tapnok skip todo diag nok ran missing rc secs status
  read -r rc secs < <(sed -n 's/^# exit status: \([0-9]*\) (\([0-9]*\)s).*/\1 \2/p' "$tap" | tail -1)
  rc=${rc:-255}; secs=${secs:-0}
  read -r planned ok tapnok skip todo diag < <(tap_counts "$tap")
  ran=$((ok + tapnok + skip + todo))
  missing=0; [ "$planned" -gt "$ran" ] && missing=$((planned - ran))
  nok=$((tapnok + diag))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=TIMEOUT
  elif [ "$nok" -gt 0 ] || [ "$missing" -gt 0 ]; then status=FAIL
  elif [ "$rc" != 0 ]; then status=$([ "$ran" -eq 0 ] && echo ERROR || echo FAIL)
  elif [ "$ran" -eq 0 ] && [ "$planned" -lt 0 ]; then status=PASS   # silent pass (e.g. process_rlimits_fail)
  elif [ "$ok" -eq 0 ] && [ "$skip" -gt 0 ]; then status=SKIP
  else status=PASS; fi
  # a failing program that reported no failure itself still counts once
  case $status in TIMEOUT|ERROR|FAIL) [ "$nok" -eq 0 ] && nok=1;; esac
  case $status in PASS) P_PASS=$((P_PASS+1));; SKIP) P_SKIP=$((P_SKIP+1));; *) P_FAIL=$((P_FAIL+1));; esac
  P_N=$((P_N+1)); T_OK=$((T_OK+ok)); T_NOK=$((T_NOK+nok)); T_SKIP=$((T_SKIP+skip))
  [ "$planned" -lt 0 ] && planned=-     # no plan line at all
  printf '%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$t" "$status" "$planned" "$ok" "$nok" "$skip" "$tapnok" "$diag" "$missing" "$rc" "$secs" >> "$SUMMARY"
  printf '%-32s %-7s %7s %4d %6d %4d %4d\n' "$t" "$status" "$planned" "$ok" "$nok" "$skip" "$rc"
}
summary_footer() {
  echo "PROGRAMS: $P_PASS pass, $P_FAIL fail/error/timeout, $P_SKIP skipped (of $P_N)"
  echo "TOTAL: $T_OK tests ok, $T_NOK not ok, $T_SKIP skipped across $P_N programs"
}

if [ "$SUMMARIZE_ONLY" = 1 ]; then
  OUTDIR=$(realpath "$OUTDIR"); SUMMARY=$OUTDIR/summary.tsv
  ls "$OUTDIR"/*.tap >/dev/null 2>&1 || { echo "run.sh: no .tap files in $OUTDIR" >&2; exit 2; }
  summary_header
  for f in "$OUTDIR"/*.tap; do summarize_one "$(basename "$f" .tap)"; done
  summary_footer
  exit 0
fi

# ---------------------------------------------------------------- build (cached)
mkdir -p "$BUILD_DIR"
exec 9>"$BUILD_DIR/.lock"
flock 9
if [ "${OCIV_REBUILD:-0}" = 1 ] || [ "$(cat "$BIN_DIR/.stamp" 2>/dev/null)" != "$STAMP_KEY" ]; then
  build || exit 1
fi
flock -u 9

# ---------------------------------------------------------------- test list
ALL_TESTS=()
for f in "$BIN_DIR"/*.t; do ALL_TESTS+=("$(basename "$f" .t)"); done
if [ ${#SELECTED[@]} -gt 0 ]; then
  TESTS=()
  for t in "${SELECTED[@]}"; do
    t=${t%.t}
    [ -x "$BIN_DIR/$t.t" ] || { echo "run.sh: unknown test '$t'" >&2; exit 2; }
    TESTS+=("$t")
  done
else
  TESTS=("${ALL_TESTS[@]}")
fi

# ---------------------------------------------------------------- scratch
mkdir -p "$OUTDIR"; OUTDIR=$(realpath "$OUTDIR")
mkdir -p "$BUILD_DIR/runs"
WORK=$(mktemp -d "$BUILD_DIR/runs/run.XXXXXX")
mkdir -p "$WORK/tmp"
# mktemp makes 0700 dirs; user-namespace tests (linux_uid_mappings,
# linux_ns_nopath, ...) need the mapped container root to traverse the path.
chmod 755 "$WORK" "$WORK/tmp"
# The tests expect ./runtimetest and ./rootfs-amd64.tar.gz in their cwd and
# create bundles with ioutil.TempDir("") -> $TMPDIR.
cp "$BIN_DIR/runtimetest" "$BIN_DIR/rootfs-amd64.tar.gz" "$WORK/"

CG_BEFORE=$WORK/cgroups.before
find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | sort > "$CG_BEFORE"
# container IDs known to the runtime (empty if it has no working `list -q`)
rt_list() { local out; out=$("$RT" list -q 2>/dev/null) || return 0; printf '%s\n' "$out" | awk 'NF==1' | sort; }
CT_BEFORE=$WORK/containers.before
rt_list > "$CT_BEFORE"

cleanup_after_test() {   # $1 = session id of the test
  local sid=$1 id p m d
  # 1. containers the runtime still knows about that were not there before
  for id in $(comm -13 "$CT_BEFORE" <(rt_list)); do
    "$RT" kill "$id" KILL >/dev/null 2>&1
    "$RT" delete --force "$id" >/dev/null 2>&1 || { sleep 0.5; "$RT" delete "$id" >/dev/null 2>&1; }
    echo "   cleanup: deleted leftover container $id" >&2
  done
  # 2. processes left in the test's own session (e.g. `unshare ... sleep 10000`)
  for p in $(ps -e -o pid=,sid= | awk -v s="$sid" '$2==s {print $1}'); do
    kill -KILL "$p" 2>/dev/null && echo "   cleanup: killed leftover pid $p" >&2
  done
  # 3. host mounts below the scratch dir (deepest first)
  for m in $(awk -v w="$WORK/" 'index($5, w)==1 {print $5}' /proc/self/mountinfo | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
    umount -l "$m" 2>/dev/null && echo "   cleanup: unmounted $m" >&2
  done
  # 4. cgroup directories created during the test (deepest first; rmdir only
  #    succeeds for empty cgroups). Relative cgroupsPath tests create
  #    testdir/cgrouptest/container below the *caller's* cgroup, so new dirs
  #    anywhere count; only brand-new top-level dirs of a sandbox's
  #    .../process_api/<job> kind are left alone (they are not ours).
  for d in $(comm -13 "$CG_BEFORE" <(find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | sort) |
             grep -Ev '/process_api(/[^/]+)?$' | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
    rmdir "$d" 2>/dev/null && echo "   cleanup: removed cgroup $d" >&2
  done
  # 5. bundles
  rm -rf --one-file-system "$WORK"/tmp/* 2>/dev/null
}

# ---------------------------------------------------------------- run
RT_VERSION=$("$RT" --version 2>/dev/null | head -1)
echo "== runtime: $RT ($RT_VERSION); tests: ${#TESTS[@]}; timeout: ${TIMEOUT}s; work: $WORK" >&2
SUMMARY=$OUTDIR/summary.tsv
summary_header
for t in "${TESTS[@]}"; do
  tap=$OUTDIR/$t.tap; err=$WORK/$t.stderr
  start=$(date +%s)
  # setsid: the test gets its own session (sid == $!), so leftovers can be
  # found afterwards; timeout kills the whole process group on expiry.
  ( cd "$WORK" && exec env TMPDIR="$WORK/tmp" RUNTIME="$RT" \
      setsid -w timeout -k 10 "$TIMEOUT" "$BIN_DIR/$t.t" ) >"$tap" 2>"$err" </dev/null &
  pid=$!
  wait "$pid"; rc=$?
  secs=$(( $(date +%s) - start ))
  cleanup_after_test "$pid" 2>>"$err"
  {
    if [ -s "$err" ]; then echo "# ---- stderr ----"; sed 's/^/# /' "$err"; fi
    echo "# exit status: $rc (${secs}s) runtime: $RT ($RT_VERSION)"
  } >> "$tap"
  summarize_one "$t"
done

[ "${OCIV_KEEP:-0}" = 1 ] || rm -rf --one-file-system "$WORK"
summary_footer
