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
        let matches = points.filter { $0.id == reference }.first.map { [$0] } ?? points.filter { $0.id.hasPrefix(reference) }
        if matches.count != 1 || reference.count < Self.shortestPointReference {
            throw Self.unresolved(reference, matches: matches.count, vm: vm)
        }
        let point = matches[0]
        guard point.deletedAtMillis == nil else {
            throw TresorError(.recoveryPointDeleted, "recovery point \(point.id) of VM '\(vm.name)' is deleted (its data is kept for the soft-delete period)",
                              action: "undelete it first: tresor recovery-point undelete \(point.id)")
        }
        return point
    }

    /// The fewest leading characters of a recovery point ID that name it (32 bits: two points of one VM
    /// share them with odds of one in four billion per pair, and the lookup says so when they do).
    static let shortestPointReference = 8

    private static func unresolved(_ reference: String, matches: Int, vm: VMRecord) -> TresorError {
        let list = "list them with 'tresor list --vm \(vm.name)'"
        if matches == 0 {
            return TresorError(.notFound, "VM '\(vm.name)' has no recovery point '\(reference)'", action: list)
        }
        if reference.count < Self.shortestPointReference {
            return TresorError(.invalidArgument, "'\(reference)' is too short to name a recovery point",
                               action: "give \(Self.shortestPointReference) or more characters of its ID, or 'latest'")
        }
        return TresorError(.invalidArgument, "'\(reference)' begins \(matches) recovery points of VM '\(vm.name)'",
                           action: "give more characters of the ID; \(list)")
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
