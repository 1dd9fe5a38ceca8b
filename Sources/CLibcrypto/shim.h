// Helpers over OpenSSL 3 libcrypto for Swift: `void *` signatures (Swift raw pointers bind to them
// without rebinding) and the OSSL_PARAM set-up that is awkward from Swift. Only TresorCrypto imports
// this module, and only through `internal import`, so no C type reaches Tresor's API.
#ifndef TRESOR_CLIBCRYPTO_SHIM_H
#define TRESOR_CLIBCRYPTO_SHIM_H

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

/// Fills `out` with `len` bytes from OpenSSL's CSPRNG. Returns 1 on success.
static inline int CLibcrypto_random(void *out, size_t len) {
    if (len > 0x7fffffff) return 0;
    return RAND_bytes((unsigned char *)out, (int)len);
}

/// Wipes `len` bytes at `p` so the compiler cannot elide it.
static inline void CLibcrypto_cleanse(void *p, size_t len) { OPENSSL_cleanse(p, len); }

/// Constant-time comparison: 0 when equal.
static inline int CLibcrypto_memcmp(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len); }

/// SHA-256 of `len` bytes into `out` (32 bytes). Returns 1 on success.
static inline int CLibcrypto_sha256(const void *data, size_t len, void *out) {
    unsigned int outLen = 0;
    return EVP_Digest(data, len, (unsigned char *)out, &outLen, EVP_sha256(), NULL);
}

/// Streaming SHA-256, for hashing a file or a manifest in parts.
static inline EVP_MD_CTX *CLibcrypto_sha256_new(void) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return NULL;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) { EVP_MD_CTX_free(ctx); return NULL; }
    return ctx;
}
static inline int CLibcrypto_sha256_update(EVP_MD_CTX *ctx, const void *data, size_t len) {
    return EVP_DigestUpdate(ctx, data, len);
}
static inline int CLibcrypto_sha256_final(EVP_MD_CTX *ctx, void *out) {
    unsigned int outLen = 0;
    return EVP_DigestFinal_ex(ctx, (unsigned char *)out, &outLen);
}

/// HMAC-SHA256 of `len` bytes under `key` into `out` (32 bytes). Returns 1 on success.
static inline int CLibcrypto_hmac_sha256(const void *key, size_t keyLen, const void *data, size_t len, void *out) {
    unsigned int outLen = 0;
    if (keyLen > 0x7fffffff) return 0;
    return HMAC(EVP_sha256(), key, (int)keyLen, (const unsigned char *)data, len, (unsigned char *)out, &outLen)
        != NULL && outLen == 32;
}

/// Poly1305 (RFC 8439) of `len` bytes under a one-time 32-byte key into `out` (16 bytes). Returns 1 on success.
static inline int CLibcrypto_poly1305(const void *key, const void *data, size_t len, void *out) {
    size_t outLen = 0;
    return EVP_Q_mac(NULL, "POLY1305", NULL, NULL, NULL, (const unsigned char *)key, 32,
                     (const unsigned char *)data, len, (unsigned char *)out, 16, &outLen) != NULL && outLen == 16;
}

/// A Poly1305 context reused for many one-time keys (fetching the algorithm per tag costs as much as
/// tagging 4 KiB).
static inline EVP_MAC_CTX *CLibcrypto_poly1305_new(void) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    if (mac == NULL) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    return ctx;
}
static inline void CLibcrypto_poly1305_free(EVP_MAC_CTX *ctx) { EVP_MAC_CTX_free(ctx); }

/// Block tags (docs/formats.md, "Change cache"): `data` cut into `blockSize` blocks (the last may be short);
/// block j's one-time Poly1305 key is bytes 32j..32j+31 of the AES-256-CTR keystream under `seed` (32
/// bytes) from a zero counter block, and its tag is the first 8 bytes of Poly1305 over the block, written to
/// `tags` + 8j. The keystream is wiped before returning. Returns 1 on success.
static inline int CLibcrypto_block_tags(EVP_MAC_CTX *mac, const void *seed, const void *data, size_t len, size_t blockSize,
                                        void *tags) {
    size_t blocks = (len + blockSize - 1) / blockSize;
    if (blockSize == 0 || blocks > 1024) return 0;
    unsigned char keys[1024 * 32];
    size_t keyBytes = blocks * 32;
    memset(keys, 0, keyBytes);
    unsigned char iv[16] = {0};
    int ok = 0, outLen = 0;
    EVP_CIPHER_CTX *ctr = EVP_CIPHER_CTX_new();
    if (ctr != NULL && EVP_EncryptInit_ex2(ctr, EVP_aes_256_ctr(), (const unsigned char *)seed, iv, NULL) == 1
        && EVP_EncryptUpdate(ctr, keys, &outLen, keys, (int)keyBytes) == 1 && (size_t)outLen == keyBytes) {
        ok = 1;
        for (size_t j = 0; j < blocks && ok; j++) {
            size_t start = j * blockSize;
            size_t n = len - start < blockSize ? len - start : blockSize;
            unsigned char tag[16];
            size_t tagLen = 0;
            ok = EVP_MAC_init(mac, keys + 32 * j, 32, NULL) == 1
                && EVP_MAC_update(mac, (const unsigned char *)data + start, n) == 1
                && EVP_MAC_final(mac, tag, &tagLen, 16) == 1 && tagLen == 16;
            memcpy((unsigned char *)tags + 8 * j, tag, 8);
        }
    }
    EVP_CIPHER_CTX_free(ctr);
    OPENSSL_cleanse(keys, keyBytes);
    return ok;
}

/// HKDF-SHA256 (RFC 5869, extract then expand). Returns 1 on success.
static inline int CLibcrypto_hkdf_sha256(const void *ikm, size_t ikmLen, const void *salt, size_t saltLen,
                                         const void *info, size_t infoLen, void *out, size_t outLen) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) return 0;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx == NULL) return 0;
    OSSL_PARAM params[5];
    int n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmLen);
    // An empty salt is the RFC's "not provided": HashLen zero bytes, which OpenSSL applies when absent.
    if (saltLen > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltLen);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infoLen);
    params[n] = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(ctx, (unsigned char *)out, outLen, params);
    EVP_KDF_CTX_free(ctx);
    return ok;
}

/// scrypt (RFC 7914). `maxmem` bounds memory; pass 0 for OpenSSL's default. Returns 1 on success.
static inline int CLibcrypto_scrypt(const void *pass, size_t passLen, const void *salt, size_t saltLen,
                                    uint64_t n, uint64_t r, uint64_t p, uint64_t maxmem, void *out, size_t outLen) {
    return EVP_PBE_scrypt((const char *)pass, passLen, (const unsigned char *)salt, saltLen, n, r, p, maxmem,
                          (unsigned char *)out, outLen);
}

/// AES-256-GCM with a 12-byte nonce and a 16-byte tag. `ctx` is reused across calls by one worker.
/// Seal writes `len` bytes of ciphertext to `out` and the tag to `tag`. Returns 1 on success.
static inline int CLibcrypto_aes256gcm_seal(EVP_CIPHER_CTX *ctx, const void *key, const void *nonce,
                                            const void *aad, size_t aadLen, const void *in, size_t len,
                                            void *out, void *tag) {
    int outLen = 0;
    if (len > 0x7fffffff || aadLen > 0x7fffffff) return 0;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) return 0;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, (const unsigned char *)key, (const unsigned char *)nonce) != 1) return 0;
    if (aadLen > 0 && EVP_EncryptUpdate(ctx, NULL, &outLen, (const unsigned char *)aad, (int)aadLen) != 1) return 0;
    if (len > 0 && EVP_EncryptUpdate(ctx, (unsigned char *)out, &outLen, (const unsigned char *)in, (int)len) != 1) return 0;
    if (EVP_EncryptFinal_ex(ctx, (unsigned char *)out + outLen, &outLen) != 1) return 0;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
}

/// Opens what `CLibcrypto_aes256gcm_seal` sealed. Returns 1 only when the tag verifies; the library
/// compares the tag in constant time.
static inline int CLibcrypto_aes256gcm_open(EVP_CIPHER_CTX *ctx, const void *key, const void *nonce,
                                            const void *aad, size_t aadLen, const void *in, size_t len,
                                            const void *tag, void *out) {
    int outLen = 0;
    if (len > 0x7fffffff || aadLen > 0x7fffffff) return 0;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) return 0;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, (const unsigned char *)key, (const unsigned char *)nonce) != 1) return 0;
    if (aadLen > 0 && EVP_DecryptUpdate(ctx, NULL, &outLen, (const unsigned char *)aad, (int)aadLen) != 1) return 0;
    if (len > 0 && EVP_DecryptUpdate(ctx, (unsigned char *)out, &outLen, (const unsigned char *)in, (int)len) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1) return 0;
    return EVP_DecryptFinal_ex(ctx, (unsigned char *)out + outLen, &outLen) == 1;
}

/// AES key wrap with padding (RFC 5649) under a 128-, 192- or 256-bit KEK. `out` must hold
/// `((len + 7) / 8) * 8 + 8` bytes; `*outLen` receives the length written. Returns 1 on success.
static inline const EVP_CIPHER *CLibcrypto_kwp_cipher(size_t kekLen) {
    switch (kekLen) {
    case 16: return EVP_aes_128_wrap_pad();
    case 24: return EVP_aes_192_wrap_pad();
    case 32: return EVP_aes_256_wrap_pad();
    default: return NULL;
    }
}
static inline int CLibcrypto_kwp(int encrypt, const void *kek, size_t kekLen, const void *in, size_t len,
                                 void *out, size_t *outLen) {
    const EVP_CIPHER *cipher = CLibcrypto_kwp_cipher(kekLen);
    if (cipher == NULL || len > 0x7fffffff) return 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return 0;
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int ok = 0, n1 = 0, n2 = 0;
    if (EVP_CipherInit_ex(ctx, cipher, NULL, (const unsigned char *)kek, NULL, encrypt) == 1 &&
        EVP_CipherUpdate(ctx, (unsigned char *)out, &n1, (const unsigned char *)in, (int)len) == 1 &&
        EVP_CipherFinal_ex(ctx, (unsigned char *)out + n1, &n2) == 1) {
        *outLen = (size_t)(n1 + n2);
        ok = 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/// X25519 (RFC 7748): the public key of a 32-byte private key.
static inline int CLibcrypto_x25519_public(const void *priv, void *pub) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, (const unsigned char *)priv, 32);
    if (key == NULL) return 0;
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_public_key(key, (unsigned char *)pub, &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    return ok;
}

/// X25519 shared secret of our private key and a peer's public key. Fails on an all-zero result
/// (a low-order peer key), as RFC 7748 section 6.1 allows.
static inline int CLibcrypto_x25519(const void *priv, const void *peerPub, void *shared) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, (const unsigned char *)priv, 32);
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, (const unsigned char *)peerPub, 32);
    EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    int ok = 0;
    size_t len = 32;
    if (ctx && peer && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
        EVP_PKEY_derive(ctx, (unsigned char *)shared, &len) == 1 && len == 32) {
        ok = 1;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(key);
    return ok;
}

/// Ed25519 (RFC 8032): the public key of a 32-byte seed.
static inline int CLibcrypto_ed25519_public(const void *seed, void *pub) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, (const unsigned char *)seed, 32);
    if (key == NULL) return 0;
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_public_key(key, (unsigned char *)pub, &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    return ok;
}

/// Ed25519 signature (64 bytes) of `len` bytes.
static inline int CLibcrypto_ed25519_sign(const void *seed, const void *msg, size_t len, void *sig) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, (const unsigned char *)seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sigLen = 64;
    int ok = key && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, (unsigned char *)sig, &sigLen, (const unsigned char *)msg, len) == 1 && sigLen == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

/// Ed25519 verification. Returns 1 only for a valid signature.
static inline int CLibcrypto_ed25519_verify(const void *pub, const void *msg, size_t len, const void *sig) {
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, (const unsigned char *)pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, (const unsigned char *)sig, 64, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

/// Drops OpenSSL's thread-local error queue so one failure does not leak into the next call's report.
static inline void CLibcrypto_clear_errors(void) { ERR_clear_error(); }

#endif
