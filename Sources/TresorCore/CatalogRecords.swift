/// A protected VM as the catalog knows it. The ID is stable; name and host are how users name it, and two
/// VMs of one name are told apart by host.
public struct VMRecord: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var host: String
    public var domainID: DomainID
    public var createdAtMillis: Int64

    public init(id: String, name: String, host: String, domainID: DomainID, createdAtMillis: Int64) {
        self.id = id
        self.name = name
        self.host = host
        self.domainID = domainID
        self.createdAtMillis = createdAtMillis
    }
}

/// A disk of a VM, stable across recovery points: matched by its source path.
public struct DiskRecord: Sendable, Equatable, Codable {
    public var id: String
    public var vmID: String
    public var source: String

    public init(id: String, vmID: String, source: String) {
        self.id = id
        self.vmID = vmID
        self.source = source
    }
}

/// A committed recovery point, summarised from its manifest.
public struct RecoveryPointRecord: Sendable, Equatable, Codable {
    public var id: String
    public var vmID: String
    public var vmName: String
    public var host: String
    public var domainID: DomainID
    public var sequence: UInt64
    public var createdAtMillis: Int64
    /// SHA-256 (hex) of the signed manifest object: the next recovery point's `previousManifest`.
    public var manifestSHA256: String
    public var chunkSize: Int
    public var diskCount: Int
    public var logicalBytes: Int64
    public var bytesStored: Int64
    public var consistency: String
    /// When it was soft-deleted (vault clock, ms); nil while it is live. A soft-deleted point keeps its
    /// data for the vault's soft-delete period, cannot be restored until undeleted, and still counts in
    /// its VM's chain.
    public var deletedAtMillis: Int64? = nil

    public init(id: String, vmID: String, vmName: String, host: String, domainID: DomainID, sequence: UInt64,
                createdAtMillis: Int64, manifestSHA256: String, chunkSize: Int, diskCount: Int, logicalBytes: Int64,
                bytesStored: Int64, consistency: String) {
        self.id = id
        self.vmID = vmID
        self.vmName = vmName
        self.host = host
        self.domainID = domainID
        self.sequence = sequence
        self.createdAtMillis = createdAtMillis
        self.manifestSHA256 = manifestSHA256
        self.chunkSize = chunkSize
        self.diskCount = diskCount
        self.logicalBytes = logicalBytes
        self.bytesStored = bytesStored
        self.consistency = consistency
    }
}

/// A chunk object the store holds, as the catalog indexes it for deduplication.
public struct StoredChunk: Sendable, Equatable {
    public var id: ChunkID
    public var storedBytes: Int
    public var dataKeyID: KeyID
    /// For a delta chunk: the whole chunk it is rebuilt from, which stays while the delta does.
    public var base: ChunkID?

    public init(id: ChunkID, storedBytes: Int, dataKeyID: KeyID, base: ChunkID? = nil) {
        self.id = id
        self.storedBytes = storedBytes
        self.dataKeyID = dataKeyID
        self.base = base
    }
}

/// A data key known in a domain, with how many chunks were sealed under it (for rotation before the
/// nonce bound; Keys/README.md).
public struct DataKeyRecord: Sendable, Equatable, Codable {
    public var domainID: DomainID
    public var keyID: KeyID
    public var createdAtMillis: Int64
    public var sealCount: Int64

    public init(domainID: DomainID, keyID: KeyID, createdAtMillis: Int64, sealCount: Int64) {
        self.domainID = domainID
        self.keyID = keyID
        self.createdAtMillis = createdAtMillis
        self.sealCount = sealCount
    }
}
