#!/usr/bin/env bash
# Installs the system libraries Tresor links against (OpenSSL libcrypto, libzstd, SQLite) and the
# tools the demo, tests (curl, for raw HTTP; tzdata, for policy time zones; xfsprogs, e2fsprogs and QEMU, for
# the agent's snapshot providers; libnbd-bin, whose nbdinfo and nbdcopy read instant-restore exports; fdisk,
# dosfstools and mtools, which make the guest disks file-level restore is tested on) and benchmark use. Idempotent: installs only what is missing.
set -euo pipefail

need=()
for pkg in libssl-dev libzstd-dev libsqlite3-dev pkg-config python3 curl openssl tzdata \
           xfsprogs e2fsprogs util-linux qemu-system-x86 qemu-utils libnbd-bin fdisk dosfstools mtools; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${TRESOR_BENCH_PEERS:-0}" = "1" ]; then
    for pkg in restic borgbackup zstd time bc; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
