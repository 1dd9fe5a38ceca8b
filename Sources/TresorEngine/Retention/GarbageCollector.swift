import TresorCore

/// What one garbage collection did.
public struct GarbageReport: Codable, Sendable, Equatable {
    /// Recovery points removed with their manifests: soft-deleted ones whose period ended, and those
    /// whose retention under their VM's policy ended.
    public var recoveryPointsPurged: [String] = []
    /// Of the points due, those due because their retention ended.
    public var recoveryPointsExpired: [String] = []
    /// Purgeable points kept because a reader leases them or a backup builds on them.
    public var recoveryPointsHeld: [String] = []
    public var chunksReferenced = 0
    public var chunksDeleted = 0
    public var indexPagesDeleted = 0
    public var bytesFreed: Int64 = 0
    /// Unreferenced objects kept because an open backup session was told they are stored.
    public var heldBySessions = 0
    /// Why nothing was deleted, when nothing could be.
    public var skipped: String?
    public var seconds = 0.0

    public init() {}
}

/// The mark phase of garbage collection: what the vault's recovery points reference, read from their
/// manifests and index pages (which the vault reads without keys). Wraps are never collected: they are
/// small, and a lost wrap loses its key.
enum GarbageCollector {
    struct Referenced {
        var chunks: [DomainID: Set<ChunkID>] = [:]
        var pages: [DomainID: Set<String>] = [:]
        var chunkCount: Int { self.chunks.values.reduce(0) { $0 + $1.count } }
    }

    /// Every chunk and index page the given points reference. A point that cannot be read stops the
    /// collection: what it references is unknown, so nothing may be deleted.
    static func mark(_ vault: Vault, points: [String]) throws -> Referenced {
        var referenced = Referenced()
        for id in points {
            let manifest: LoadedManifest
            do {
                manifest = try vault.loadManifest(id)
            } catch let error as TresorError {
                throw TresorError(.integrity, "recovery point \(id) cannot be read (\(error.message)); garbage collection deletes nothing while it is so",
                                  action: "run 'tresor verify' and repair or delete the point")
            }
            let domain = try DomainID(manifest.body.domainID)
            for disk in manifest.body.disks {
                referenced.pages[domain, default: []].formUnion(disk.indexPages)
                let ids = try OpenedRecoveryPoint.loadIndex(vault: vault, domain: domain, disk: disk)
                referenced.chunks[domain, default: []].formUnion(ids.lazy.filter { !$0.isZero })
            }
        }
        return referenced
    }

    /// Chunk objects and index pages in the store, by domain.
    static func stored(_ vault: Vault) throws -> (chunks: [DomainID: [ChunkID]], pages: [DomainID: [String]]) {
        var chunks: [DomainID: [ChunkID]] = [:]
        var pages: [DomainID: [String]] = [:]
        for key in try vault.store.list(folder: ObjectKey.domainsFolder) {
            let parts = key.path.split(separator: "/").map(String.init)
            guard parts.count >= 4, let domain = try? DomainID(parts[1]) else { continue }
            switch parts[2] {
            case "chunks": if let id = ChunkID(hex: parts.last!) { chunks[domain, default: []].append(id) }
            case "index": pages[domain, default: []].append(parts.last!)
            default: continue
            }
        }
        return (chunks, pages)
    }
}
