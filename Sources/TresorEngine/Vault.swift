public import TresorCore
import TresorCrypto

/// A vault as the engine uses it: its identity, object store and catalog, whatever implements them.
public struct Vault: Sendable {
    public let id: String
    public let store: any ObjectStore
    public let catalog: any Catalog

    public init(id: String, store: any ObjectStore, catalog: any Catalog) {
        self.id = id
        self.store = store
        self.catalog = catalog
    }
}

/// A manifest read from the store, with the hash the next recovery point chains to.
public struct LoadedManifest: Sendable {
    public let signed: SignedManifest
    public let bodyBytes: [UInt8]
    public let body: ManifestBody
    public let sha256: String
}

extension Vault {
    public func loadManifest(_ recoveryPointID: String) throws -> LoadedManifest {
        let bytes = try self.store.get(.manifest(recoveryPoint: recoveryPointID))
        let (signed, bodyBytes, body) = try SignedManifest.parse(bytes, name: recoveryPointID)
        return LoadedManifest(signed: signed, bodyBytes: bodyBytes, body: body, sha256: Hex.encode(SHA256.hash(bytes)))
    }

    /// The VM a user named, told apart by host when several share the name.
    public func findVM(name: String, host: String?) throws -> VMRecord {
        let matches = try self.catalog.findVM(name: name, host: host)
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty {
            throw TresorError(.notFound, "the vault has no VM named '\(name)'\(host.map { " on host \($0)" } ?? "")",
                              action: "list VMs with 'tresor list'")
        }
        throw TresorError(.invalidArgument, "\(matches.count) VMs are named '\(name)' (hosts: \(matches.map(\.host).joined(separator: ", ")))",
                          action: "name the host with --host")
    }

    /// `latest` (the newest live point) or a recovery point ID of the VM. A soft-deleted point is not
    /// restored until it is undeleted.
    public func resolveRecoveryPoint(vm: VMRecord, reference: String) throws -> RecoveryPointRecord {
        let points = try self.catalog.recoveryPoints(vmID: vm.id)
        if reference == "latest" {
            guard let last = points.filter({ $0.deletedAtMillis == nil }).max(by: { $0.sequence < $1.sequence }) else {
                throw TresorError(.notFound, "VM '\(vm.name)' has no recovery points")
            }
            return last
        }
        guard let point = points.first(where: { $0.id == reference || $0.id.hasPrefix(reference) && reference.count >= 8 }) else {
            throw TresorError(.notFound, "VM '\(vm.name)' has no recovery point '\(reference)'", action: "list them with 'tresor list --vm \(vm.name)'")
        }
        guard point.deletedAtMillis == nil else {
            throw TresorError(.recoveryPointDeleted, "recovery point \(point.id) of VM '\(vm.name)' is deleted (its data is kept for the soft-delete period)",
                              action: "undelete it first: tresor recovery-point undelete \(point.id)")
        }
        return point
    }

    /// Finds a wrap of `keyID` that one of `kekIDs` can open.
    func findWrap(domain: DomainID, keyID: KeyID, kekIDs: [KeyID]) throws -> KeyWrapRecord? {
        for kekID in kekIDs {
            let key = ObjectKey.keyWrap(domain: domain, keyID: keyID, kekID: kekID)
            guard try self.store.size(of: key) != nil else { continue }
            let record = try KeyWrapRecord.parse(try self.store.get(key), name: key.path)
            guard record.keyID == keyID, record.kekID == kekID, record.domainID == domain.rawValue else {
                throw TresorError(.corruptObject, "key wrap \(key.path) describes another key")
            }
            return record
        }
        return nil
    }

    /// Stores wraps that are not there yet, each durable before it is relied on.
    func storeWraps(_ records: [KeyWrapRecord]) throws {
        for record in records {
            let domain = try DomainID(record.domainID)
            let key = ObjectKey.keyWrap(domain: domain, keyID: record.keyID, kekID: record.kekID)
            if try self.store.size(of: key) != nil { continue }
            try self.store.putDurably(key, bytes: try JSON.encode(record))
        }
    }
}
