#!/usr/bin/env bash
# Is decompressing into a buffer just written with direct I/O slower on this machine, and does flushing
# the buffer's cache lines after the write help? (docs/performance.md, "Buffers a device has read").
#
#   Tools/direct-write-probe.sh [-w WORKDIR] [-r ROUNDS] [-t THREADS]
#
# Builds Tools/direct-write-probe.c and runs it ROUNDS times (default 6) in each mode, the modes
# alternating, with THREADS threads (default 14, as a served restore's workers) over the first 2 GiB
# image of tresor-diskgen (seed 1, as the benchmarks use). x86-64 only (CLFLUSHOPT).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=""
rounds=6
threads=14
while [ $# -gt 0 ]; do
    case "$1" in
        -w) work=$2; shift 2 ;;
        -r) rounds=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        *) echo "usage: $0 [-w WORKDIR] [-r ROUNDS] [-t THREADS]" >&2; exit 2 ;;
    esac
done
"$here/Tools/install-deps.sh"
swift build -c release --package-path "$here" --product tresor-diskgen >&2
bin=$(swift build -c release --package-path "$here" --show-bin-path)
work=${work:-$(mktemp -d /tmp/tresor-probe.XXXXXX)}
mkdir -p "$work"
cd "$work"
[ -f base.img ] || "$bin/tresor-diskgen" gen base.img --size 2G --seed 1 >&2
"${CC:-cc}" -O2 -o probe "$here/Tools/direct-write-probe.c" -lzstd -lcrypto -lpthread
rm -f runs.txt
for r in $(seq "$rounds"); do
    for mode in none direct flush; do
        rm -f probe.out
        ./probe base.img "$threads" "$mode" probe.out | tee -a runs.txt
    done
done
rm -f probe.out
python3 - <<'PY'
import statistics
runs = {}
for line in open("runs.txt"):
    fields = line.split()
    runs.setdefault(fields[0], []).append(float(fields[fields.index("zstd") + 1]))
for mode, seconds in runs.items():
    print(f"{mode:7} zstd CPU s: median {statistics.median(seconds):.3f}, runs " + ", ".join(f"{s:.2f}" for s in seconds))
PY
