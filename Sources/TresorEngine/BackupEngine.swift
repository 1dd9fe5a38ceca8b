#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
public import TresorCompression
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
    public var compression: ZstdSetting
    public var workers: Int
    /// Where to read each disk when not at `diskPaths`: a snapshot's copies. `diskPaths` still name them.
    public var readPaths: [String]?
    /// Recorded on the recovery point: how the snapshot that was read was taken.
    public var consistency: Consistency = .notSnapshotted
    /// What a snapshot provider knows unchanged since the previous recovery point; those chunks are not read.
    public var unchanged: UnchangedSince?
    /// Store a changed chunk as the 4 KiB blocks that differ from the whole chunk its region held before,
    /// where the client can open that chunk (ChunkDelta). Off: every new chunk is stored whole.
    public var deltas = true
    /// Where the client keeps its change cache (ChangeCache): IDs of chunks whose content still matches
    /// their tag are taken from it instead of recomputed. nil: every ID is computed.
    public var changeCacheDirectory: String?

    public static let defaultChunkSize = 1 << 20
    public static let chunkSizes = (256 << 10)...(4 << 20)

    public init(vmName: String, host: String, diskPaths: [String], chunkSize: Int = BackupRequest.defaultChunkSize,
                domain: DomainID? = nil, compression: ZstdSetting = .chunkDefault,
                workers: Int? = nil) {
        self.vmName = vmName
        self.host = host
        self.diskPaths = diskPaths
        self.chunkSize = chunkSize
        self.domain = domain
        self.compression = compression
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
    /// Of the new chunks, those stored as deltas over the whole chunk their region held before.
    public var chunksDelta: Int
    /// Of those, deltas built from the change cache's block tags, without reading the base.
    public var chunksDeltaFromCache: Int
    /// Chunks whose keyed ID came from the change cache rather than HMAC-SHA256 over the chunk.
    public var chunksIDFromCache: Int
    /// Set when the change cache could not be written; the backup itself succeeded.
    public var changeCacheWarning: String?
    public var seconds: Double
    public var throughputMBps: Double
    public var consistency: String
    /// Bytes not read because change detection knew them unchanged since the previous point.
    public var bytesUnchanged: Int64
    /// Worker CPU seconds per pipeline stage.
    public var stageCPUSeconds: StageTimes
}

public enum BackupEngine {
    /// Random 96-bit nonces stay safe up to 2^32 seals per key (NIST SP 800-38D §8.3); Tresor moves
    /// to a new data key at half of that (Keys/README.md).
    public static let sealLimit: Int64 = 1 << 31

    /// Backs up into a vault directory opened in this process.
    public static func run(_ request: BackupRequest, vault: Vault, keys: KeyRing, progress: ProgressCounter = ProgressCounter(),
                           now: Int64) throws -> BackupResult {
        try Self.run(request, destination: VaultService(vault: vault), keys: keys, progress: progress, now: now)
    }

    /// Backs up into any vault: one session, chunks the vault lacks, index pages, then the signed manifest
    /// as the atomic commit.
    public static func run(_ request: BackupRequest, destination: any BackupDestination, keys: KeyRing,
                           progress: ProgressCounter = ProgressCounter(), now: Int64) throws -> BackupResult {
        let started = ContinuousClock.now
        guard BackupRequest.chunkSizes.contains(request.chunkSize), request.chunkSize % 4096 == 0 else {
            throw TresorError(.invalidArgument, "chunk size \(request.chunkSize) is outside 256 KiB–4 MiB or not a multiple of 4 KiB")
        }
        guard !request.diskPaths.isEmpty else { throw TresorError(.invalidArgument, "name at least one disk") }
        guard Set(request.diskPaths).count == request.diskPaths.count else {
            throw TresorError(.invalidArgument, "a disk is named twice")
        }
        if let readPaths = request.readPaths, readPaths.count != request.diskPaths.count {
            throw TresorError(.invalidArgument, "\(readPaths.count) snapshot copies for \(request.diskPaths.count) disks")
        }
        let sources = try request.diskPaths.enumerated().map { index, path in
            try DiskSource(path: request.readPaths?[index] ?? path, identity: path)
        }
        let session = try destination.openSession(SessionRequest(
            vmName: request.vmName, host: request.host, domain: request.domain, diskSources: sources.map(\.identity), nowMillis: now,
            requestKey: UUID().uuidString.lowercased()))
        do {
            return try Self.backUp(request, sources: sources, session: session, destination: destination, keys: keys,
                                   progress: progress, now: now, started: started)
        } catch {
            destination.abandon(session: session.id)
            throw error
        }
    }

    private static func backUp(_ request: BackupRequest, sources: [DiskSource], session: BackupSession,
                               destination: any BackupDestination, keys: KeyRing, progress: ProgressCounter, now: Int64,
                               started: ContinuousClock.Instant) throws -> BackupResult {
        // Keys: the domain's ID key (wrapped for every KEK, once) and the data key for new chunks.
        let vm = session.vm
        let domain = vm.domainID
        let idKey = try keys.idKey(domain: domain)
        try destination.storeWraps(session: session.id, try keys.wraps(of: idKey, keyID: DomainKeys.idKeyID(idKey), purpose: .id,
                                                                       domain: domain, now: now))
        let totalChunks = sources.reduce(0) { $0 + Int(($1.size + Int64(request.chunkSize) - 1) / Int64(request.chunkSize)) }
        let dataKey = try Self.selectDataKey(session: session, destination: destination, keys: keys, upcomingSeals: totalChunks, now: now)
        let previous = try PreviousIndex.load(session: session, destination: destination)

        progress.setTotal(sources.reduce(0) { $0 + $1.size })
        let plan = ChunkPlan(sources: sources, chunkSize: request.chunkSize)
        let diskIDs = session.disks.map(\.id)
        let changes = try request.changeCacheDirectory.map {
            ChangeTags(cache: try ChangeCache(directory: $0, idKey: idKey), vmID: vm.id, diskIDs: diskIDs, plan: plan)
        }
        let pass = BackupPass(plan: plan, destination: destination, session: session.id, idKey: idKey, dataKey: dataKey,
                              previous: previous, compression: request.compression, progress: progress, sources: sources,
                              unchanged: UnchangedChunks(request.unchanged, previous: previous, session: session, plan: plan),
                              deltas: request.deltas ? DeltaBases(destination: destination, session: session, previous: previous,
                                                                  chunkSize: request.chunkSize, keys: keys) : nil,
                              changes: changes, deltasAllowed: request.deltas)
        try pass.run(workers: request.workers)

        var stats = pass.stats
        var diskEntries: [DiskEntry] = []
        for (position, source) in sources.enumerated() {
            let ids = pass.table.ids(disk: position)
            let (pages, added) = try Self.storeIndex(ids, session: session.id, destination: destination)
            stats.indexBytesAdded += added
            let name = source.identity.split(separator: "/").last.map(String.init) ?? source.identity
            diskEntries.append(DiskEntry(position: position, id: session.disks[position].id, name: name, source: source.identity,
                                         size: source.size, chunkCount: ids.count, zeroChunks: pass.zeroChunks(disk: position),
                                         indexPages: pages))
        }

        let recoveryPointID = UUID().uuidString.lowercased()
        var usedKeys = pass.usedDataKeys
        if pass.reusedPrevious { usedKeys.formUnion(previous.dataKeys) }
        let body = ManifestBody(
            recoveryPointID: recoveryPointID, vaultID: session.vaultID,
            vm: VMIdentity(id: vm.id, name: vm.name, host: vm.host), domainID: domain.rawValue,
            sequence: (session.previous?.sequence ?? 0) + 1, previousManifest: session.previous?.manifestSHA256,
            createdAtMillis: now, chunkSize: request.chunkSize, consistency: request.consistency.rawValue, disks: diskEntries,
            dataKeys: usedKeys.sorted { $0.hex < $1.hex }.map { id in
                KeyCommitment(id: id, commitment: id == dataKey.id ? dataKey.commitment : nil)
            },
            idKeyCommitment: KeyRing.commitment(of: idKey), stats: stats)
        let signed = try keys.sign(manifestBody: try JSON.encode(body))
        let record = try destination.commit(session: session.id, manifest: try JSON.encode(signed))
        // Records state facts about contents, true whatever the vault holds, so they were written in place
        // as the pass went; a write that failed is reported here as a warning.
        var cacheWarning: String?
        do {
            try changes?.finish()
        } catch {
            cacheWarning = "the change cache was not written: \(error)"
        }

        let seconds = (ContinuousClock.now - started).seconds
        return BackupResult(
            recoveryPoint: record.id, vm: vm.name, vmID: vm.id, host: vm.host, sequence: body.sequence,
            disks: sources.count, chunkSize: request.chunkSize, bytesRead: stats.bytesRead, bytesStored: stats.bytesStored,
            indexBytesAdded: stats.indexBytesAdded, chunksNew: stats.chunksNew, chunksReused: stats.chunksReused,
            chunksZero: stats.chunksZero, chunksDelta: pass.deltaChunks, chunksDeltaFromCache: pass.tagDeltaChunks, chunksIDFromCache: pass.cachedIDs,
            changeCacheWarning: cacheWarning, seconds: seconds,
            throughputMBps: seconds > 0 ? Double(stats.bytesRead + pass.unchangedBytes) / seconds / 1e6 : 0, consistency: body.consistency,
            bytesUnchanged: pass.unchangedBytes,
            stageCPUSeconds: pass.times)
    }

    /// Stores a disk's index pages the vault lacks; returns every page's hash and the bytes added.
    static func storeIndex(_ ids: ArraySlice<ChunkID>, session: String, destination: any BackupDestination) throws -> ([String], Int64) {
        var pages: [String] = []
        var added: Int64 = 0
        for start in stride(from: ids.startIndex, to: ids.endIndex, by: IndexPage.entriesPerPage) {
            let page = IndexPage.encode(ids[start..<min(start + IndexPage.entriesPerPage, ids.endIndex)])
            if try destination.putIndexPage(session: session, page) { added += Int64(page.count) }
            pages.append(Hex.encode(SHA256.hash(page)))
        }
        return (pages, added)
    }

    struct SelectedDataKey {
        let id: KeyID
        let key: SymmetricKey
        let commitment: String
    }

    /// With a symmetric KEK: the domain's newest data key that this KEK opens and that has room under the
    /// seal limit. Otherwise (a public KEK, or none fits): a fresh data key, wrapped for every KEK and
    /// durable before any chunk uses it. A write-only client forgets it when the backup ends.
    static func selectDataKey(session: BackupSession, destination: any BackupDestination, keys: KeyRing, upcomingSeals: Int,
                              now: Int64) throws -> SelectedDataKey {
        let domain = session.vm.domainID
        if keys.kekType == .aes && keys.canDecrypt {
            for record in session.dataKeys.reversed() where record.sealCount + Int64(upcomingSeals) < sealLimit {
                guard let wrap = try destination.wrap(session: session.id, keyID: record.keyID, kekIDs: keys.openableKEKIDs) else { continue }
                let key = try keys.unwrap(wrap)
                return SelectedDataKey(id: record.keyID, key: key, commitment: KeyRing.commitment(of: key))
            }
        }
        let (selected, wraps) = try Self.newDataKey(keys: keys, domain: domain, now: now)
        try destination.storeWraps(session: session.id, wraps)
        return selected
    }

    /// A fresh data key and its wraps for every KEK of the ring.
    static func newDataKey(keys: KeyRing, domain: DomainID, now: Int64) throws -> (SelectedDataKey, [KeyWrapRecord]) {
        let key = try SymmetricKey(randomCount: 32)
        let id = KeyID(bytes: try SecureRandom.bytes(KeyID.byteCount))
        let wraps = try keys.wraps(of: key, keyID: id, purpose: .data, domain: domain, now: now)
        return (SelectedDataKey(id: id, key: key, commitment: KeyRing.commitment(of: key)), wraps)
    }

    /// Starts new data for `vm` under a fresh data key (BEK rotation); the ID key stays, so
    /// deduplication continues across the rotation.
    public static func rotateDataKey(_ store: any KeyWrapStore, keys: KeyRing, domain: DomainID, now: Int64) throws -> KeyID {
        let (selected, wraps) = try Self.newDataKey(keys: keys, domain: domain, now: now)
        try store.store(wraps)
        return selected.id
    }
}
