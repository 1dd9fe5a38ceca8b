// libzstd for Swift. Only TresorCompression imports this module, through `internal import`.
#ifndef TRESOR_CZSTD_SHIM_H
#define TRESOR_CZSTD_SHIM_H
#include <zstd.h>

/// Sets the compression level on a reusable context. Returns 0 on success.
static inline size_t CZstd_setLevel(ZSTD_CCtx *ctx, int level) {
    return ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level);
}
#endif
