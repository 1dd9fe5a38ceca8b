internal import CLibcrypto

/// Poly1305 (RFC 8439 §2.5), a one-time authenticator: each 32-byte key may authenticate one message
/// whose tag anyone may see. Tresor's change cache (Keys/README.md, "Change cache") uses it because it
/// runs several times faster than HMAC-SHA256 here, under a fresh key per chunk position and content.
public enum Poly1305 {
    public static let keyByteCount = 32
    public static let tagByteCount = 16

    /// Writes the tag of `data` under `oneTimeKey` (32 bytes) to `out` (16 bytes).
    public static func authenticate(_ data: UnsafeRawBufferPointer, oneTimeKey: UnsafeRawBufferPointer,
                                    into out: UnsafeMutableRawBufferPointer) {
        precondition(oneTimeKey.count == keyByteCount && out.count >= tagByteCount)
        let ok = CLibcrypto_poly1305(oneTimeKey.baseAddress, data.baseAddress ?? UnsafeRawPointer(bitPattern: 1), data.count,
                                     out.baseAddress)
        precondition(ok == 1, "Poly1305 failed inside libcrypto")
    }

    /// Tags `data` under a one-time key that `deriveKey` writes into a scratch buffer, wiped before returning.
    public static func authenticate(_ data: UnsafeRawBufferPointer, keyFrom deriveKey: (UnsafeMutableRawBufferPointer) -> Void,
                                    into out: UnsafeMutableRawBufferPointer) {
        withUnsafeTemporaryAllocation(byteCount: keyByteCount, alignment: 16) { key in
            deriveKey(key)
            authenticate(data, oneTimeKey: UnsafeRawBufferPointer(key), into: out)
            CLibcrypto_cleanse(key.baseAddress, key.count)
        }
    }
}
