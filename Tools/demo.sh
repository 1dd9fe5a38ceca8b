#!/usr/bin/env bash
# The short demo: create keys and a vault, back up a generated two-disk VM, change a disk, back up
# again, restore both recovery points and compare them with the sources, verify the vault.
# Usage: Tools/demo.sh [WORKDIR]   (default: a new temporary directory; SIZE=256M to change the disk size)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/Tools/install-deps.sh"
echo "== building (release)" >&2
swift build -c release --package-path "$here" >&2
bin=$(swift build -c release --package-path "$here" --show-bin-path)

work=${1:-$(mktemp -d /tmp/tresor-demo.XXXXXX)}
mkdir -p "$work"
cd "$work"
size=${SIZE:-256M}
# The demo's passphrase; real users set their own or are asked on the terminal.
export TRESOR_PASSPHRASE=${TRESOR_PASSPHRASE:-demo-passphrase-change-me}

step() { printf '\n== %s\n' "$*"; }
step "generate a VM with two disks ($size and 64M) in $work"
"$bin/tresor-diskgen" gen os.img --size "$size" --seed 1
"$bin/tresor-diskgen" gen data.img --size 64M --seed 7
step "create a vault and a passphrase-protected KEK"
"$bin/tresor-vault" init vault --region demo
"$bin/tresor" keys create main --keystore keys --type aes
step "initial backup"
"$bin/tresor" backup --vault vault --vm demo-vm --disk os.img --disk data.img --keystore keys --kek main --json
cp --sparse=always os.img os.first.img
step "change 1% of the OS disk, back up again (only changed chunks are stored)"
"$bin/tresor-diskgen" mutate os.img --percent 1 --seed 2
"$bin/tresor" backup --vault vault --vm demo-vm --disk os.img --disk data.img --keystore keys --kek main --json
step "recovery points"
"$bin/tresor" list --vault vault
first=$("$bin/tresor" list --vault vault --vm demo-vm --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
step "restore the latest OS disk and the whole first recovery point, and compare"
"$bin/tresor-restore" disk --vault vault --vm demo-vm --recovery-point latest --disk 0 --output restored-os.img \
    --keystore keys --kek main
"$bin/tresor-restore" vm --vault vault --vm demo-vm --recovery-point "$first" --output-dir restored-first \
    --keystore keys --kek main
cmp restored-os.img os.img && echo "latest OS disk: identical"
cmp restored-first/disk-0-os.img os.first.img && echo "first OS disk: identical"
cmp restored-first/disk-1-data.img data.img && echo "first data disk: identical"
step "verify the vault, decrypting and re-hashing every chunk"
"$bin/tresor" verify --vault vault --keystore keys --kek main --read-data
step "done: everything is in $work"
