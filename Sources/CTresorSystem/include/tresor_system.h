// Linux calls that Swift's Glibc module does not expose (they need _GNU_SOURCE or are ioctls).
#ifndef TRESOR_SYSTEM_H
#define TRESOR_SYSTEM_H
#include <stdint.h>

/// syncfs(2): flushes the file system holding `fd`. Returns 0 or -1 with errno set.
int tresor_syncfs(int fd);
/// The size in bytes of a block device (BLKGETSIZE64), or -1 with errno set.
int64_t tresor_block_device_size(int fd);
/// Zeroes a byte range of a block device (BLKZEROOUT). Returns 0 or -1 with errno set.
int tresor_block_zero_out(int fd, uint64_t offset, uint64_t length);
/// lseek(fd, offset, SEEK_DATA): the next offset holding data, or -1 with errno (ENXIO: none after offset).
int64_t tresor_seek_data(int fd, int64_t offset);
/// open(2) with O_DIRECT added to `flags`. Returns the descriptor or -1 with errno (EINVAL: the file
/// system does not do direct I/O).
int tresor_open_direct(const char *path, int flags, int mode);
/// Turns O_DIRECT on or off for an open descriptor. Returns 0 or -1 with errno.
int tresor_set_direct(int fd, int on);
/// preadv2(RWF_NOWAIT): reads only what the page cache already holds. Returns the bytes read (possibly
/// fewer than asked), or -1 with errno (EAGAIN: nothing cached at `offset`).
int64_t tresor_pread_cached(int fd, void *buffer, uint64_t length, int64_t offset);
/// CRC-32C (Castagnoli, as iSCSI and S3 use it) of `length` bytes, continuing from `crc` (0 to start).
/// Uses the SSE4.2 instruction where the processor has it. The transport checksum of uploads.
uint32_t tresor_crc32c(uint32_t crc, const void *data, uint64_t length);
/// ioctl(FICLONE): makes `dst_fd` share all of `src_fd`'s extents (a reflink copy, XFS and btrfs).
/// Returns 0 or -1 with errno (EOPNOTSUPP: no reflink here; EXDEV: another file system).
int tresor_reflink_clone(int dst_fd, int src_fd);
/// ioctl(FIFREEZE) / ioctl(FITHAW) on a descriptor of a mounted file system's root or any file in it.
/// Returns 0 or -1 with errno (EBUSY: frozen already; EINVAL: thawing a file system not frozen).
int tresor_fs_freeze(int fd);
int tresor_fs_thaw(int fd);
/// One extent of a file as FIEMAP reports it.
struct tresor_extent {
    uint64_t logical;
    uint64_t physical;
    uint64_t length;
    uint32_t flags;
};
/// ioctl(FS_IOC_FIEMAP) with FIEMAP_FLAG_SYNC: up to `max` extents of `fd` from byte `start` into `out`.
/// Returns how many (0: none after `start`), or -1 with errno (EOPNOTSUPP: the file system cannot).
int tresor_file_extents(int fd, uint64_t start, struct tresor_extent *out, uint32_t max);
/// FIEMAP_EXTENT_* flags the caller needs.
uint32_t tresor_extent_flag_last(void);
/// Extents whose place on disk is not settled (unknown, delayed allocation, encoded, inline data).
uint32_t tresor_extent_flags_unsettled(void);
/// POSIX_SPAWN_SETSID (a glibc extension): the spawned child starts a session of its own.
short tresor_posix_spawn_setsid_flag(void);
#endif

/// Takes an open-file-description write lock over the whole file without waiting: 0, or the errno
/// (EAGAIN/EACCES when another process, e.g. QEMU with its image locks, holds a lock on it).
int tresor_lock_whole_file(int fd);

/// lseek(SEEK_HOLE): the next hole at or after `offset` (the file's end counts as one), or -1.
int64_t tresor_seek_hole(int fd, int64_t offset);

/// copy_file_range(2) from `in_offset` to the same offset of `out_fd`: bytes copied, or -1 with errno.
int64_t tresor_copy_range(int in_fd, int out_fd, int64_t offset, uint64_t length);

/// Writes back and evicts the cache lines of a buffer from every cache of the machine (CLFLUSHOPT, or
/// CLFLUSH where it is missing; nothing on other architectures). See POSIX.flushAfterDirectWrite
/// for why.
void tresor_flush_cache_lines(const void *address, uint64_t length);
