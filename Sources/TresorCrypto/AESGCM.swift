internal import CLibcrypto

/// AES-256-GCM (NIST SP 800-38D) with 96-bit nonces and 128-bit tags.
///
/// A context holds an OpenSSL cipher context that one worker reuses across chunks; it is deliberately
/// not `Sendable`, so the compiler keeps each context on one task.
public final class AESGCM {
    public static let nonceByteCount = 12
    public static let tagByteCount = 16
    public static let keyByteCount = 32

    private let context: OpaquePointer

    public init() {
        guard let context = EVP_CIPHER_CTX_new() else { fatalError("cipher context allocation failed") }
        self.context = context
    }

    deinit { EVP_CIPHER_CTX_free(self.context) }

    /// Encrypts `plaintext` into `ciphertext` (same length) and writes the tag to `tag`.
    public func seal(key: SymmetricKey, nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                     plaintext: UnsafeRawBufferPointer, ciphertext: UnsafeMutableRawBufferPointer,
                     tag: UnsafeMutableRawBufferPointer) throws {
        guard key.count == Self.keyByteCount, nonce.count == Self.nonceByteCount, tag.count == Self.tagByteCount,
              ciphertext.count >= plaintext.count
        else { throw CryptoError(.invalidLength, operation: "AES-256-GCM seal") }
        let one = UnsafeRawPointer(bitPattern: 1)
        let ok = key.withUnsafeBytes { k in
            CLibcrypto_aes256gcm_seal(self.context, k.baseAddress, nonce.baseAddress,
                                      associatedData.baseAddress ?? one, associatedData.count,
                                      plaintext.baseAddress ?? one, plaintext.count,
                                      ciphertext.baseAddress, tag.baseAddress)
        }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            throw CryptoError(.libraryFailure, operation: "AES-256-GCM seal")
        }
    }

    /// Decrypts `ciphertext` into `plaintext` if and only if `tag` verifies over it and the associated data.
    public func open(key: SymmetricKey, nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                     ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
                     plaintext: UnsafeMutableRawBufferPointer) throws {
        guard key.count == Self.keyByteCount, nonce.count == Self.nonceByteCount, tag.count == Self.tagByteCount,
              plaintext.count >= ciphertext.count
        else { throw CryptoError(.invalidLength, operation: "AES-256-GCM open") }
        let one = UnsafeRawPointer(bitPattern: 1)
        let ok = key.withUnsafeBytes { k in
            CLibcrypto_aes256gcm_open(self.context, k.baseAddress, nonce.baseAddress,
                                      associatedData.baseAddress ?? one, associatedData.count,
                                      ciphertext.baseAddress ?? one, ciphertext.count,
                                      tag.baseAddress, plaintext.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1))
        }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            // Whatever was decrypted before the tag failed must not be used.
            if plaintext.count > 0 { CLibcrypto_cleanse(plaintext.baseAddress, plaintext.count) }
            throw CryptoError(.authenticationFailure, operation: "AES-256-GCM open")
        }
    }

    /// Array convenience: returns ciphertext followed by the tag.
    public func seal(key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8], plaintext: [UInt8])
        throws -> [UInt8]
    {
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.tagByteCount)
        try out.withUnsafeMutableBytes { o in
            try nonce.withUnsafeBytes { n in
                try associatedData.withUnsafeBytes { a in
                    try plaintext.withUnsafeBytes { p in
                        try self.seal(key: key, nonce: n, associatedData: a, plaintext: p,
                                      ciphertext: UnsafeMutableRawBufferPointer(rebasing: o[0..<p.count]),
                                      tag: UnsafeMutableRawBufferPointer(rebasing: o[p.count...]))
                    }
                }
            }
        }
        return out
    }

    /// Array convenience: `sealed` is ciphertext followed by the tag.
    public func open(key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8], sealed: [UInt8])
        throws -> [UInt8]
    {
        guard sealed.count >= Self.tagByteCount else { throw CryptoError(.invalidLength, operation: "AES-256-GCM open") }
        let length = sealed.count - Self.tagByteCount
        var out = [UInt8](repeating: 0, count: length)
        try out.withUnsafeMutableBytes { o in
            try nonce.withUnsafeBytes { n in
                try associatedData.withUnsafeBytes { a in
                    try sealed.withUnsafeBytes { s in
                        try self.open(key: key, nonce: n, associatedData: a,
                                      ciphertext: UnsafeRawBufferPointer(rebasing: s[0..<length]),
                                      tag: UnsafeRawBufferPointer(rebasing: s[length...]), plaintext: o)
                    }
                }
            }
        }
        return out
    }
}
