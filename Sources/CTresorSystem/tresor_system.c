#define _GNU_SOURCE
#include "tresor_system.h"
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <fcntl.h>
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

int tresor_open_direct(const char *path, int flags, int mode) { return open(path, flags | O_DIRECT, mode); }

int tresor_set_direct(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT));
}

int64_t tresor_pread_cached(int fd, void *buffer, uint64_t length, int64_t offset) {
    struct iovec vector = {buffer, (size_t)length};
    return (int64_t)preadv2(fd, &vector, 1, (off_t)offset, RWF_NOWAIT);
}
