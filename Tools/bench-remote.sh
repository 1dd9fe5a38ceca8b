#!/usr/bin/env bash
# Tresor over HTTP against Tresor on a local directory vault, in one run, on one machine.
#
#   Tools/bench-remote.sh [-s SIZE] [-w WORKDIR] [-n CLIENTS] [--keep]
#
# 1. SIZE image (default 2G, tresor-diskgen): initial backup, 1 % mutation, incremental backup, full restore,
#    each into/from a local vault and through `tresor-vault serve` on loopback (plain HTTP), alternating;
#    then the same three over HTTPS (self-signed P-256 certificate, pinned with --tls-fingerprint).
# 2. CLIENTS (default 20) clients backing up CLIENTS different VMs (256 MiB images) at once against one
#    server, then 2 clients the same way against a fresh server: every backup must succeed; the server's
#    peak RSS (VmHWM) of both runs is reported.
# Figures go to WORKDIR/results.md. Images and vaults are removed at the end unless --keep.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size=2G
work=""
clients=20
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        -s) size=$2; shift 2 ;;
        -w) work=$2; shift 2 ;;
        -n) clients=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "usage: $0 [-s SIZE] [-w WORKDIR] [-n CLIENTS] [--keep]" >&2; exit 2 ;;
    esac
done
TRESOR_BENCH_PEERS=1 "$here/Tools/install-deps.sh"
swift build -c release --package-path "$here" >&2
bin=$(swift build -c release --package-path "$here" --show-bin-path)
work=${work:-$(mktemp -d /tmp/tresor-bench-remote.XXXXXX)}
mkdir -p "$work"
cd "$work"
rm -rf vault-* keys client-* *.img results.md server.* times.txt
export TRESOR_PASSPHRASE=bench-passphrase
# The change cache lives with the run, so every run starts without one.
export TRESOR_CACHE_DIR="$work/cache"
rm -rf "$TRESOR_CACHE_DIR"
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT

# start_server DIR: serves DIR on a free port; sets server_pid and url.
start_server() {
    "$bin/tresor-vault" serve "$1" --listen 127.0.0.1:0 "${@:2}" > server.out 2> server.err &
    server_pid=$!
    for _ in $(seq 100); do grep -q listening server.out 2>/dev/null && break; sleep 0.05; done
    url=$(sed -n 's/^listening on //p' server.out)
    fingerprint=$(sed -n 's/^certificate sha256 //p' server.out)
    [ -n "$url" ] || { echo "server did not start:" >&2; cat server.err >&2; exit 1; }
}
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$server_pid/status"; }

# timed NAME CMD...: wall seconds of CMD (a command or a function of this script) into times.txt.
timed() {
    local name=$1; shift
    local started
    started=$(date +%s.%N)
    "$@" > "$name.out" 2> "$name.err" || { echo "$name failed:" >&2; cat "$name.err" >&2; exit 1; }
    echo "$name $(echo "$(date +%s.%N) - $started" | bc)" >> times.txt
}
# The copy is flushed before it is read, so no backup's syncfs pays for writing the input image.
use() { rm -f disk.img; cp --reflink=auto --sparse=always "$1" disk.img; sync -f disk.img 2>/dev/null || true; cat disk.img > /dev/null; }

echo "== generating $size image" >&2
"$bin/tresor-diskgen" gen base.img --size "$size" --seed 1 >&2
cp --sparse=always base.img mutated.img
"$bin/tresor-diskgen" mutate mutated.img --percent 1 --seed 2 >&2
"$bin/tresor" keys create main --keystore keys >/dev/null
"$bin/tresor-vault" init vault-local >/dev/null
"$bin/tresor-vault" init vault-served >/dev/null
TRESOR_TOKEN=$("$bin/tresor-vault" token create vault-served --role admin)
export TRESOR_TOKEN
start_server vault-served
backup() { "$bin/tresor" backup --vault "$1" --vm bench --disk disk.img --keystore keys --kek main; }

echo "== local and HTTP, alternating" >&2
use base.img;    timed local-initial backup vault-local
use base.img;    timed http-initial backup "$url"
use mutated.img; timed local-incremental backup vault-local
use mutated.img; timed http-incremental backup "$url"
restore() { rm -f restored.img; "$bin/tresor-restore" disk --vault "$1" --vm bench --disk 0 --output restored.img --keystore keys --kek main; }
timed local-restore restore vault-local
cmp restored.img mutated.img
timed http-restore restore "$url"
cmp restored.img mutated.img
rm -f restored.img disk.img
stop_server

echo "== HTTPS" >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.crt -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
"$bin/tresor-vault" init vault-tls >/dev/null
TRESOR_TOKEN=$("$bin/tresor-vault" token create vault-tls --role admin)
start_server vault-tls --tls-cert tls.crt --tls-key tls.key
tls_backup() { "$bin/tresor" backup --vault "$url" --tls-fingerprint "$fingerprint" --vm bench --disk disk.img --keystore keys --kek main; }
tls_restore() {
    rm -f restored.img
    "$bin/tresor-restore" disk --vault "$url" --tls-fingerprint "$fingerprint" --vm bench --disk 0 --output restored.img --keystore keys --kek main
}
use base.img;    timed https-initial tls_backup
use mutated.img; timed https-incremental tls_backup
timed https-restore tls_restore
cmp restored.img mutated.img
rm -f restored.img disk.img
stop_server

# many N: N clients, N VMs of 256 MiB, one fresh server; prints "wall failures peakKiB".
many() {
    local n=$1
    rm -rf "vault-many-$n" && "$bin/tresor-vault" init "vault-many-$n" >/dev/null
    TRESOR_TOKEN=$("$bin/tresor-vault" token create "vault-many-$n" --role backup)
    start_server "vault-many-$n"
    local started failures=0 pids=()
    started=$(date +%s.%N)
    for i in $(seq "$n"); do
        "$bin/tresor" backup --vault "$url" --vm "vm$i" --disk "client-$i.img" --keystore keys --kek main \
            > "client-$i.out" 2> "client-$i.err" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failures=$((failures + 1)); done
    local wall
    wall=$(echo "$(date +%s.%N) - $started" | bc)
    local peak
    peak=$(peak_rss_kib)
    stop_server
    echo "$wall $failures $peak"
}
echo "== $clients clients at once, then 2" >&2
for i in $(seq "$clients"); do "$bin/tresor-diskgen" gen "client-$i.img" --size 256M --seed $((100 + i)) >/dev/null; done
read -r wall_many fail_many peak_many < <(many "$clients")
read -r wall_two fail_two peak_two < <(many 2)

python3 - "$size" "$clients" "$wall_many" "$fail_many" "$peak_many" "$wall_two" "$fail_two" "$peak_two" <<'EOF' | tee results.md
import sys
size, clients, wall_many, fail_many, peak_many, wall_two, fail_two, peak_two = sys.argv[1:]
t = dict(line.split() for line in open("times.txt"))
print(f"Image {size}; wall seconds of the whole command; client and server share the machine's cores.\n")
print("| step | local vault s | HTTP (loopback) s | HTTP as % of local | HTTPS s | HTTPS as % of local | issue's target (HTTP) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for step in ["initial", "incremental", "restore"]:
    local, http, https = float(t[f"local-{step}"]), float(t[f"http-{step}"]), float(t[f"https-{step}"])
    print(f"| {step} | {local:.2f} | {http:.2f} | {100 * local / http:.0f} % | {https:.2f} | {100 * local / https:.0f} % | ≥ 80 % |")
print()
print(f"{clients} clients, {clients} VMs of 256 MiB at once: {int(fail_many)} failed, {float(wall_many):.1f} s, "
      f"server peak RSS {int(peak_many) / 1024:.0f} MiB. 2 clients: {int(fail_two)} failed, {float(wall_two):.1f} s, "
      f"server peak RSS {int(peak_two) / 1024:.0f} MiB ({100 * (int(peak_many) / int(peak_two) - 1):+.0f} %).")
EOF
if [ "$keep" = 0 ]; then rm -rf "$work"/*.img "$work"/vault-* "$work"/cache "$work"/keys "$work"/tls.*; fi
