public import TresorCore
import TresorCrypto
public import TresorKeys

/// Vault-wide key operations: adding a recovery KEK's wraps and rewrapping for KEK rotation. Neither
/// touches a chunk: chunks name data keys, and only the wraps of those keys change.
public enum KeyMaintenance {
    /// Every key wrap in the store made for `kekID`.
    static func wraps(for kekID: KeyID, in vault: Vault) throws -> [(ObjectKey, KeyWrapRecord)] {
        try vault.store.list(folder: ObjectKey.domainsFolder).compactMap { key in
            guard key.path.contains("/keys/"), key.path.hasSuffix("/\(kekID.hex).wrap") else { return nil }
            return (key, try KeyWrapRecord.parse(try vault.store.get(key), name: key.path))
        }
    }

    /// Wraps every key that `keys` can open to the recovery KEK's public half, so that KEK alone can
    /// restore. Returns how many wraps were added.
    public static func addRecoveryWraps(vault: Vault, keys: KeyRing, recovery: RecoveryKEK, now: Int64) throws -> Int {
        guard let publicKey = Hex.decode(recovery.publicKey) else {
            throw TresorError(.keyStore, "recovery KEK '\(recovery.name)' has a malformed public key")
        }
        var added = 0
        for (_, record) in try Self.wraps(for: keys.kekID, in: vault) {
            let domain = try DomainID(record.domainID)
            let target = ObjectKey.keyWrap(domain: domain, keyID: record.keyID, kekID: recovery.id)
            if try vault.store.size(of: target) != nil { continue }
            let key = try keys.unwrap(record)
            let wrap = KeyWrapRecord(domainID: record.domainID, keyID: record.keyID, purpose: record.purpose, kekID: recovery.id,
                                     algorithm: .x25519KWP, wrapped: try SealedKeyBox.seal(key, to: publicKey), createdAtMillis: now)
            try vault.store.put(target, bytes: try JSON.encode(wrap))
            added += 1
        }
        try vault.store.synchronize()
        return added
    }

    public struct RewrapSummary: Codable, Sendable {
        public var rewrapped = 0
        public var deleted = 0
    }

    /// KEK rotation inside the vault: each key wrapped under `oldKEKID` is unwrapped (by the retiring
    /// KEK) and wrapped under the new one; once every new wrap is durable, the old wraps are deleted.
    /// Safe to run again after an interruption.
    public static func rewrap(vault: Vault, keys: KeyRing, oldKEKID: KeyID, now: Int64) throws -> RewrapSummary {
        var summary = RewrapSummary()
        let old = try Self.wraps(for: oldKEKID, in: vault)
        for (_, record) in old {
            let domain = try DomainID(record.domainID)
            let target = ObjectKey.keyWrap(domain: domain, keyID: record.keyID, kekID: keys.kekID)
            if try vault.store.size(of: target) != nil { continue }
            let key = try keys.unwrap(record)
            guard let fresh = try keys.wraps(of: key, keyID: record.keyID, purpose: record.purpose, domain: domain, now: now)
                .first(where: { $0.kekID == keys.kekID })
            else { continue }
            try vault.store.put(target, bytes: try JSON.encode(fresh))
            summary.rewrapped += 1
        }
        try vault.store.synchronize()
        for (key, _) in old {
            try vault.store.delete(key)
            summary.deleted += 1
        }
        try vault.store.synchronize()
        return summary
    }
}
