#!/usr/bin/env bash
# projector-latency.sh — how long a step's diagram takes to reach the
# projector page (issue #17: median <= 200 ms): runs a live chapter of
# `minirun explain CHAPTER --pause --web`, drives it from the page's side
# (POST /next for each waiting step, as the Next button does) and, for
# each step, subtracts the step's end (the event's "ended", taken when the
# tracer's End is called, before the host is read and drawn) from the time
# the event arrived at this SSE client. Prints the median over the chapter.
#
# Mede o tempo entre o fim de um passo e a chegada do seu diagrama à página
# do projetor (mediana de um capítulo).
#
# usage: bench/projector-latency.sh [CHAPTER] [ADDR]   (as root; default rootfs 127.0.0.1:18090)
#        MINIRUN=path/to/minirun to use another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
CH=${1:-rootfs}
ADDR=${2:-127.0.0.1:18090}
M=${MINIRUN:-minirun}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "needs curl and python3" >&2; exit 1; }

log=$(mktemp /tmp/minirun-projector-XXXXXX.log)
"$M" explain "$CH" --pause --web "$ADDR" --lang en </dev/null >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  curl -sf "http://$ADDR/state" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done

# The client is Python's standard library: it timestamps each event as
# it arrives (a shell loop forking grep per line would add its own delay).
python3 - "$ADDR" "$CH" <<'PY'
import json, statistics, sys, threading, time, urllib.request
addr, ch = sys.argv[1], sys.argv[2]
def nxt(seq):
    req = urllib.request.Request(f"http://{addr}/next?seq={seq}", method="POST", headers={"X-Minirun": "next"})
    try:
        urllib.request.urlopen(req).read()
    except Exception:
        pass
lat = []
with urllib.request.urlopen(f"http://{addr}/events") as r:
    for raw in r:
        now = time.time_ns()
        line = raw.decode()
        if not line.startswith("data: "):
            continue
        v = json.loads(line[6:])
        if v["phase"] == "done":
            break
        if v.get("waiting"):
            threading.Thread(target=nxt, args=(v["seq"],)).start()
        if v["phase"] == "end":
            lat.append((now - v["ended"]) / 1e6)
if not lat:
    sys.exit("no step ended")
print(f"{ch}: step end -> SSE client, median {statistics.median(lat):.1f} ms "
      f"(min {min(lat):.1f}, max {max(lat):.1f}) over {len(lat)} steps")
PY
wait "$pid" || { echo "minirun explain failed:" >&2; cat "$log" >&2; exit 1; }
