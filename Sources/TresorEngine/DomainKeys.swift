import TresorCore
import TresorCrypto
import TresorKeys

/// Key handling that backup, restore and verify share.
enum DomainKeys {
    /// The ID key's own ID, derived from it so every client of a domain names it alike.
    static func idKeyID(_ idKey: SymmetricKey) -> KeyID {
        KeyID(bytes: Array(HMACSHA256.authenticate(Array("tresor/id-key-id/v1".utf8), key: idKey).prefix(KeyID.byteCount)))
    }

    /// Opens the domain's ID key from its wrap and checks it against the manifest's commitment.
    static func openIDKey(vault: Vault, keys: KeyRing, manifest: ManifestBody) throws -> SymmetricKey {
        let domain = try DomainID(manifest.domainID)
        // The ID key's ID is not in the manifest (it derives from the key); find the wrap by listing.
        // Wraps that open to another key (planted, or from another ID root) are passed over: only the key
        // the signed manifest commits to is accepted.
        let wraps = try vault.store.list(folder: ObjectKey.keysFolder(domain: domain))
        var mismatched: String?
        for objectKey in wraps {
            let record = try KeyWrapRecord.parse(try vault.store.get(objectKey), name: objectKey.path)
            guard record.purpose == .id, keys.openableKEKIDs.contains(record.kekID) else { continue }
            let key = try keys.unwrap(record)
            guard ConstantTime.equals(Array(KeyRing.commitment(of: key).utf8), Array(manifest.idKeyCommitment.utf8)) else {
                mismatched = objectKey.path
                continue
            }
            return key
        }
        if let record = keys.restoredWrap(recoveryPoint: manifest.recoveryPointID, keyID: nil, purpose: .id) {
            let key = try keys.unwrap(record)
            guard ConstantTime.equals(Array(KeyRing.commitment(of: key).utf8), Array(manifest.idKeyCommitment.utf8)) else {
                throw TresorError(.integrity, "the ID key restored into this key store for \(manifest.recoveryPointID) is not the one it was made with")
            }
            return key
        }
        if let mismatched {
            throw TresorError(.integrity, "no ID key wrapped for KEK '\(keys.kekName)' is the one recovery point \(manifest.recoveryPointID) was made with (last tried: \(mismatched))")
        }
        throw TresorError(.unwrapFailed, "no ID key of domain \(domain) is wrapped for KEK '\(keys.kekName)'",
                          action: "use the KEK the backups were made with, or a recovery KEK added to it")
    }

    /// Unwraps every data key a manifest names, checking commitments where the manifest has them.
    static func openDataKeys(vault: Vault, keys: KeyRing, manifest: ManifestBody) throws -> [KeyID: SymmetricKey] {
        let domain = try DomainID(manifest.domainID)
        var out: [KeyID: SymmetricKey] = [:]
        for named in manifest.dataKeys {
            guard let record = try vault.findWrap(domain: domain, keyID: named.id, kekIDs: keys.openableKEKIDs)
                    ?? keys.restoredWrap(recoveryPoint: manifest.recoveryPointID, keyID: named.id, purpose: .data) else {
                throw TresorError(.unwrapFailed, "data key \(named.id) has no wrap for KEK '\(keys.kekName)'",
                                  action: "use the KEK the backup was made with, or a recovery KEK added to it")
            }
            let key = try keys.unwrap(record)
            if let commitment = named.commitment,
               !ConstantTime.equals(Array(KeyRing.commitment(of: key).utf8), Array(commitment.utf8)) {
                throw TresorError(.integrity, "data key \(named.id) is not the key recovery point \(manifest.recoveryPointID) committed to")
            }
            out[named.id] = key
        }
        return out
    }
}
