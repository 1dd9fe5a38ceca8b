/// The vault's side of a backup, whether the vault is a directory on this machine or a server: one
/// session per backup, exclusive per VM, ending in one atomic commit of a signed manifest. The engine
/// drives it; `VaultService` implements it over a store and catalog, and the HTTP client implements it by
/// calling a server that runs the same `VaultService`, so both give the same results.
public protocol BackupDestination: Sendable {
    /// How many unknown chunks a pipeline worker holds before it asks `lookup` about them together: 1 where
    /// a question is a memory lookup, more where it crosses a network.
    var lookupBatchSize: Int { get }
    /// Opens a session for a VM (created, with fresh VM and disk IDs, when the vault does not know it).
    /// Fails with `conflict` while another backup of the VM runs.
    func openSession(_ request: SessionRequest) throws -> BackupSession
    /// The wrap of `keyID` under one of `kekIDs`, when the vault holds one.
    func wrap(session: String, keyID: KeyID, kekIDs: [KeyID]) throws -> KeyWrapRecord?
    /// Stores wraps the vault lacks, durably, before any chunk relies on them; registers data keys.
    func storeWraps(session: String, _ records: [KeyWrapRecord]) throws
    /// For each ID, the data keys of the stored chunk in the session's domain, or nil when the vault lacks
    /// it (or holds it, or a delta's base, marked bad) and the backup must upload it.
    func lookup(session: String, _ ids: [ChunkID]) throws -> [StoredChunkKeys?]
    /// Stores one sealed chunk object (ChunkObjectHeader format) under its ID.
    func putChunk(session: String, id: ChunkID, object: UnsafeRawBufferPointer) throws
    /// A pipeline worker's own way of storing the new chunk objects it seals: each as it comes into a
    /// directory vault, gathered into batches where each call crosses a network.
    func chunkUploader(session: String) -> any ChunkUploader
    /// A stored chunk object of the session's domain, read into `buffer` (its length returned), for a
    /// backup that stores a changed chunk as a delta over it. Nil when the vault does not hold it, or does
    /// not give chunk data to backup clients (a server's backup tokens may not read any).
    func readChunk(session: String, id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int?
    /// Stores an index page; true when the vault did not hold it yet.
    func putIndexPage(session: String, _ page: [UInt8]) throws -> Bool
    /// An index page of the session's domain, by SHA-256 (hex): the previous recovery point's, for deltas.
    func indexPage(session: String, sha256: String) throws -> [UInt8]
    /// A committed manifest of the session's VM.
    func manifest(session: String, recoveryPointID: String) throws -> [UInt8]
    /// Checks the manifest against what the vault holds, makes everything durable and commits the recovery
    /// point. The session ends either way.
    func commit(session: String, manifest: [UInt8]) throws -> RecoveryPointRecord
    /// Ends a session without a recovery point; what it stored stays for a later backup to reuse.
    func abandon(session: String)
}

/// The data keys a stored chunk is opened with: its own and, for a delta, its base's. A manifest that
/// references the chunk names both, since restore accepts only keys the manifest names.
public struct StoredChunkKeys: Codable, Sendable, Equatable {
    public var dataKey: KeyID
    public var baseDataKey: KeyID?

    public init(dataKey: KeyID, baseDataKey: KeyID? = nil) {
        self.dataKey = dataKey
        self.baseDataKey = baseDataKey
    }
}

extension BackupDestination {
    public func readChunk(session: String, id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? { nil }

    public func chunkUploader(session: String) -> any ChunkUploader {
        ChunkByChunkUploader(destination: self, session: session)
    }
}

/// What a client asks for when it opens a backup session.
public struct SessionRequest: Codable, Sendable, Equatable {
    public var vmName: String
    public var host: String
    /// The key domain for a VM the vault does not know yet; nil gives it a domain of its own.
    public var domain: DomainID?
    /// Each disk's source path, in order: disks keep their IDs from one recovery point to the next.
    public var diskSources: [String]
    public var nowMillis: Int64
    /// Chosen by the client once per backup: a repeated request (its answer was lost) gets the session the
    /// first one opened instead of "in progress".
    public var requestKey: String?

    public init(vmName: String, host: String, domain: DomainID?, diskSources: [String], nowMillis: Int64,
                requestKey: String? = nil) {
        self.vmName = vmName
        self.host = host
        self.domain = domain
        self.diskSources = diskSources
        self.nowMillis = nowMillis
        self.requestKey = requestKey
    }
}

/// An open backup session: the VM and its disks as the vault names them, and what deltas start from.
public struct BackupSession: Codable, Sendable {
    public var id: String
    public var vaultID: String
    public var vm: VMRecord
    /// One per requested disk source, in the same order.
    public var disks: [DiskRecord]
    /// The VM's newest recovery point: its index pages tell which chunks need no upload.
    public var previous: RecoveryPointRecord?
    /// The domain's data keys, oldest first, with their seal counts.
    public var dataKeys: [DataKeyRecord]
    /// Chunks of the domain that verify found damaged: they are uploaded again even when an earlier
    /// recovery point names them.
    public var badChunks: [ChunkID]

    public init(id: String, vaultID: String, vm: VMRecord, disks: [DiskRecord], previous: RecoveryPointRecord?,
                dataKeys: [DataKeyRecord], badChunks: [ChunkID]) {
        self.id = id
        self.vaultID = vaultID
        self.vm = vm
        self.disks = disks
        self.previous = previous
        self.dataKeys = dataKeys
        self.badChunks = badChunks
    }
}
