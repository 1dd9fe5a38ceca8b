internal import CLibcrypto

/// X25519 Diffie-Hellman (RFC 7748). Tresor's asymmetric KEKs are X25519 key pairs: a backup client
/// wraps data keys to the public half (see `SealedKeyBox`), and only the private half unwraps them.
public enum X25519 {
    public static let keyByteCount = 32

    public static func publicKey(privateKey: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard privateKey.count == keyByteCount else { throw CryptoError(.invalidLength, operation: "X25519 public key") }
        var out = [UInt8](repeating: 0, count: keyByteCount)
        let ok = out.withUnsafeMutableBytes { CLibcrypto_x25519_public(privateKey.baseAddress, $0.baseAddress) }
        guard ok == 1 else {
            CLibcrypto_clear_errors()
            throw CryptoError(.libraryFailure, operation: "X25519 public key")
        }
        return out
    }

    public static func sharedSecret(privateKey: UnsafeRawBufferPointer, peerPublicKey: [UInt8]) throws -> SecretBytes {
        guard privateKey.count == keyByteCount, peerPublicKey.count == keyByteCount else {
            throw CryptoError(.invalidLength, operation: "X25519")
        }
        return try SecretBytes(count: keyByteCount) { out in
            let ok = peerPublicKey.withUnsafeBytes { CLibcrypto_x25519(privateKey.baseAddress, $0.baseAddress, out.baseAddress) }
            guard ok == 1 else {
                CLibcrypto_clear_errors()
                throw CryptoError(.authenticationFailure, operation: "X25519")
            }
        }
    }
}

/// Wrapping a data key to an X25519 public key: an ephemeral key pair, X25519, HKDF-SHA256 and
/// AES-KWP. The layout is `ephemeralPublic (32) || AES-KWP(wrapKey, dataKey)` where
/// `wrapKey = HKDF-SHA256(ikm: shared, salt: ephemeralPublic || recipientPublic, info: "tresor/x25519-kwp/v1")`.
/// Keys/ documents it; the ephemeral private key is wiped once the wrap exists.
public enum SealedKeyBox {
    static let info = Array("tresor/x25519-kwp/v1".utf8)

    public static func seal(_ key: SymmetricKey, to recipientPublicKey: [UInt8]) throws -> [UInt8] {
        let ephemeral = try SecretBytes(randomCount: X25519.keyByteCount)
        let ephemeralPublic = try ephemeral.withUnsafeBytes { e in try X25519.publicKey(privateKey: e) }
        let shared = try ephemeral.withUnsafeBytes { e in
            try X25519.sharedSecret(privateKey: e, peerPublicKey: recipientPublicKey)
        }
        let wrapKey = try deriveWrapKey(shared: shared, ephemeralPublic: ephemeralPublic, recipientPublic: recipientPublicKey)
        return ephemeralPublic + (try AESKeyWrap.wrap(key, kek: wrapKey))
    }

    public static func open(_ box: [UInt8], privateKey: borrowing SecretBytes) throws -> SymmetricKey {
        guard box.count > X25519.keyByteCount + 16 else { throw CryptoError(.invalidLength, operation: "X25519 unwrap") }
        let ephemeralPublic = Array(box[0..<X25519.keyByteCount])
        let recipientPublic = try privateKey.withUnsafeBytes { p in try X25519.publicKey(privateKey: p) }
        let shared = try privateKey.withUnsafeBytes { p in
            try X25519.sharedSecret(privateKey: p, peerPublicKey: ephemeralPublic)
        }
        let wrapKey = try deriveWrapKey(shared: shared, ephemeralPublic: ephemeralPublic, recipientPublic: recipientPublic)
        return try AESKeyWrap.unwrap(Array(box[X25519.keyByteCount...]), kek: wrapKey)
    }

    private static func deriveWrapKey(shared: borrowing SecretBytes, ephemeralPublic: [UInt8],
                                      recipientPublic: [UInt8]) throws -> SymmetricKey {
        let bytes = try shared.withUnsafeBytes { ikm in
            try SecretBytes(count: 32) { out in
                try HKDF.derive(ikm: ikm, salt: ephemeralPublic + recipientPublic, info: info, into: out)
            }
        }
        return SymmetricKey(bytes)
    }
}
