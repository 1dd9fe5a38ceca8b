#!/usr/bin/env bash
# Incremental backups with change detection from the snapshot tier, against Tresor without it and restic,
# on one disk image kept on a loop-mounted XFS (root needed for the mount), in one run.
#
#   Tools/bench-snapshot.sh [-s SIZE] [-w WORKDIR] [--no-peers]
#
# Steps, each timed with /usr/bin/time (wall, CPU, peak RSS), each from a cold page cache (as a VM's disk is
# to its host: QEMU's cache=none), since the snapshot copy is another inode than the disk just written:
#   1. an XFS file system (sparse image, reflink on) mounted at WORKDIR/xfs, SIZE (default 2G) generated in it;
#   2. initial backups: Tresor with --snapshot-directory (the tier on that XFS), Tresor without, restic;
#   3. 1 % of the disk rewritten in place (4-64 KiB scattered writes), as a running VM would;
#   4. the incremental backups again, then a restore of the snapshot-based point, compared with the disk.
# Figures go to WORKDIR/snapshot-results.md. Everything is unmounted and removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size=2G
work=""
peers=1
while [ $# -gt 0 ]; do
    case "$1" in
        -s) size=$2; shift 2 ;;
        -w) work=$2; shift 2 ;;
        --no-peers) peers=0; shift ;;
        *) echo "usage: $0 [-s SIZE] [-w WORKDIR] [--no-peers]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench-snapshot: needs root to loop-mount an XFS" >&2; exit 1; }
TRESOR_BENCH_PEERS=$peers "$here/Tools/install-deps.sh"
swift build -c release --package-path "$here" >&2
bin=$(swift build -c release --package-path "$here" --show-bin-path)
work=${work:-$(mktemp -d /tmp/tresor-snapbench.XXXXXX)}
mkdir -p "$work/xfs"
cd "$work"
export TRESOR_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase
cleanup() { cd /; umount "$work/xfs" 2>/dev/null || true; rm -rf "$work"/xfs.img "$work"/xfs; }
trap cleanup EXIT

bytes=$(numfmt --from=iec "$size")
truncate -s $((bytes * 3 + (1 << 30))) xfs.img
mkfs.xfs -q -f xfs.img
mount -o loop xfs.img xfs
d=xfs
"$bin/tresor-diskgen" gen $d/disk.img --size "$size" --seed 1 >&2
"$bin/tresor" keys create main --keystore $d/keys >/dev/null
for v in snap plain; do "$bin/tresor-vault" init $d/vault-$v >/dev/null; done

rows=""
# measure NAME CMD...: runs CMD and adds a row of wall seconds, CPU seconds, peak RSS and MB/s of the disk.
measure() {
    local name=$1; shift
    sync; echo 3 > /proc/sys/vm/drop_caches
    /usr/bin/time -f "%e %U %S %M" -o .time "$@" > "$name.out" 2> "$name.err" || { echo "$name failed:" >&2; cat "$name.err" >&2; exit 1; }
    read -r wall user sys rss < .time
    rows+="| $name | $wall | $(echo "$user + $sys" | bc) | $((rss / 1024)) | $(echo "scale=0; $bytes / $wall / 1000000" | bc) |"$'\n'
    printf '%s %s\n' "$name" "$wall" >> walls.txt
}
backup=("$bin/tresor" backup --vm bench --host bench --disk $d/disk.img --keystore $d/keys --kek main --json)
rm -f walls.txt
measure tresor-snapshot-initial "${backup[@]}" --vault $d/vault-snap --snapshot-directory $d/tier
measure tresor-plain-initial "${backup[@]}" --vault $d/vault-plain
if [ "$peers" = 1 ]; then
    restic init --repo $d/restic-repo >/dev/null 2>&1
    measure restic-initial restic backup --repo $d/restic-repo $d/disk.img
fi

"$bin/tresor-diskgen" mutate $d/disk.img --percent 1 --seed 2 >&2
sync
measure tresor-snapshot-incremental "${backup[@]}" --vault $d/vault-snap --snapshot-directory $d/tier
measure tresor-plain-incremental "${backup[@]}" --vault $d/vault-plain
[ "$peers" = 1 ] && measure restic-incremental restic backup --repo $d/restic-repo $d/disk.img

point=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["recoveryPoint"])' tresor-snapshot-incremental.out)
"$bin/tresor-restore" disk --vault $d/vault-snap --vm bench --host bench --recovery-point "$point" --disk 0 --output $d/restored.img \
    --keystore $d/keys --kek main >/dev/null
cmp $d/restored.img $d/disk.img && echo "restore of the snapshot-based incremental: identical" >&2

unchanged=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["bytesUnchanged"], r["bytesRead"])' tresor-snapshot-incremental.out)
wall() { awk -v n="$1" '$1 == n { print $2 }' walls.txt; }
ratio() { [ -n "$(wall "$2")" ] && echo "scale=2; $(wall "$2") / $(wall "$1")" | bc || echo "-"; }
{
    echo "Disk: $size on a loop-mounted XFS; incremental after 1 % rewritten in place. MB/s = disk bytes / wall seconds."
    echo
    echo "| step | wall s | CPU s | peak RSS MiB | MB/s |"
    echo "| --- | --- | --- | --- | --- |"
    printf '%s' "$rows"
    echo
    echo "Snapshot-based incremental: bytes known unchanged, bytes read = $unchanged."
    echo "Incremental speed-up with change detection: $(ratio tresor-snapshot-incremental tresor-plain-incremental)x over Tresor without it, $(ratio tresor-snapshot-incremental restic-incremental)x over restic."
} | tee snapshot-results.md
