public import TresorCore
public import TresorCrypto

/// A KEK whose secrets were unsealed with the passphrase. Key bytes stay in `SecretBytes`, wiped when
/// the last reference goes.
///
/// Sealed layout (Keys/README.md): `kekSecret (32) || idRoot (32) || signingSeed (32) || trusted roots (32 each)`.
public final class UnlockedKEK: Sendable {
    public let file: KEKFile
    /// AES-256 key (aes) or X25519 private key (x25519).
    let secret: SecretBytes
    /// Root of the domain ID keys.
    public let idRoot: SymmetricKey
    let signingSeed: SecretBytes
    /// Operators' verify keys this key store trusts besides its own (a recovery key store's).
    public let trustedRoots: [[UInt8]]
    public let signingPublicKey: [UInt8]

    init(file: KEKFile, payload: borrowing SecretBytes) throws {
        guard payload.count >= 96, (payload.count - 96) % 32 == 0 else {
            throw TresorError(.keyStore, "KEK '\(file.name)' holds a sealed payload of the wrong size")
        }
        self.file = file
        self.secret = payload.withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<32])) }
        self.idRoot = SymmetricKey(payload.withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[32..<64])) })
        self.signingSeed = payload.withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[64..<96])) }
        self.trustedRoots = payload.withUnsafeBytes { p in
            stride(from: 96, to: p.count, by: 32).map { Array(p[$0..<$0 + 32]) }
        }
        self.signingPublicKey = try Ed25519.publicKey(seed: self.signingSeed)
    }

    /// Builds a sealable payload from parts (creation, rotation, adding a trusted root).
    static func payload(secret: borrowing SecretBytes, idRoot: SymmetricKey, signingSeed: borrowing SecretBytes,
                        trustedRoots: [[UInt8]]) -> SecretBytes {
        SecretBytes(count: 96 + 32 * trustedRoots.count) { out in
            secret.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 32) }
            idRoot.withUnsafeBytes { (out.baseAddress! + 32).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            signingSeed.withUnsafeBytes { (out.baseAddress! + 64).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            for (i, root) in trustedRoots.enumerated() {
                root.withUnsafeBytes { (out.baseAddress! + 96 + 32 * i).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            }
        }
    }

    func payload(trustedRoots: [[UInt8]]? = nil) -> SecretBytes {
        Self.payload(secret: self.secret, idRoot: self.idRoot, signingSeed: self.signingSeed,
                     trustedRoots: trustedRoots ?? self.trustedRoots)
    }

    /// Every operator verify key this key store accepts as a root of trust: its own and those added.
    public var roots: [[UInt8]] { [self.signingPublicKey] + self.trustedRoots }

    /// Unwraps a key wrapped under this KEK.
    public func unwrap(_ wrapped: [UInt8], algorithm: KeyWrapRecord.Algorithm) throws -> SymmetricKey {
        switch (self.file.type, algorithm) {
        case (.aes, .aesKWP):
            return try self.secret.withUnsafeBytes { kek in SymmetricKey(try AESKeyWrap.unwrap(wrapped, kek: kek)) }
        case (.x25519, .x25519KWP):
            return try SealedKeyBox.open(wrapped, privateKey: self.secret)
        default:
            throw TresorError(.unwrapFailed, "a \(algorithm.rawValue) wrap cannot be opened by \(self.file.type.rawValue) KEK '\(self.file.name)'")
        }
    }

    /// Wraps a key under this KEK (AES-KWP for aes; to the public half for x25519).
    public func wrap(_ key: SymmetricKey) throws -> ([UInt8], KeyWrapRecord.Algorithm) {
        switch self.file.type {
        case .aes:
            return (try self.secret.withUnsafeBytes { kek in try key.withUnsafeBytes { try AESKeyWrap.wrap($0, kek: kek) } }, .aesKWP)
        case .x25519:
            let publicKey = try self.secret.withUnsafeBytes { try X25519.publicKey(privateKey: $0) }
            return (try SealedKeyBox.seal(key, to: publicKey), .x25519KWP)
        }
    }

    public func sign(_ message: [UInt8]) throws -> [UInt8] { try Ed25519.sign(message, seed: self.signingSeed) }

    /// A certificate by which this operator vouches for a client's verify key.
    public func certify(signer: [UInt8], name: String) throws -> SignerCertificate {
        let message = SignerCertificate.message(signer: signer, issuer: self.signingPublicKey, name: name)
        return SignerCertificate(signer: Hex.encode(signer), issuer: Hex.encode(self.signingPublicKey), name: name,
                                 signature: Base64.encode(try self.sign(message)))
    }
}
