#!/usr/bin/env bash
# Tresor against restic and borg on the same synthetic disk image, in one run.
#
#   Tools/bench-vs-restic.sh [-s SIZE] [-w WORKDIR] [-r ROUNDS] [--no-peers] [--no-large] [--keep]
#
# Steps, each timed with /usr/bin/time (wall, CPU, peak RSS), inputs read from the page cache:
#   1. generate SIZE (default 2G) with tresor-diskgen (a third zero, a third ~3:1 text, a third random);
#   2. ROUNDS rounds (default 4) of Tresor (1 MiB chunks) and restic side by side, each round with a fresh
#      vault and repository: initial backup, incremental backup after 1 % of scattered 4-64 KiB writes,
#      full restore (restic leaves its output in the page cache; Tresor is timed with --no-sync, which
#      writes directly and skips only the final fdatasync), and Tresor's default restore, which ends
#      with fdatasync, beside restic's restore followed by `sync --data` of its output. Each step runs
#      for both tools back to back, Tresor first in odd rounds and restic first in even ones: this
#      machine's speed swings by a quarter between minutes, so a ratio is only fair between runs seconds
#      apart, and the medians of the rounds are the headline. Restores run twice for each tool, the
#      second one right after the first one's output was deleted, and the second is the headline. This
#      machine's memory is lent by its host: pages the guest frees are handed back (virtio-balloon free
#      page reporting, after about 2 s), and the first write into them stalls while the host backs them
#      again. A restore that fills 2 GiB of page cache from such memory took 5.2-5.9 s here against 1.4 s
#      a moment after another had freed as much (kernel time 7 s against 0.7 s), and restic's 7.3-7.7 s
#      against 3.5 s; whichever tool happened to restore first paid that. The first restores are
#      reported too. Vaults and repositories stay until the end: on this file system, files created
#      within minutes of deleting many others cost several times as much (README, "Measuring"), and
#      Tresor creates a file per chunk where restic writes 16 MiB packs, so deleting a round's vault
#      would slow the next round's Tresor backups and hardly restic's;
#   3. Tresor's increment at 256 KiB and 4 MiB chunks; borg once; Tresor's peak memory on a 64 GiB
#      sparse disk.
# Figures go to WORKDIR/results.md and WORKDIR/results.json. Images, vaults and repositories (about
# 15 GB at 2G) are removed at the end unless --keep.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size=2G
work=""
rounds=4
peers=1
large=1
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        -s) size=$2; shift 2 ;;
        -w) work=$2; shift 2 ;;
        -r) rounds=$2; shift 2 ;;
        --no-peers) peers=0; shift ;;
        --no-large) large=0; shift ;;
        --keep) keep=1; shift ;;
        *) echo "usage: $0 [-s SIZE] [-w WORKDIR] [-r ROUNDS] [--no-peers] [--no-large] [--keep]" >&2; exit 2 ;;
    esac
done
TRESOR_BENCH_PEERS=$peers "$here/Tools/install-deps.sh"
swift build -c release --package-path "$here" >&2
bin=$(swift build -c release --package-path "$here" --show-bin-path)
work=${work:-$(mktemp -d /tmp/tresor-bench.XXXXXX)}
mkdir -p "$work"
cd "$work"
rm -rf vault-* keys restic-repo* borg-repo restore-* *.json results.md
# About 10 times the image's size is written (every round's vault and restic repository are kept to the
# end, beside the images, borg and the restores). A run that fills the file system fails part-way with its
# figures lost, so it does not start without room.
image_bytes=$(numfmt --from=iec "$size" 2>/dev/null || numfmt --from=iec-i "$size" 2>/dev/null || echo 0)
need=$((image_bytes * 10)); free=$(df --output=avail -B1 . | tail -n 1)
[ "$free" -ge "$need" ] || { echo "needs about $((need >> 30)) GiB free in $work; $((free >> 30)) GiB are" >&2; exit 1; }
# The change cache lives with the run, so every run starts without one.
export TRESOR_CACHE_DIR="$work/cache"
rm -rf "$TRESOR_CACHE_DIR"
export TRESOR_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase BORG_PASSPHRASE=bench-passphrase
results="$work/results.json"
echo "{" > "$results"

# measure NAME CMD...: runs CMD, records wall seconds, user+sys CPU seconds and peak RSS (KiB).
measure() {
    local name=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/.time" "$@" > "$work/$name.out" 2> "$work/$name.err" || {
        echo "$name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
    read -r wall user sys rss < "$work/.time"
    printf '  "%s": {"wall": %s, "cpu": %s, "rssKiB": %s},\n' "$name" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$rss" >> "$results"
}

echo "== generating $size image" >&2
"$bin/tresor-diskgen" gen base.img --size "$size" --seed 1 >&2
cp --sparse=always base.img mutated.img
"$bin/tresor-diskgen" mutate mutated.img --percent 1 --seed 2 | tee mutate.txt >&2
bytes=$(stat -c %s base.img)
printf '  "imageBytes": %s,\n' "$bytes" >> "$results"

use() { rm -f disk.img; cp --reflink=auto --sparse=always "$1" disk.img; sync -f disk.img 2>/dev/null || true; cat disk.img > /dev/null; }

"$bin/tresor" keys create main --keystore keys >/dev/null

# tresor_step STEP LABEL CHUNK SUFFIX: one step (initial, incremental, restore) into or from vault-LABEL
# (vault-LABEL-R in round R); SUFFIX ("#R" for round R, or empty) ends the names in results.json.
tresor_step() {
    local step=$1 label=$2 chunk=$3 suffix=$4
    local vault="vault-$label${suffix:+-${suffix#\#}}"
    case $step in
        initial|incremental)
            if [ "$step" = initial ]; then "$bin/tresor-vault" init "$vault" >/dev/null; use base.img; else use mutated.img; fi
            measure "tresor-$label-$step$suffix" "$bin/tresor" backup --vault "$vault" --vm bench --disk disk.img --keystore keys --kek main --chunk-size "$chunk" --json
            printf '  "tresor-%s-stored-%s%s": %s,\n' "$label" "${step/incremental/after}" "$suffix" "$(du -sb "$vault/store" | cut -f1)" >> "$results"
            ;;
        restore)
            # Timed as restic's restore is, without a final fdatasync (--no-sync), twice (see "Restores
            # run twice" above). Then once ending with fdatasync (the default), reported beside them.
            rm -f restore-tresor.img
            measure "tresor-$label-restore-first$suffix" "$bin/tresor-restore" disk --vault "$vault" --vm bench --disk 0 --output restore-tresor.img --keystore keys --kek main --json --no-sync
            cmp restore-tresor.img mutated.img >&2
            rm -f restore-tresor.img
            measure "tresor-$label-restore$suffix" "$bin/tresor-restore" disk --vault "$vault" --vm bench --disk 0 --output restore-tresor.img --keystore keys --kek main --json --no-sync
            cmp restore-tresor.img mutated.img >&2
            rm -f restore-tresor.img
            sync
            measure "tresor-$label-restore-synced$suffix" "$bin/tresor-restore" disk --vault "$vault" --vm bench --disk 0 --output restore-tresor.img --keystore keys --kek main --json
            cmp restore-tresor.img mutated.img >&2
            rm -f restore-tresor.img
            ;;
    esac
}

# restic_step STEP SUFFIX: the same step with restic (compression auto), a repository per round.
restic_step() {
    local step=$1 suffix=$2
    local repo="restic-repo${suffix:+-${suffix#\#}}"
    case $step in
        initial)
            restic init --repo "$repo" >/dev/null 2>&1
            use base.img
            measure "restic-initial$suffix" restic backup --repo "$repo" disk.img
            printf '  "restic-stored-initial%s": %s,\n' "$suffix" "$(du -sb "$repo" | cut -f1)" >> "$results"
            ;;
        incremental)
            use mutated.img
            measure "restic-incremental$suffix" restic backup --repo "$repo" disk.img
            printf '  "restic-stored-after%s": %s,\n' "$suffix" "$(du -sb "$repo" | cut -f1)" >> "$results"
            ;;
        restore)
            rm -rf restore-restic
            measure "restic-restore-first$suffix" restic restore latest --repo "$repo" --target restore-restic
            rm -rf restore-restic
            measure "restic-restore$suffix" restic restore latest --repo "$repo" --target restore-restic
            # Its output on disk, as Tresor's default restore ends: fdatasync of the restored file.
            measure "restic-restore-flush$suffix" sync --data "$(find restore-restic -type f -name disk.img | head -n 1)"
            rm -rf restore-restic
            ;;
    esac
}

for r in $(seq "$rounds"); do
    # Each round's initial backup starts without a change cache, as the first round's does.
    rm -rf "$TRESOR_CACHE_DIR"
    echo "== round $r of $rounds: Tresor (1 MiB chunks)$([ "$peers" = 1 ] && echo " and restic")" >&2
    for step in initial incremental restore; do
        if [ "$peers" = 0 ]; then
            tresor_step "$step" 1m 1MiB "#$r"
        elif [ $((r % 2)) = 1 ]; then
            tresor_step "$step" 1m 1MiB "#$r"; restic_step "$step" "#$r"
        else
            restic_step "$step" "#$r"; tresor_step "$step" 1m 1MiB "#$r"
        fi
    done
done

echo "== Tresor, 256 KiB and 4 MiB chunks" >&2
for chunk in 256KiB:256k 4MiB:4m; do
    rm -rf "$TRESOR_CACHE_DIR"
    tresor_step initial "${chunk#*:}" "${chunk%:*}" ""
    tresor_step incremental "${chunk#*:}" "${chunk%:*}" ""
done

if [ "$peers" = 1 ]; then
    echo "== borg (zstd,3, repokey-blake2)" >&2
    borg init --encryption=repokey-blake2 borg-repo >/dev/null 2>&1
    use base.img
    measure borg-initial borg create --compression zstd,3 borg-repo::initial disk.img
    printf '  "borg-stored-initial": %s,\n' "$(du -sb borg-repo | cut -f1)" >> "$results"
    use mutated.img
    measure borg-incremental borg create --compression zstd,3 borg-repo::incremental disk.img
    printf '  "borg-stored-after": %s,\n' "$(du -sb borg-repo | cut -f1)" >> "$results"
    rm -rf restore-borg && mkdir restore-borg
    # borg extract writes into the current folder; measure writes its records by absolute path.
    (cd restore-borg && measure borg-restore borg extract ../borg-repo::incremental)
    rm -rf restore-borg borg-repo
fi

if [ "$large" = 1 ]; then
    echo "== Tresor peak memory: 2 GiB vs 64 GiB sparse disk" >&2
    rm -f large.img && cp --sparse=always base.img large.img && truncate -s 64G large.img
    "$bin/tresor-vault" init vault-large >/dev/null
    measure tresor-64g-sparse-initial "$bin/tresor" backup --vault vault-large --vm large --disk large.img --keystore keys --kek main --json
    rm -f large.img
fi
printf '  "end": true\n}\n' >> "$results"
python3 "$here/Tools/bench-summary.py" "$work" | tee "$work/results.md"
if [ "$keep" = 0 ]; then
    rm -rf "$work"/*.img "$work"/vault-* "$work"/cache "$work"/restic-repo* "$work"/borg-repo "$work"/restore-* "$work"/keys
fi
