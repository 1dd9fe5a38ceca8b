import TresorCore
import TresorCrypto

/// Recreates the catalog from the store alone: chunk headers, key wraps and manifests carry everything
/// the catalog indexes. Needs no keys: the vault reads only what is stored in the clear.
public enum CatalogRebuilder {
    public struct Summary: Codable, Sendable {
        public var recoveryPoints = 0
        public var vms = 0
        public var chunks = 0
        public var dataKeys = 0
        public var skipped: [String] = []
    }

    public static func run(vault: Vault) throws -> Summary {
        var summary = Summary()
        try vault.catalog.removeAll()
        var chunks: [DomainID: [StoredChunk]] = [:]
        var dataKeys: [DomainID: [KeyID: Int64]] = [:]
        let header = UnsafeMutableRawBufferPointer.allocate(byteCount: ChunkObjectHeader.deltaByteCount, alignment: 16)
        defer { header.deallocate() }

        for key in try vault.store.list(folder: ObjectKey.domainsFolder) {
            let parts = key.path.split(separator: "/").map(String.init)
            guard parts.count >= 4, let domain = try? DomainID(parts[1]) else { continue }
            switch parts[2] {
            case "chunks":
                guard let id = ChunkID(hex: parts.last!), let size = try vault.store.size(of: key) else {
                    summary.skipped.append(key.path)
                    continue
                }
                let n = try vault.store.readPrefix(key, into: header)
                guard let parsed = try? ChunkObjectHeader.decode(UnsafeRawBufferPointer(rebasing: header[0..<n]),
                                                                 objectLength: size, name: key.path),
                      parsed.chunkID == id
                else {
                    summary.skipped.append(key.path)
                    continue
                }
                chunks[domain, default: []].append(StoredChunk(id: id, storedBytes: size, dataKeyID: parsed.dataKeyID,
                                                                           base: parsed.base))
            case "keys":
                guard let record = try? KeyWrapRecord.parse(try vault.store.get(key), name: key.path) else {
                    summary.skipped.append(key.path)
                    continue
                }
                if record.purpose == .data {
                    let created = dataKeys[domain, default: [:]][record.keyID] ?? record.createdAtMillis
                    dataKeys[domain, default: [:]][record.keyID] = min(created, record.createdAtMillis)
                }
            default:
                continue
            }
        }
        for (domain, keys) in dataKeys {
            for (id, created) in keys {
                try vault.catalog.registerDataKey(domain: domain, keyID: id, createdAtMillis: created)
                summary.dataKeys += 1
            }
        }
        var vmIDs = Set<String>()
        for key in try vault.store.list(folder: ObjectKey.manifestsFolder) {
            guard let id = key.manifestID, let commit = try? CatalogCommit(manifest: try vault.loadManifest(id)) else {
                summary.skipped.append(key.path)
                continue
            }
            try vault.catalog.commit(commit)
            vmIDs.insert(commit.vm.id)
            summary.recoveryPoints += 1
        }
        for (domain, list) in chunks {
            try vault.catalog.registerChunks(domain: domain, list)
            var seals: [KeyID: Int64] = [:]
            for chunk in list { seals[chunk.dataKeyID, default: 0] += 1 }
            summary.chunks += list.count
            try vault.catalog.addSeals(domain: domain, seals)
        }
        try vault.reconcileSoftDeletes()
        summary.vms = vmIDs.count
        return summary
    }
}

extension CatalogRebuilder {
    /// Brings into the catalog any manifest the store holds that it lacks: a backup killed after its
    /// manifest became durable but before its catalog transaction is complete, and the store says so.
    public static func importMissingManifests(vault: Vault) throws -> Int {
        let known = Set(try vault.catalog.recoveryPoints(vmID: nil).map(\.id))
        var imported = 0
        for key in try vault.store.list(folder: ObjectKey.manifestsFolder) {
            guard let id = key.manifestID, !known.contains(id),
                  let commit = try? CatalogCommit(manifest: try vault.loadManifest(id))
            else { continue }
            try vault.catalog.commit(commit)
            imported += 1
        }
        try vault.reconcileSoftDeletes()
        return imported
    }
}

extension CatalogCommit {
    /// The catalog rows a stored manifest stands for (its VM, disks and recovery point; chunks are
    /// registered from the store's headers).
    init(manifest: LoadedManifest) throws {
        let body = manifest.body
        let domain = try DomainID(body.domainID)
        self.init(
            vm: VMRecord(id: body.vm.id, name: body.vm.name, host: body.vm.host, domainID: domain, createdAtMillis: body.createdAtMillis),
            disks: body.disks.map { DiskRecord(id: $0.id, vmID: body.vm.id, source: $0.source) },
            recoveryPoint: RecoveryPointRecord(
                id: body.recoveryPointID, vmID: body.vm.id, vmName: body.vm.name, host: body.vm.host, domainID: domain,
                sequence: body.sequence, createdAtMillis: body.createdAtMillis, manifestSHA256: manifest.sha256,
                chunkSize: body.chunkSize, diskCount: body.disks.count, logicalBytes: body.disks.reduce(0) { $0 + $1.size },
                bytesStored: body.stats.bytesStored, consistency: body.consistency),
            newChunks: [], sealsByDataKey: [:])
    }
}
