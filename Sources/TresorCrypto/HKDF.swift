internal import CLibcrypto

/// HKDF with SHA-256 (RFC 5869): derives independent sub-keys from one secret.
public enum HKDF {
    /// Raw form, for known-answer tests and for inputs that are not keys.
    public static func derive(ikm: UnsafeRawBufferPointer, salt: [UInt8], info: [UInt8],
                              into out: UnsafeMutableRawBufferPointer) throws {
        let one = UnsafeRawPointer(bitPattern: 1)
        let ok = salt.withUnsafeBytes { s in
            info.withUnsafeBytes { i in
                CLibcrypto_hkdf_sha256(ikm.baseAddress ?? one, ikm.count, s.baseAddress ?? one, s.count,
                                       i.baseAddress ?? one, i.count, out.baseAddress, out.count)
            }
        }
        guard ok == 1 else { throw CryptoError(.libraryFailure, operation: "HKDF-SHA256") }
    }

    /// Derives a `count`-byte key from `key` for the purpose named by `info`.
    public static func deriveKey(from key: SymmetricKey, salt: [UInt8] = [], info: String,
                                 count: Int = 32) throws -> SymmetricKey {
        let bytes = try key.withUnsafeBytes { ikm in
            try SecretBytes(count: count) { out in
                try derive(ikm: ikm, salt: salt, info: Array(info.utf8), into: out)
            }
        }
        return SymmetricKey(bytes)
    }
}
