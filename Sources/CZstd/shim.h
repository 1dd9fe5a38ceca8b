// libzstd for Swift. Only TresorCompression imports this module, through `internal import`.
#ifndef TRESOR_CZSTD_SHIM_H
#define TRESOR_CZSTD_SHIM_H
#include <zstd.h>

/// Sets the compression level on a reusable context. Returns 0 on success.
static inline size_t CZstd_setLevel(ZSTD_CCtx *ctx, int level) {
    return ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level);
}

/// Sets the size of the match finder's hash table, as a power of two. Returns 0 on success.
static inline size_t CZstd_setHashLog(ZSTD_CCtx *ctx, int hashLog) {
    return ZSTD_CCtx_setParameter(ctx, ZSTD_c_hashLog, hashLog);
}
#endif
