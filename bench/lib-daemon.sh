# lib-daemon.sh — the setup the daemon benches share (daemon-rss.sh,
# daemon-vs-direct.sh, daemon-load.sh), sourced, not run: checks (root,
# the docker client), a temp dir with a minirun built from this checkout
# and the busybox image, a bridge of the bench's own, `minirun daemon` on
# a socket in the temp dir, DOCKER_HOST pointing at it, and a trap that
# removes all of it. Docker's dockerd is never started.
#
# O preparo comum dos benchmarks do daemon: binário, imagem, rede própria,
# daemon num socket temporário e a limpeza no fim.
#
# Before sourcing, a bench may set BENCH_BRIDGE and BENCH_SUBNET (its own
# network: the default is mrbench0, 10.75.0.0/16); the caller may set
# BENCH_BINARY (a minirun to run instead of building this checkout).
# After it, the bench has:
#   $work          the temp dir (minirun, busybox.tar, run/, lib/, docker.sock)
#   mr ARGS…       minirun on the bench's roots
#   $daemon_pid    the daemon's pid (minirun's own, not a subshell's)
#   DOCKER_HOST, DOCKER_CONFIG exported for `docker`
#   bench_cleanup_extra   a function the bench may define; the trap runs it
#                  before its own cleanup

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v docker >/dev/null || { echo "needs Debian's docker.io for its client (scripts/setup.sh)" >&2; exit 1; }

export MINIRUN_BRIDGE_NAME=${BENCH_BRIDGE:-mrbench0} MINIRUN_BRIDGE_SUBNET=${BENCH_SUBNET:-10.75.0.0/16}
work=$(mktemp -d /tmp/minirun-bench-XXXXXX)
mr() { "$work/minirun" --root "$work/run" --data-root "$work/lib" "$@"; }
daemon_pid=
bench_cleanup() {
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra || true; fi
  # Containers first, while the daemon still answers: then the daemon,
  # then the bench's network (its bridge and nft rules), then the files.
  for id in $(mr ps -a -q 2>/dev/null); do mr rm -f "$id" >/dev/null 2>&1 || true; done
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  fi
  mr network reset >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

# BENCH_BINARY runs a minirun built elsewhere (another ref, for a
# before/after); by default this checkout is built.
if [ -n "${BENCH_BINARY:-}" ]; then
  cp "$BENCH_BINARY" "$work/minirun"
else
  bash scripts/build.sh "$work/minirun"
fi
bash scripts/mkbusybox.sh "$work/busybox.tar" >/dev/null
mr image import --change 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
# Started directly, not through the mr function: $! must be minirun's own
# pid (a backgrounded function is a subshell, and killing it left the
# daemon running).
"$work/minirun" --root "$work/run" --data-root "$work/lib" daemon -H "unix://$work/docker.sock" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/docker.sock" ] && break; sleep 0.05; done
[ -S "$work/docker.sock" ] || { echo "the daemon did not start:" >&2; cat "$work/daemon.log" >&2; exit 1; }
export DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/docker-config"
