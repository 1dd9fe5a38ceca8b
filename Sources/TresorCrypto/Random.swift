internal import CLibcrypto

/// Bytes from OpenSSL's CSPRNG (RAND_bytes), for nonces, salts and key material.
public enum SecureRandom {
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        guard buffer.count == 0 || CLibcrypto_random(buffer.baseAddress, buffer.count) == 1 else {
            throw CryptoError(.libraryFailure, operation: "random")
        }
    }

    public static func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { p in try fill(p) }
        return out
    }
}
