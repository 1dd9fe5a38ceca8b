// Measures what it costs to decompress into a buffer that was just written to a file with direct I/O,
// as a restore worker does with every chunk (docs/performance.md, "Buffers a device has read").
//
//   direct-write-probe IMAGE THREADS MODE [OUTPUT]
//
// IMAGE's 1 MiB chunks that zstd shrinks (level 2, hash log 18, as Tresor stores them) are compressed and
// sealed with AES-256-GCM up front, all-zero ones included. Then THREADS threads take the chunks in turn, as restore workers do:
// decrypt into one buffer, decompress into a second, HMAC-SHA256 the result, and then, by MODE:
//   none    nothing more;
//   direct  write the decompressed buffer to OUTPUT with O_DIRECT;
//   flush   the same, then flush the buffer's cache lines (what Tresor does since).
// Prints the threads' CPU seconds in zstd, the flush and the whole loop. Not part of Tresor: a probe of the
// machine, built and run by Tools/direct-write-probe.sh.
#define _GNU_SOURCE
#include <fcntl.h>
#include <immintrin.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

enum { chunk_size = 1 << 20, max_threads = 64 };
enum mode { mode_none, mode_direct, mode_flush };

static unsigned char **sealed;
static size_t *sealed_length;
static int chunk_count;
static atomic_int next_chunk;
static enum mode mode;
static int output = -1;
static const unsigned char key[32] = {1};
static const unsigned char nonce[12] = {2};
static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static double zstd_seconds, flush_seconds, loop_seconds;

static double thread_cpu(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

__attribute__((target("clflushopt")))
static void flush(const unsigned char *buffer, size_t length) {
    for (size_t line = 0; line < length; line += 64) _mm_clflushopt((void *)(buffer + line));
    _mm_sfence();
}

static void *worker(void *unused) {
    (void)unused;
    unsigned char *scratch = aligned_alloc(4096, chunk_size);
    unsigned char *plain = aligned_alloc(4096, chunk_size);
    // Touched before the clock starts: first touches of fresh memory are a cost of their own here.
    memset(scratch, 0, chunk_size);
    memset(plain, 0, chunk_size);
    ZSTD_DCtx *decompressor = ZSTD_createDCtx();
    EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
    unsigned char tag[32];
    double in_zstd = 0, in_flush = 0, started = thread_cpu();
    for (;;) {
        int index = atomic_fetch_add(&next_chunk, 1);
        if (index >= chunk_count) break;
        int length;
        EVP_DecryptInit_ex(cipher, EVP_aes_256_gcm(), NULL, key, nonce);
        EVP_DecryptUpdate(cipher, scratch, &length, sealed[index], (int)sealed_length[index]);
        double before = thread_cpu();
        size_t written = ZSTD_decompressDCtx(decompressor, plain, chunk_size, scratch, sealed_length[index]);
        in_zstd += thread_cpu() - before;
        if (written != chunk_size) { fprintf(stderr, "chunk %d does not decompress\n", index); exit(1); }
        HMAC(EVP_sha256(), key, sizeof key, plain, chunk_size, tag, NULL);
        if (mode != mode_none && pwrite(output, plain, chunk_size, (off_t)index * chunk_size) != chunk_size) {
            perror("pwrite");
            exit(1);
        }
        if (mode == mode_flush) {
            before = thread_cpu();
            flush(plain, chunk_size);
            in_flush += thread_cpu() - before;
        }
    }
    double in_loop = thread_cpu() - started;
    pthread_mutex_lock(&totals_lock);
    zstd_seconds += in_zstd;
    flush_seconds += in_flush;
    loop_seconds += in_loop;
    pthread_mutex_unlock(&totals_lock);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s IMAGE THREADS none|direct|flush [OUTPUT]\n", argv[0]); return 2; }
    int threads = atoi(argv[2]);
    int known = 1;
    if (strcmp(argv[3], "none") == 0) mode = mode_none;
    else if (strcmp(argv[3], "direct") == 0) mode = mode_direct;
    else if (strcmp(argv[3], "flush") == 0) mode = mode_flush;
    else known = 0;
    if (!known || threads < 1 || threads > max_threads || (mode != mode_none && argc < 5)) {
        fprintf(stderr, "usage: %s IMAGE THREADS none|direct|flush [OUTPUT]\n", argv[0]);
        return 2;
    }
    FILE *image = fopen(argv[1], "rb");
    if (!image) { perror(argv[1]); return 1; }
    fseek(image, 0, SEEK_END);
    int chunks_in_image = (int)(ftell(image) / chunk_size);
    fseek(image, 0, SEEK_SET);
    sealed = calloc(chunks_in_image, sizeof *sealed);
    sealed_length = calloc(chunks_in_image, sizeof *sealed_length);
    unsigned char *chunk = malloc(chunk_size);
    unsigned char *compressed = malloc(ZSTD_compressBound(chunk_size));
    ZSTD_CCtx *compressor = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(compressor, ZSTD_c_compressionLevel, 2);
    ZSTD_CCtx_setParameter(compressor, ZSTD_c_hashLog, 18);
    EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
    for (int i = 0; i < chunks_in_image; i++) {
        if (fread(chunk, 1, chunk_size, image) != chunk_size) break;
        size_t length = ZSTD_compress2(compressor, compressed, ZSTD_compressBound(chunk_size), chunk, chunk_size);
        // Chunks zstd does not shrink are stored raw, never decompressed. All-zero chunks are kept, though
        // a restore skips them: zstd writes their megabyte in runs, as it writes the zero and repeated
        // runs inside a restore's chunks, and they make the effect show in every run rather than most.
        if (ZSTD_isError(length) || length >= chunk_size) continue;
        int sealed_bytes;
        sealed[chunk_count] = malloc(length);
        EVP_EncryptInit_ex(cipher, EVP_aes_256_gcm(), NULL, key, nonce);
        EVP_EncryptUpdate(cipher, sealed[chunk_count], &sealed_bytes, compressed, (int)length);
        sealed_length[chunk_count++] = length;
    }
    fclose(image);
    if (mode != mode_none) {
        output = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
        if (output < 0 || ftruncate(output, (off_t)chunk_count * chunk_size) != 0) { perror(argv[4]); return 1; }
    }
    pthread_t pool[max_threads];
    for (int t = 0; t < threads; t++) pthread_create(&pool[t], NULL, worker, NULL);
    for (int t = 0; t < threads; t++) pthread_join(pool[t], NULL);
    if (output >= 0) close(output);
    printf("%s chunks %d threads %d zstd %.3f flush %.3f loop %.3f\n", argv[3], chunk_count, threads,
           zstd_seconds, flush_seconds, loop_seconds);
    return 0;
}
