import TresorCore
public import TresorCrypto

extension KeyStore {
    /// First step of KEK rotation: a new secret (and ID) under the same name, the old one kept as
    /// `rotatingFrom` until every wrap is redone. Resumes an interrupted rotation instead of starting over.
    public func beginRotation(_ name: String, passphrase: borrowing SecretBytes, now: Int64) throws -> (current: UnlockedKEK, retired: UnlockedKEK) {
        let current = try self.unlock(name, passphrase: passphrase)
        if let retired = try self.unlockRetired(current.file, passphrase: passphrase) {
            return (current, retired)
        }
        let secret = try SecretBytes(randomCount: 32)
        let payload = UnlockedKEK.payload(secret: secret, idRoot: current.idRoot, signingSeed: current.signingSeed,
                                          trustedRoots: current.trustedRoots)
        var file = current.file
        guard let oldSealed = file.sealed else { throw TresorError(.writeOnlyClient, "KEK '\(name)' has no secret to rotate") }
        file.rotatingFrom = RetiredKEK(id: file.id, publicKey: file.publicKey, sealed: oldSealed)
        file.id = KeyID(bytes: try SecureRandom.bytes(KeyID.byteCount))
        file.publicKey = file.type == .x25519 ? Hex.encode(try secret.withUnsafeBytes { try X25519.publicKey(privateKey: $0) }) : nil
        file.sealed = try self.reseal(file, payload: payload, passphrase: passphrase)
        file.createdAtMillis = now
        try self.save(file)
        let rotated = try self.unlock(name, passphrase: passphrase)
        guard let retired = try self.unlockRetired(rotated.file, passphrase: passphrase) else {
            throw TresorError(.keyStore, "rotation of KEK '\(name)' did not record the old KEK")
        }
        return (rotated, retired)
    }

    /// Last step of KEK rotation: forget the old KEK once no wrap needs it.
    public func finishRotation(_ name: String) throws {
        var file = try self.load(name)
        file.rotatingFrom = nil
        try self.save(file)
    }

    /// Pins another operator's verify key in this (recovery) key store, sealed with its secrets.
    public func addTrustedRoot(_ root: [UInt8], to kek: UnlockedKEK, passphrase: borrowing SecretBytes) throws {
        guard !kek.roots.contains(root) else { return }
        var file = kek.file
        file.sealed = try self.reseal(file, payload: kek.payload(trustedRoots: kek.trustedRoots + [root]), passphrase: passphrase)
        try self.save(file)
    }
}
