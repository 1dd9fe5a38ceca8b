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
        for key in try vault.store.list(folder: ObjectKey.domainsFolder) {
            let parts = key.path.split(separator: "/").map(String.init)
            guard parts.count >= 4, let domain = try? DomainID(parts[1]) else { continue }
            switch parts[2] {
            case "chunks":
                guard let id = ChunkID(hex: parts.last!), let chunk = try vault.storedChunk(domain: domain, id: id) else {
                    summary.skipped.append(key.path)
                    continue
                }
                chunks[domain, default: []].append(chunk)
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
    /// Whether the store holds a manifest the catalog lacks that `importMissingManifests` would bring in.
    /// A damaged one does not count: it is never imported, and a reader that took the vault's lock for it
    /// would do so on every run and turn away a writer starting at that moment. Verify reports it.
    public static func hasImportableManifests(vault: Vault) throws -> Bool {
        let known = Set(try vault.catalog.recoveryPoints(vmID: nil).map(\.id))
        return try vault.store.list(folder: ObjectKey.manifestsFolder).contains { self.missingCommit($0, known: known, vault: vault) != nil }
    }

    /// Brings into the catalog any manifest the store holds that it lacks: a backup killed after its
    /// manifest became durable but before its catalog transaction is complete, and the store says so.
    /// The chunks its index names that the catalog lacks are registered with it from their headers: they
    /// were durable before the manifest, and the VM's next backup reuses them by its previous index
    /// without asking the vault, so the vault must know them as stored.
    public static func importMissingManifests(vault: Vault) throws -> Int {
        let known = Set(try vault.catalog.recoveryPoints(vmID: nil).map(\.id))
        var imported = 0
        for key in try vault.store.list(folder: ObjectKey.manifestsFolder) {
            guard let found = self.missingCommit(key, known: known, vault: vault) else { continue }
            let manifest = found.0
            var commit = found.1
            commit.newChunks = try self.uncataloguedChunks(of: manifest.body, domain: commit.vm.domainID, vault: vault)
            for chunk in commit.newChunks { commit.sealsByDataKey[chunk.dataKeyID, default: 0] += 1 }
            try vault.catalog.commit(commit)
            imported += 1
        }
        try vault.reconcileSoftDeletes()
        return imported
    }

    /// The manifest under `key` and its catalog commit, when the catalog does not know it and it reads
    /// and decodes; nil otherwise.
    private static func missingCommit(_ key: ObjectKey, known: Set<String>, vault: Vault) -> (LoadedManifest, CatalogCommit)? {
        guard let id = key.manifestID, !known.contains(id), let manifest = try? vault.loadManifest(id),
              let commit = try? CatalogCommit(manifest: manifest)
        else { return nil }
        return (manifest, commit)
    }

    /// The chunks (and bases of delta chunks) a manifest's index pages name that the catalog does not list,
    /// as good or bad, and the store holds with a sound header. One the store lacks is left for verify
    /// to report.
    private static func uncataloguedChunks(of body: ManifestBody, domain: DomainID, vault: Vault) throws -> [StoredChunk] {
        var listed = Set(try vault.catalog.goodChunks(domain: domain).keys).union(try vault.catalog.badChunks(domain: domain))
        var found: [StoredChunk] = []
        func register(_ id: ChunkID) throws {
            guard !id.isZero, listed.insert(id).inserted, let chunk = try vault.storedChunk(domain: domain, id: id) else { return }
            found.append(chunk)
            if let base = chunk.base { try register(base) }
        }
        for disk in body.disks {
            for hash in disk.indexPages {
                let key = ObjectKey.indexPage(domain: domain, sha256: hash)
                guard let page = try? IndexPage.decode(try vault.store.get(key), name: key.path) else { continue }
                for id in page { try register(id) }
            }
        }
        return found
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
