internal import CLibcrypto

/// Poly1305 (RFC 8439 §2.5), a one-time authenticator: each 32-byte key may authenticate one message
/// whose tag anyone may see. Checked here against the RFC's vectors; the change cache tags its blocks
/// with it through BlockTagger (Keys/README.md, "Change cache").
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
}
