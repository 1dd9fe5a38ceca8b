internal import CLibcrypto

/// Ed25519 signatures (RFC 8032). Each backup client signs its recovery points with its own key; the
/// operator's key store pins the verify key.
public enum Ed25519 {
    public static let seedByteCount = 32
    public static let publicKeyByteCount = 32
    public static let signatureByteCount = 64

    public static func publicKey(seed: borrowing SecretBytes) throws -> [UInt8] {
        guard seed.count == seedByteCount else { throw CryptoError(.invalidLength, operation: "Ed25519 public key") }
        var out = [UInt8](repeating: 0, count: publicKeyByteCount)
        let ok = seed.withUnsafeBytes { s in out.withUnsafeMutableBytes { CLibcrypto_ed25519_public(s.baseAddress, $0.baseAddress) } }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            throw CryptoError(.libraryFailure, operation: "Ed25519 public key")
        }
        return out
    }

    public static func sign(_ message: [UInt8], seed: borrowing SecretBytes) throws -> [UInt8] {
        guard seed.count == seedByteCount else { throw CryptoError(.invalidLength, operation: "Ed25519 sign") }
        var out = [UInt8](repeating: 0, count: signatureByteCount)
        let ok = seed.withUnsafeBytes { s in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes {
                    CLibcrypto_ed25519_sign(s.baseAddress, m.baseAddress ?? UnsafeRawPointer(bitPattern: 1), m.count, $0.baseAddress)
                }
            }
        }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            throw CryptoError(.libraryFailure, operation: "Ed25519 sign")
        }
        return out
    }

    public static func isValid(signature: [UInt8], for message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureByteCount, publicKey.count == publicKeyByteCount else { return false }
        let ok = publicKey.withUnsafeBytes { p in
            message.withUnsafeBytes { m in
                signature.withUnsafeBytes { s in
                    CLibcrypto_ed25519_verify(p.baseAddress, m.baseAddress ?? UnsafeRawPointer(bitPattern: 1), m.count, s.baseAddress)
                }
            }
        }
        CLibcrypto_clear_errors()
        return ok == 1
    }
}
