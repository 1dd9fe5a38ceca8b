#!/usr/bin/env bash
# Prepares what the instant-restore boot test needs, from Debian's own packages, into DIR (default
# .build/boot-kit): the kernel of linux-image-amd64 (vmlinuz) and an initramfs (initrd.gz) whose busybox
# loads the virtio and ext4 modules of that kernel, mounts /dev/vda as the root file system and runs its
# /init. Also leaves busybox (a static binary) for the test's root image. Nothing is installed on the
# system: the packages are downloaded and unpacked. Idempotent: an existing kit is reused.
set -euo pipefail
dir=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.build/boot-kit"}
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.gz" ] && [ -x "$dir/busybox" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir/debs"
cd "$dir/debs"
kernel=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
[ -n "$kernel" ] || { echo "boot-kit: no linux-image-amd64 in the package lists (run apt-get update)" >&2; exit 1; }
# apt-get download writes as the _apt user where it can; a root-owned folder makes it warn, harmlessly.
apt-get download -q "$kernel" busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get download -q "$kernel" busybox-static >/dev/null; }
rm -rf unpacked && mkdir unpacked
for deb in ./*.deb; do dpkg-deb -x "$deb" unpacked; done
cp unpacked/boot/vmlinuz-* "$dir/vmlinuz"
cp unpacked/bin/busybox "$dir/busybox"
modules=$(echo unpacked/lib/modules/*/kernel)

# The initramfs: busybox, the modules in dependency order, and an init that mounts the disk and hands over.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/newroot"
cp "$dir/busybox" "$root/bin/busybox"
order="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev
       drivers/virtio/virtio_pci drivers/block/virtio_blk lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4"
names=""
for module in $order; do
    cp "$modules/$module.ko" "$root/lib/modules/"
    names="$names $(basename "$module")"
done
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in$names; do /bin/busybox insmod /lib/modules/\$m.ko || echo "boot-kit: cannot load \$m"; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 200 ]; do /bin/busybox sleep 0.05; i=\$((i+1)); done
if ! /bin/busybox mount -t ext4 /dev/vda /newroot; then echo "boot-kit: cannot mount /dev/vda"; /bin/busybox poweroff -f; fi
/bin/busybox umount /proc
/bin/busybox mount --move /dev /newroot/dev 2>/dev/null || /bin/busybox umount /dev
exec /bin/busybox switch_root /newroot /init
INIT
chmod 755 "$root/init"
(cd "$root" && find . | "$dir/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$dir/initrd.gz.tmp")
mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
rm -rf "$dir/debs/unpacked"
echo "$dir"
