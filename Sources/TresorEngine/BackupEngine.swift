#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
public import TresorCore
import TresorCrypto
public import TresorKeys

/// What to back up and how.
public struct BackupRequest: Sendable {
    public var vmName: String
    public var host: String
    public var diskPaths: [String]
    public var chunkSize: Int
    /// The key domain; nil puts a new VM in a domain of its own.
    public var domain: DomainID?
    public var compressionLevel: Int32
    public var workers: Int

    /// zstd level 3: on the benchmark's mixed image it stores less than restic's default, at well over
    /// the pipeline's target speed (docs/performance.md).
    public static let defaultCompressionLevel: Int32 = 3
    public static let defaultChunkSize = 1 << 20
    public static let chunkSizes = (256 << 10)...(4 << 20)

    public init(vmName: String, host: String, diskPaths: [String], chunkSize: Int = BackupRequest.defaultChunkSize,
                domain: DomainID? = nil, compressionLevel: Int32 = BackupRequest.defaultCompressionLevel,
                workers: Int? = nil) {
        self.vmName = vmName
        self.host = host
        self.diskPaths = diskPaths
        self.chunkSize = chunkSize
        self.domain = domain
        self.compressionLevel = compressionLevel
        self.workers = workers ?? WorkerPool.defaultWorkers
    }
}

/// What a backup did, as `tresor backup --json` prints it.
public struct BackupResult: Codable, Sendable {
    public var recoveryPoint: String
    public var vm: String
    public var vmID: String
    public var host: String
    public var sequence: UInt64
    public var disks: Int
    public var chunkSize: Int
    public var bytesRead: Int64
    public var bytesStored: Int64
    public var indexBytesAdded: Int64
    public var chunksNew: Int
    public var chunksReused: Int
    public var chunksZero: Int
    public var seconds: Double
    public var throughputMBps: Double
    public var consistency: String
    /// Worker CPU seconds per pipeline stage.
    public var stageCPUSeconds: StageTimes
}

public enum BackupEngine {
    /// Random 96-bit nonces stay safe up to 2^32 seals per key (NIST SP 800-38D §8.3); Tresor moves
    /// to a new data key at half of that (Keys/README.md).
    public static let sealLimit: Int64 = 1 << 31

    public static func run(_ request: BackupRequest, vault: Vault, keys: KeyRing, progress: ProgressCounter = ProgressCounter(),
                           now: Int64) throws -> BackupResult {
        let started = ContinuousClock.now
        guard BackupRequest.chunkSizes.contains(request.chunkSize), request.chunkSize % 4096 == 0 else {
            throw TresorError(.invalidArgument, "chunk size \(request.chunkSize) is outside 256 KiB–4 MiB or not a multiple of 4 KiB")
        }
        guard !request.diskPaths.isEmpty else { throw TresorError(.invalidArgument, "name at least one disk") }
        guard Set(request.diskPaths).count == request.diskPaths.count else {
            throw TresorError(.invalidArgument, "a disk is named twice")
        }
        let sources = try request.diskPaths.map { try DiskSource(path: $0) }

        // Identity: the VM and its disks keep their IDs from one recovery point to the next.
        let vm = try Self.identify(request, vault: vault, now: now)
        let knownDisks = try vault.catalog.disks(vmID: vm.id)
        let disks = sources.map { source in
            knownDisks.first(where: { $0.source == source.path })
                ?? DiskRecord(id: UUID().uuidString.lowercased(), vmID: vm.id, source: source.path)
        }
        let previous = try vault.catalog.recoveryPoints(vmID: vm.id).max(by: { $0.sequence < $1.sequence })

        // Keys: the domain's ID key (wrapped for every KEK, once) and the data key for new chunks.
        let domain = vm.domainID
        let idKey = try keys.idKey(domain: domain)
        // Registered before the first chunk: a backup killed from here on resumes into the same VM and
        // domain and reuses what it wrote.
        try vault.catalog.registerVM(vm)
        try vault.storeWraps(try keys.wraps(of: idKey, keyID: DomainKeys.idKeyID(idKey), purpose: .id, domain: domain, now: now))
        let totalChunks = sources.reduce(0) { $0 + Int(($1.size + Int64(request.chunkSize) - 1) / Int64(request.chunkSize)) }
        let dataKey = try Self.selectDataKey(vault: vault, keys: keys, domain: domain, upcomingSeals: totalChunks, now: now)
        let known = try vault.catalog.goodChunks(domain: domain)

        progress.setTotal(sources.reduce(0) { $0 + $1.size })
        let plan = ChunkPlan(sources: sources, chunkSize: request.chunkSize)
        let pass = BackupPass(plan: plan, vault: vault, domain: domain, idKey: idKey, dataKey: dataKey, known: known,
                              bad: try vault.catalog.badChunks(domain: domain), level: request.compressionLevel,
                              progress: progress, sources: sources)
        try pass.run(workers: request.workers)

        // Index pages, then one flush of everything written, then the manifest: the commit point.
        var stats = pass.stats
        var diskEntries: [DiskEntry] = []
        for (position, source) in sources.enumerated() {
            let ids = pass.table.ids(disk: position)
            let (pages, added) = try Self.storeIndex(ids, domain: domain, vault: vault)
            stats.indexBytesAdded += added
            let name = source.path.split(separator: "/").last.map(String.init) ?? source.path
            diskEntries.append(DiskEntry(position: position, id: disks[position].id, name: name, source: source.path,
                                         size: source.size, chunkCount: ids.count, zeroChunks: pass.zeroChunks(disk: position),
                                         indexPages: pages))
        }
        try vault.store.synchronize()

        let recoveryPointID = UUID().uuidString.lowercased()
        let usedKeys = pass.usedDataKeys.sorted { $0.hex < $1.hex }.map { id in
            KeyCommitment(id: id, commitment: id == dataKey.id ? dataKey.commitment : nil)
        }
        let body = ManifestBody(
            recoveryPointID: recoveryPointID, vaultID: vault.id,
            vm: VMIdentity(id: vm.id, name: vm.name, host: vm.host), domainID: domain.rawValue,
            sequence: (previous?.sequence ?? 0) + 1, previousManifest: previous?.manifestSHA256, createdAtMillis: now,
            chunkSize: request.chunkSize, consistency: "not-snapshotted", disks: diskEntries, dataKeys: usedKeys,
            idKeyCommitment: KeyRing.commitment(of: idKey), stats: stats)
        let signed = try keys.sign(manifestBody: try JSON.encode(body))
        let manifestBytes = try JSON.encode(signed)
        try vault.store.putDurably(.manifest(recoveryPoint: recoveryPointID), bytes: manifestBytes)

        let record = RecoveryPointRecord(
            id: recoveryPointID, vmID: vm.id, vmName: vm.name, host: vm.host, domainID: domain, sequence: body.sequence,
            createdAtMillis: now, manifestSHA256: Hex.encode(SHA256.hash(manifestBytes)), chunkSize: request.chunkSize,
            diskCount: sources.count, logicalBytes: sources.reduce(0) { $0 + $1.size }, bytesStored: stats.bytesStored,
            consistency: body.consistency)
        try vault.catalog.commit(CatalogCommit(vm: vm, disks: disks, recoveryPoint: record, newChunks: pass.newChunks,
                                               sealsByDataKey: [dataKey.id: Int64(stats.chunksNew)]))

        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.seconds
        return BackupResult(
            recoveryPoint: recoveryPointID, vm: vm.name, vmID: vm.id, host: vm.host, sequence: body.sequence,
            disks: sources.count, chunkSize: request.chunkSize, bytesRead: stats.bytesRead, bytesStored: stats.bytesStored,
            indexBytesAdded: stats.indexBytesAdded, chunksNew: stats.chunksNew, chunksReused: stats.chunksReused,
            chunksZero: stats.chunksZero, seconds: seconds,
            throughputMBps: seconds > 0 ? Double(stats.bytesRead) / seconds / 1e6 : 0, consistency: body.consistency,
            stageCPUSeconds: pass.times)
    }

    /// Stores a disk's index pages the store lacks; returns every page's hash and the bytes added.
    static func storeIndex(_ ids: ArraySlice<ChunkID>, domain: DomainID, vault: Vault) throws -> ([String], Int64) {
        var pages: [String] = []
        var added: Int64 = 0
        for start in stride(from: ids.startIndex, to: ids.endIndex, by: IndexPage.entriesPerPage) {
            let page = IndexPage.encode(ids[start..<min(start + IndexPage.entriesPerPage, ids.endIndex)])
            let hash = Hex.encode(SHA256.hash(page))
            let key = ObjectKey.indexPage(domain: domain, sha256: hash)
            if try vault.store.size(of: key) == nil {
                try vault.store.put(key, bytes: page)
                added += Int64(page.count)
            }
            pages.append(hash)
        }
        return (pages, added)
    }

    static func identify(_ request: BackupRequest, vault: Vault, now: Int64) throws -> VMRecord {
        if let existing = try vault.catalog.findVM(name: request.vmName, host: request.host).first {
            if let domain = request.domain, domain != existing.domainID {
                throw TresorError(.invalidArgument, "VM '\(request.vmName)' on \(request.host) is in key domain \(existing.domainID), not \(domain)")
            }
            return existing
        }
        let id = UUID().uuidString.lowercased()
        return VMRecord(id: id, name: request.vmName, host: request.host, domainID: request.domain ?? .forVM(id: id),
                        createdAtMillis: now)
    }

    struct SelectedDataKey {
        let id: KeyID
        let key: SymmetricKey
        let commitment: String
    }

    /// With a symmetric KEK: the domain's newest data key that this KEK opens and that has room under the
    /// seal limit. Otherwise (a public KEK, or none fits): a fresh data key, wrapped for every KEK and
    /// durable before any chunk uses it. A write-only client forgets it when the backup ends.
    static func selectDataKey(vault: Vault, keys: KeyRing, domain: DomainID, upcomingSeals: Int, now: Int64) throws -> SelectedDataKey {
        if keys.kekType == .aes && keys.canDecrypt {
            for record in try vault.catalog.dataKeys(domain: domain).reversed()
            where record.sealCount + Int64(upcomingSeals) < sealLimit {
                guard let wrap = try vault.findWrap(domain: domain, keyID: record.keyID, kekIDs: keys.openableKEKIDs) else { continue }
                let key = try keys.unwrap(wrap)
                return SelectedDataKey(id: record.keyID, key: key, commitment: KeyRing.commitment(of: key))
            }
        }
        return try Self.createDataKey(vault: vault, keys: keys, domain: domain, now: now)
    }

    /// A new data key for the domain (also `tresor keys rotate --bek`).
    static func createDataKey(vault: Vault, keys: KeyRing, domain: DomainID, now: Int64) throws -> SelectedDataKey {
        let key = try SymmetricKey(randomCount: 32)
        let id = KeyID(bytes: try SecureRandom.bytes(KeyID.byteCount))
        try vault.storeWraps(try keys.wraps(of: key, keyID: id, purpose: .data, domain: domain, now: now))
        try vault.catalog.registerDataKey(domain: domain, keyID: id, createdAtMillis: now)
        return SelectedDataKey(id: id, key: key, commitment: KeyRing.commitment(of: key))
    }

    /// Starts new data for `vm` under a fresh data key (BEK rotation); the ID key stays, so
    /// deduplication continues across the rotation.
    public static func rotateDataKey(vault: Vault, keys: KeyRing, domain: DomainID, now: Int64) throws -> KeyID {
        try Self.createDataKey(vault: vault, keys: keys, domain: domain, now: now).id
    }
}
