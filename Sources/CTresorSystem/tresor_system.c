#define _GNU_SOURCE
#include "tresor_system.h"
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tresor_syncfs(int fd) { return syncfs(fd); }

int64_t tresor_block_device_size(int fd) {
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) return -1;
    return (int64_t)size;
}

int tresor_block_zero_out(int fd, uint64_t offset, uint64_t length) {
    uint64_t range[2] = {offset, length};
    return ioctl(fd, BLKZEROOUT, range);
}

int64_t tresor_seek_data(int fd, int64_t offset) { return (int64_t)lseek(fd, (off_t)offset, SEEK_DATA); }
