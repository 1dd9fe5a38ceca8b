#define _GNU_SOURCE
#include "tresor_system.h"
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <string.h>
#include <spawn.h>
#include <stdlib.h>
#include <errno.h>
#include <linux/fiemap.h>

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

/* CRC-32C: the reflected polynomial 0x82F63B78. The table-driven path serves processors without SSE4.2. */
static uint32_t crc32c_table[256];

static void crc32c_fill_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *p, uint64_t length) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32c_fill_table);
    while (length--) crc = crc32c_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
/* The crc32 instruction takes 3 cycles and can start one per cycle, so one dependent chain runs at a third
 * of the processor's speed. Inputs of 3 KiB and more are cut into three streams of CRC32C_STRIDE bytes checksummed at
 * once; the first two results are then moved past the bytes that follow them (a linear map on the
 * register, tabulated per byte of the register) and folded in. An upload's transport checksum covers
 * every byte twice, once on each side, so this is worth its tables. */
#define CRC32C_STRIDE 1024

/* crc32c_skip[k][v]: the register v << 8k after CRC32C_STRIDE zero bytes. */
static uint32_t crc32c_skip[4][256];

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42_serial(uint32_t crc, const uint8_t *p, uint64_t length) {
    uint64_t c = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

__attribute__((target("sse4.2")))
static void crc32c_fill_skip(void) {
    static const uint8_t zeros[CRC32C_STRIDE];
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) crc32c_skip[k][v] = crc32c_sse42_serial(v << (8 * k), zeros, CRC32C_STRIDE);
}

static inline uint32_t crc32c_skip_stride(uint32_t crc) {
    return crc32c_skip[0][crc & 0xFF] ^ crc32c_skip[1][(crc >> 8) & 0xFF] ^ crc32c_skip[2][(crc >> 16) & 0xFF] ^
           crc32c_skip[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, uint64_t length) {
    if (length >= 3 * CRC32C_STRIDE) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, crc32c_fill_skip);
        uint64_t c0 = crc;
        while (length >= 3 * CRC32C_STRIDE) {
            uint64_t c1 = 0, c2 = 0;
            for (const uint8_t *end = p + CRC32C_STRIDE; p < end; p += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p, 8);
                memcpy(&w1, p + CRC32C_STRIDE, 8);
                memcpy(&w2, p + 2 * CRC32C_STRIDE, 8);
                c0 = __builtin_ia32_crc32di(c0, w0);
                c1 = __builtin_ia32_crc32di(c1, w1);
                c2 = __builtin_ia32_crc32di(c2, w2);
            }
            /* The register is linear in its start and the data: A then B = A's register moved past B, xor B from 0. */
            c0 = crc32c_skip_stride((uint32_t)c0) ^ (uint32_t)c1;
            c0 = crc32c_skip_stride((uint32_t)c0) ^ (uint32_t)c2;
            p += 2 * CRC32C_STRIDE;
            length -= 3 * CRC32C_STRIDE;
        }
        crc = (uint32_t)c0;
    }
    return crc32c_sse42_serial(crc, p, length);
}
#endif

uint32_t tresor_crc32c(uint32_t crc, const void *data, uint64_t length) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_sse42(crc, (const uint8_t *)data, length);
#endif
    return ~crc32c_software(crc, (const uint8_t *)data, length);
}

int tresor_reflink_clone(int dst_fd, int src_fd) { return ioctl(dst_fd, FICLONE, src_fd); }

int tresor_fs_freeze(int fd) { return ioctl(fd, FIFREEZE, 0); }

int tresor_fs_thaw(int fd) { return ioctl(fd, FITHAW, 0); }

short tresor_posix_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int tresor_file_extents(int fd, uint64_t start, struct tresor_extent *out, uint32_t max) {
    size_t size = sizeof(struct fiemap) + (size_t)max * sizeof(struct fiemap_extent);
    struct fiemap *map = calloc(1, size);
    if (map == NULL) { errno = ENOMEM; return -1; }
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_flags = FIEMAP_FLAG_SYNC;
    map->fm_extent_count = max;
    if (ioctl(fd, FS_IOC_FIEMAP, map) != 0) {
        int saved = errno;
        free(map);
        errno = saved;
        return -1;
    }
    uint32_t count = map->fm_mapped_extents;
    for (uint32_t i = 0; i < count; i++) {
        out[i].logical = map->fm_extents[i].fe_logical;
        out[i].physical = map->fm_extents[i].fe_physical;
        out[i].length = map->fm_extents[i].fe_length;
        out[i].flags = map->fm_extents[i].fe_flags;
    }
    free(map);
    return (int)count;
}

uint32_t tresor_extent_flag_last(void) { return FIEMAP_EXTENT_LAST; }

uint32_t tresor_extent_flags_unsettled(void) {
    return FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE
         | FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_ENCRYPTED;
}

int tresor_lock_whole_file(int fd) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0;
    return fcntl(fd, F_OFD_SETLK, &lock) == 0 ? 0 : errno;
}

int64_t tresor_seek_hole(int fd, int64_t offset) { return (int64_t)lseek(fd, (off_t)offset, SEEK_HOLE); }

int64_t tresor_copy_range(int in_fd, int out_fd, int64_t offset, uint64_t length) {
    loff_t from = (loff_t)offset, to = (loff_t)offset;
    return (int64_t)copy_file_range(in_fd, &from, out_fd, &to, (size_t)length, 0);
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("clflushopt")))
static void flush_lines_opt(const char *start, const char *end) {
    for (const char *line = start; line < end; line += 64) _mm_clflushopt((void *)line);
    _mm_sfence();
}
static void flush_lines(const char *start, const char *end) {
    for (const char *line = start; line < end; line += 64) _mm_clflush(line);
    _mm_mfence();
}
#endif

void tresor_flush_cache_lines(const void *address, uint64_t length) {
#if defined(__x86_64__)
    const char *start = (const char *)((uintptr_t)address & ~(uintptr_t)63);
    const char *end = (const char *)address + length;
    if (__builtin_cpu_supports("clflushopt")) flush_lines_opt(start, end); else flush_lines(start, end);
#else
    (void)address;
    (void)length;
#endif
}
