internal import CLibcrypto

/// AES key wrap with padding (RFC 5649). Tresor wraps data keys under symmetric KEKs with it: the
/// wrap is deterministic authenticated encryption, safe because its input is itself a random key.
public enum AESKeyWrap {
    /// Wraps `keyData` under `kek` (16, 24 or 32 bytes; Tresor's KEKs are 32).
    public static func wrap(_ keyData: UnsafeRawBufferPointer, kek: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard keyData.count > 0 else { throw CryptoError(.invalidLength, operation: "AES-KWP wrap") }
        var out = [UInt8](repeating: 0, count: (keyData.count + 7) / 8 * 8 + 16)
        var written = 0
        let ok = out.withUnsafeMutableBytes { o in
            CLibcrypto_kwp(1, kek.baseAddress, kek.count, keyData.baseAddress, keyData.count, o.baseAddress, &written)
        }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            throw CryptoError(.invalidLength, operation: "AES-KWP wrap")
        }
        out.removeSubrange(written...)
        return out
    }

    public static func wrap(_ key: SymmetricKey, kek: SymmetricKey) throws -> [UInt8] {
        try key.withUnsafeBytes { k in
            try kek.withUnsafeBytes { w in try wrap(k, kek: w) }
        }
    }

    /// Unwraps into key material; fails with `.authenticationFailure` when the KEK is wrong or the
    /// wrapped bytes were altered (RFC 5649's integrity check).
    public static func unwrap(_ wrapped: [UInt8], kek: UnsafeRawBufferPointer) throws -> SecretBytes {
        guard wrapped.count >= 16, wrapped.count % 8 == 0 else {
            throw CryptoError(.invalidLength, operation: "AES-KWP unwrap")
        }
        var written = 0
        var scratch = [UInt8](repeating: 0, count: wrapped.count)
        let ok = scratch.withUnsafeMutableBytes { o in
            wrapped.withUnsafeBytes { w in
                CLibcrypto_kwp(0, kek.baseAddress, kek.count, w.baseAddress, w.count, o.baseAddress, &written)
            }
        }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            scratch.withUnsafeMutableBytes { CLibcrypto_cleanse($0.baseAddress, $0.count) }
            throw CryptoError(.authenticationFailure, operation: "AES-KWP unwrap")
        }
        scratch.removeSubrange(written...)
        return SecretBytes(consuming: &scratch)
    }

    public static func unwrap(_ wrapped: [UInt8], kek: SymmetricKey) throws -> SymmetricKey {
        let bytes = try kek.withUnsafeBytes { w in try unwrap(wrapped, kek: w) }
        return SymmetricKey(bytes)
    }
}
