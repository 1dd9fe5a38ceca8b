public import TresorCore

/// Where key maintenance (recovery KEKs, KEK and BEK rotation) reads and writes key wraps: a vault
/// directory in this process, or a served vault through its admin routes. Only wraps pass: the keys
/// inside them are unwrapped and wrapped again by the operator's process alone.
public protocol KeyWrapStore: Sendable {
    /// Every wrap in the vault made for `kekID`.
    func wraps(madeFor kekID: KeyID) throws -> [KeyWrapRecord]
    /// Stores wraps durably (those already there stay as they are). A data key's wrap registers the key
    /// with its domain, so a data key seen for the first time becomes the domain's newest.
    func store(_ wraps: [KeyWrapRecord]) throws
    /// Deletes every wrap made for `kekID`, once each of their keys has a wrap under another KEK;
    /// refuses, deleting nothing, when one would be left without any. Returns how many were deleted.
    func deleteWraps(madeFor kekID: KeyID) throws -> Int
}

/// The key wraps of a vault directory; the vault server answers its admin routes with this too.
public struct VaultKeyWraps: KeyWrapStore {
    let vault: Vault

    public init(vault: Vault) {
        self.vault = vault
    }

    public func wraps(madeFor kekID: KeyID) throws -> [KeyWrapRecord] {
        try self.located(madeFor: kekID).map(\.1)
    }

    private func located(madeFor kekID: KeyID) throws -> [(ObjectKey, KeyWrapRecord)] {
        try self.vault.store.list(folder: ObjectKey.domainsFolder).compactMap { key in
            guard key.path.contains("/keys/"), key.path.hasSuffix("/\(kekID.hex).wrap") else { return nil }
            let record = try KeyWrapRecord.parse(try self.vault.store.get(key), name: key.path)
            guard record.kekID == kekID, key == ObjectKey.keyWrap(domain: try DomainID(record.domainID), keyID: record.keyID, kekID: kekID) else {
                throw TresorError(.corruptObject, "key wrap \(key.path) describes another key")
            }
            return (key, record)
        }
    }

    /// What the vault can check without keys: the domain exists (a domain begins with a backup), and a key
    /// it has never seen is a data key (a rotation's); ID and signing keys only gain wraps.
    public func store(_ wraps: [KeyWrapRecord]) throws {
        for record in wraps {
            let domain = try DomainID(record.domainID)
            let held = (try? self.vault.store.list(folder: ObjectKey.keysFolder(domain: domain))) ?? []
            guard !held.isEmpty else {
                throw TresorError(.invalidArgument, "key domain \(domain) holds no keys; a domain begins with a VM's first backup")
            }
            let prefix = ObjectKey.keysFolder(domain: domain) + "/" + record.keyID.hex + "/"
            guard record.purpose == .data || held.contains(where: { $0.path.hasPrefix(prefix) }) else {
                throw TresorError(.invalidArgument, "key \(record.keyID) is new to domain \(domain) and not a data key; only data keys are added later")
            }
        }
        try self.vault.storeWraps(wraps)
        for record in wraps where record.purpose == .data {
            try self.vault.catalog.registerDataKey(domain: try DomainID(record.domainID), keyID: record.keyID,
                                                   createdAtMillis: record.createdAtMillis)
        }
    }

    public func deleteWraps(madeFor kekID: KeyID) throws -> Int {
        let doomed = try self.located(madeFor: kekID)
        for (_, record) in doomed {
            let domain = try DomainID(record.domainID)
            let folder = ObjectKey.keysFolder(domain: domain) + "/" + record.keyID.hex
            let others = try self.vault.store.list(folder: folder).filter { $0.path.hasSuffix(".wrap") && !$0.path.hasSuffix("/\(kekID.hex).wrap") }
            guard !others.isEmpty else {
                throw TresorError(.lastKeyWrap, "key \(record.keyID) of domain \(domain) has no wrap but the one for KEK \(kekID); deleting it would lose the key",
                                  action: "wrap the key under another KEK first (finish the rotation, or add a recovery KEK)")
            }
        }
        for (key, _) in doomed {
            try self.vault.store.delete(key)
        }
        try self.vault.store.synchronize()
        return doomed.count
    }
}
