public import TresorCore
import TresorCrypto
public import TresorKeys

/// Vault-wide key operations: adding a recovery KEK's wraps and rewrapping for KEK rotation. Neither
/// touches a chunk: chunks name data keys, and only the wraps of those keys change. Both work on any
/// `KeyWrapStore`, a vault directory or a served vault alike.
public enum KeyMaintenance {
    /// Wraps every key that `keys` can open to the recovery KEK's public half, so that KEK alone can
    /// restore. Returns how many wraps were added.
    public static func addRecoveryWraps(_ wraps: any KeyWrapStore, keys: KeyRing, recovery: RecoveryKEK, now: Int64) throws -> Int {
        guard let publicKey = Hex.decode(recovery.publicKey) else {
            throw TresorError(.keyStore, "recovery KEK '\(recovery.name)' has a malformed public key")
        }
        let present = Set(try wraps.wraps(madeFor: recovery.id).map { WrappedKey($0) })
        var added: [KeyWrapRecord] = []
        for record in try wraps.wraps(madeFor: keys.kekID) where !present.contains(WrappedKey(record)) {
            let key = try keys.unwrap(record)
            added.append(KeyWrapRecord(domainID: record.domainID, keyID: record.keyID, purpose: record.purpose, kekID: recovery.id,
                                       algorithm: .x25519KWP, wrapped: try SealedKeyBox.seal(key, to: publicKey), createdAtMillis: now))
        }
        try wraps.store(added)
        return added.count
    }

    public struct RewrapSummary: Codable, Sendable {
        public var rewrapped = 0
        public var deleted = 0
    }

    /// KEK rotation inside the vault: each key wrapped under `oldKEKID` is unwrapped (by the retiring
    /// KEK) and wrapped under the new one; once every new wrap is durable, the old wraps are deleted.
    /// Safe to run again after an interruption.
    public static func rewrap(_ wraps: any KeyWrapStore, keys: KeyRing, oldKEKID: KeyID, now: Int64) throws -> RewrapSummary {
        var summary = RewrapSummary()
        let present = Set(try wraps.wraps(madeFor: keys.kekID).map { WrappedKey($0) })
        var fresh: [KeyWrapRecord] = []
        for record in try wraps.wraps(madeFor: oldKEKID) where !present.contains(WrappedKey(record)) {
            let key = try keys.unwrap(record)
            guard let wrap = try keys.wraps(of: key, keyID: record.keyID, purpose: record.purpose, domain: try DomainID(record.domainID), now: now)
                .first(where: { $0.kekID == keys.kekID })
            else { continue }
            fresh.append(wrap)
        }
        try wraps.store(fresh)
        summary.rewrapped = fresh.count
        summary.deleted = try wraps.deleteWraps(madeFor: oldKEKID)
        return summary
    }
}

/// A key of a domain, whatever KEK wraps it.
private struct WrappedKey: Hashable {
    let domainID: String
    let keyID: KeyID

    init(_ record: KeyWrapRecord) {
        self.domainID = record.domainID
        self.keyID = record.keyID
    }
}
