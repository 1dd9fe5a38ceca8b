internal import CLibcrypto

/// SHA-256 (FIPS 180-4) through libcrypto.
public enum SHA256 {
    public static let byteCount = 32

    /// Writes the digest of `data` to `out`, which must hold 32 bytes.
    public static func hash(_ data: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= byteCount)
        // EVP_Digest with SHA-256 fails only when the library cannot allocate; there is nothing to recover.
        let ok = CLibcrypto_sha256(data.baseAddress ?? UnsafeRawPointer(bitPattern: 1), data.count, out.baseAddress)
        precondition(ok == 1, "SHA-256 failed inside libcrypto")
    }

    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        out.withUnsafeMutableBytes { hash(data, into: $0) }
        return out
    }

    public static func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash($0) }
    }
}

/// Incremental SHA-256 for data that arrives in parts. Not `Sendable`: one owner at a time.
public final class SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        guard let context = CLibcrypto_sha256_new() else { fatalError("SHA-256 context allocation failed") }
        self.context = context
    }

    public func update(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        precondition(CLibcrypto_sha256_update(self.context, data.baseAddress, data.count) == 1)
    }

    public func update(_ data: [UInt8]) {
        data.withUnsafeBytes { self.update($0) }
    }

    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.byteCount)
        out.withUnsafeMutableBytes { precondition(CLibcrypto_sha256_final(self.context, $0.baseAddress) == 1) }
        return out
    }

    deinit { EVP_MD_CTX_free(self.context) }
}
