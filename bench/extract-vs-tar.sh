#!/usr/bin/env bash
# bench/extract-vs-tar.sh — minirun's layer extraction against GNU tar.
#
#   sudo bench/extract-vs-tar.sh [SIZE_MB] [RUNS]     (default 300 MB, 5 runs)
#
# Makes a layer tar of SIZE_MB shaped like a distribution (mostly small
# files in many directories, a few large ones, symlinks), then, alternating
# so that both see the same cache state, times
#   minirun image import layer.tar     (extract + sha256 diff ID + tar-split
#                                       record + commit: what a pull does)
#   tar -xpf layer.tar                 (extract only)
# into fresh directories on the same filesystem, and prints the median of
# each and their ratio. Nothing is deleted until the end: deleting (with
# the disk's discard, writeback) between runs would slow the next run down
# more than anything measured. Needs about 2 x RUNS x SIZE_MB of disk. minirun's target is at most 1.3 times tar's time.
# Everything lives in one temporary directory, removed at the end.
set -euo pipefail

size_mb=${1:-300}
runs=${2:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "extract-vs-tar: run as root (image import needs it, and tar should keep owners too)" >&2
	exit 1
fi
command -v python3 >/dev/null || { echo "extract-vs-tar: needs python3 to write the test archive" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/minirun-bench.XXXXXX")
trap 'echo "cleaning up $work" >&2; rm -rf "$work"' EXIT

echo "building minirun..." >&2
bash "$repo/scripts/build.sh" "$work/minirun"

echo "writing a ${size_mb} MB layer..." >&2
python3 - "$work/layer.tar" "$size_mb" <<'PY'
import io, os, sys, tarfile, time
out, size_mb = sys.argv[1], int(sys.argv[2])
budget = size_mb << 20
big = budget // 4                  # a quarter in 8 MiB files, the rest small
mtime = 1704067200
rnd = os.urandom(1 << 20)
def add(tf, name, data, mode=0o644):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode; ti.mtime = mtime
    tf.addfile(ti, io.BytesIO(data))
def adddir(tf, name):
    ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = mtime
    tf.addfile(ti)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
    written, n, d = 0, 0, 0
    adddir(tf, "usr"); adddir(tf, "usr/bin"); adddir(tf, "usr/lib")
    while written < big:
        data = (rnd * 9)[: 8 << 20]
        add(tf, "usr/bin/big%03d" % n, data, 0o755); written += len(data); n += 1
    while written < budget:
        if n % 200 == 0:
            d += 1; adddir(tf, "usr/lib/pkg%04d" % d)
        sz = 512 + (n * 7919) % 12288          # 0.5 to 12.5 KiB
        off = (n * 4099) % ((1 << 20) - sz)
        add(tf, "usr/lib/pkg%04d/file%06d" % (d, n), rnd[off:off + sz]); written += sz
        if n % 50 == 0:
            ti = tarfile.TarInfo("usr/lib/pkg%04d/link%06d" % (d, n)); ti.type = tarfile.SYMTYPE
            ti.linkname = "file%06d" % n; ti.mtime = mtime; tf.addfile(ti)
        n += 1
    print("%d entries" % n, file=sys.stderr)
PY
ls -l "$work/layer.tar" >&2

now() { date +%s.%N; }
# One untimed round first: the archive into the page cache, the disk's
# earlier work (a previous run's cleanup) out of the way.
"$work/minirun" --data-root "$work/warm" image import "$work/layer.tar" warm:1 >/dev/null
mkdir "$work/warm-tar" && tar -C "$work/warm-tar" --numeric-owner --xattrs -xpf "$work/layer.tar"

minirun_times=() tar_times=()
for i in $(seq 1 "$runs"); do
	sync
	root=$work/data.$i
	t0=$(now)
	"$work/minirun" --data-root "$root" image import "$work/layer.tar" "bench:$i" >/dev/null
	t1=$(now)
	sync
	dir=$work/tar.$i
	mkdir "$dir"
	t2=$(now)
	tar -C "$dir" --numeric-owner --xattrs -xpf "$work/layer.tar"
	t3=$(now)
	m=$(echo "$t1 - $t0" | bc) t=$(echo "$t3 - $t2" | bc)
	minirun_times+=("$m") tar_times+=("$t")
	printf 'run %d: minirun %.2fs  tar %.2fs\n' "$i" "$m" "$t"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mm=$(median "${minirun_times[@]}") mt=$(median "${tar_times[@]}")
ratio=$(echo "scale=3; $mm / $mt" | bc)
printf 'median: minirun %.2fs, tar %.2fs, ratio %.2f (target <= 1.3)\n' "$mm" "$mt" "$ratio"
