/// The vault's catalog as the engine sees it. It is an index over the chunk store, never the only copy
/// of anything: `rebuild-catalog` recreates it from the store's manifests, chunk headers and wraps.
public protocol Catalog: Sendable {
    func findVM(name: String, host: String?) throws -> [VMRecord]
    func vm(id: String) throws -> VMRecord?
    func disks(vmID: String) throws -> [DiskRecord]

    /// Records a VM (and its key domain) before its first backup completes, so a backup that is
    /// interrupted and run again finds the same VM, domain and already-written chunks.
    func registerVM(_ vm: VMRecord) throws

    func recoveryPoints(vmID: String?) throws -> [RecoveryPointRecord]
    func recoveryPoint(id: String) throws -> RecoveryPointRecord?

    /// The domain's chunks that are stored and not marked bad, with the data key each is sealed under.
    func goodChunks(domain: DomainID) throws -> [ChunkID: KeyID]
    /// The domain's chunks marked bad by verify: their objects must be rewritten, never adopted.
    func badChunks(domain: DomainID) throws -> Set<ChunkID>
    func dataKeys(domain: DomainID) throws -> [DataKeyRecord]

    /// Records a committed recovery point with its VM, disks, the chunks it added and the data keys it
    /// sealed with, in one transaction.
    func commit(_ commit: CatalogCommit) throws

    /// Marks chunks bad (missing or altered), so the next backup stores their data again.
    func markBad(domain: DomainID, ids: [ChunkID]) throws
    /// Registers chunk objects found in the store (rebuild, or left by an interrupted backup).
    func registerChunks(domain: DomainID, _ chunks: [StoredChunk]) throws
    /// The domain's delta chunks, each with the whole chunk it is rebuilt from.
    func deltaBases(domain: DomainID) throws -> [ChunkID: ChunkID]
    func registerDataKey(domain: DomainID, keyID: KeyID, createdAtMillis: Int64) throws
    /// Adds to the seal counts of data keys (rebuild counts them from chunk headers).
    func addSeals(domain: DomainID, _ seals: [KeyID: Int64]) throws
    func removeAll() throws
    /// Soft-deletes a recovery point at a time, or undeletes it (nil).
    func setDeleted(recoveryPointID: String, atMillis: Int64?) throws
    /// Forgets a recovery point whose soft-delete period ended and whose manifest is gone.
    func removeRecoveryPoint(id: String) throws
    /// Forgets chunks garbage collection deleted from the store.
    func removeChunks(domain: DomainID, ids: [ChunkID]) throws
    /// Totals over the whole vault.
    func usage() throws -> CatalogUsage
}

public struct CatalogUsage: Codable, Sendable, Equatable {
    public var vms: Int
    public var recoveryPoints: Int
    public var domains: Int
    public var chunks: Int
    public var badChunks: Int
    /// Bytes of the chunk objects (physical, after deduplication and compression).
    public var storedBytes: Int64
    /// Sum of the disk sizes of every recovery point (logical).
    public var logicalBytes: Int64

    public init(vms: Int, recoveryPoints: Int, domains: Int, chunks: Int, badChunks: Int, storedBytes: Int64, logicalBytes: Int64) {
        self.vms = vms
        self.recoveryPoints = recoveryPoints
        self.domains = domains
        self.chunks = chunks
        self.badChunks = badChunks
        self.storedBytes = storedBytes
        self.logicalBytes = logicalBytes
    }
}

public struct CatalogCommit: Sendable {
    public var vm: VMRecord
    public var disks: [DiskRecord]
    public var recoveryPoint: RecoveryPointRecord
    public var newChunks: [StoredChunk]
    /// Data keys used, with the seals this backup added.
    public var sealsByDataKey: [KeyID: Int64]

    public init(vm: VMRecord, disks: [DiskRecord], recoveryPoint: RecoveryPointRecord, newChunks: [StoredChunk],
                sealsByDataKey: [KeyID: Int64]) {
        self.vm = vm
        self.disks = disks
        self.recoveryPoint = recoveryPoint
        self.newChunks = newChunks
        self.sealsByDataKey = sealsByDataKey
    }
}
