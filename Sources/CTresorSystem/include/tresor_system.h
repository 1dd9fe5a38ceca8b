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
#endif
