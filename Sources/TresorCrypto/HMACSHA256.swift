internal import CLibcrypto

/// HMAC-SHA256 (RFC 2104, vectors from RFC 4231). Tresor's keyed chunk IDs and MACs use it.
public enum HMACSHA256 {
    public static let byteCount = 32

    /// Writes the MAC of `data` under `key` to `out` (32 bytes).
    public static func authenticate(_ data: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer,
                                    into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= byteCount)
        let ok = CLibcrypto_hmac_sha256(
            key.baseAddress ?? UnsafeRawPointer(bitPattern: 1), key.count,
            data.baseAddress ?? UnsafeRawPointer(bitPattern: 1), data.count, out.baseAddress)
        precondition(ok == 1, "HMAC-SHA256 failed inside libcrypto")
    }

    public static func authenticate(_ data: UnsafeRawBufferPointer, key: SymmetricKey) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        key.withUnsafeBytes { k in out.withUnsafeMutableBytes { authenticate(data, key: k, into: $0) } }
        return out
    }

    public static func authenticate(_ data: [UInt8], key: SymmetricKey) -> [UInt8] {
        data.withUnsafeBytes { authenticate($0, key: key) }
    }

    /// Recomputes the MAC and compares it with `mac` in constant time.
    public static func isValid(_ mac: [UInt8], for data: [UInt8], key: SymmetricKey) -> Bool {
        ConstantTime.equals(authenticate(data, key: key), mac)
    }
}
