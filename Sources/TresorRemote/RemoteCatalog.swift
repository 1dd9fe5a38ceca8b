import NIOCore
import NIOHTTP1
public import TresorCore

/// A served vault's catalog as a `Catalog`, for reading: list, restore and verify find VMs and recovery
/// points this way. Changes happen on the server (sessions commit there).
public final class RemoteCatalog: Catalog {
    private let connection: VaultConnection

    public init(connection: VaultConnection) {
        self.connection = connection
    }

    public func findVM(name: String, host: String?) throws -> [VMRecord] {
        let query = "name=\(VaultConnection.escape(name))" + (host.map { "&host=\(VaultConnection.escape($0))" } ?? "")
        return try self.connection.getJSON([VMRecord].self, "/v1/vms?\(query)")
    }

    public func vm(id: String) throws -> VMRecord? {
        let reply = try self.connection.send(.GET, "/v1/vms/\(VaultConnection.escape(id))", allowNotFound: true)
        return reply.status == 404 ? nil : try VaultConnection.decode(VMRecord.self, reply)
    }

    public func disks(vmID: String) throws -> [DiskRecord] {
        try self.connection.getJSON([DiskRecord].self, "/v1/vms/\(VaultConnection.escape(vmID))/disks")
    }

    public func recoveryPoints(vmID: String?) throws -> [RecoveryPointRecord] {
        try self.connection.getJSON([RecoveryPointRecord].self, "/v1/recovery-points" + (vmID.map { "?vm=\(VaultConnection.escape($0))" } ?? ""))
    }

    public func recoveryPoint(id: String) throws -> RecoveryPointRecord? {
        let reply = try self.connection.send(.GET, "/v1/recovery-points/\(VaultConnection.escape(id))", allowNotFound: true)
        return reply.status == 404 ? nil : try VaultConnection.decode(RecoveryPointRecord.self, reply)
    }

    public func badChunks(domain: DomainID) throws -> Set<ChunkID> {
        Set(try self.connection.getJSON([ChunkID].self, "/v1/domains/\(domain)/bad-chunks"))
    }

    public func dataKeys(domain: DomainID) throws -> [DataKeyRecord] {
        try self.connection.getJSON([DataKeyRecord].self, "/v1/domains/\(domain)/data-keys")
    }

    public func usage() throws -> CatalogUsage {
        try self.connection.getJSON(VaultSummary.self, "/v1/vault").usage
    }

    /// What verify found damaged, reported to the vault so later backups upload it again.
    public func markBad(domain: DomainID, ids: [ChunkID]) throws {
        _ = try self.connection.send(.POST, "/v1/domains/\(domain)/bad-chunks", body: ByteBuffer(bytes: try JSON.encode(ids)),
                                     contentType: "application/json")
    }

    /// The whole domain's chunk list stays on the server: backups ask in batches through their session.
    public func goodChunks(domain: DomainID) throws -> [ChunkID: KeyID] { throw Self.serverSide }
    public func registerVM(_ vm: VMRecord) throws { throw Self.serverSide }
    public func commit(_ commit: CatalogCommit) throws { throw Self.serverSide }
    public func registerChunks(domain: DomainID, _ chunks: [StoredChunk]) throws { throw Self.serverSide }
    /// The server keeps this for its own collection and does not serve it: a remote verify finds a delta
    /// whose base is missing when it reads the delta (`--read-data`), not from the structure check.
    public func deltaBases(domain: DomainID) throws -> [ChunkID: ChunkID] { [:] }
    public func registerDataKey(domain: DomainID, keyID: KeyID, createdAtMillis: Int64) throws { throw Self.serverSide }
    public func addSeals(domain: DomainID, _ seals: [KeyID: Int64]) throws { throw Self.serverSide }
    public func removeAll() throws { throw Self.serverSide }
    public func setDeleted(recoveryPointID: String, atMillis: Int64?) throws { throw Self.serverSide }
    public func removeRecoveryPoint(id: String) throws { throw Self.serverSide }
    public func removeChunks(domain: DomainID, ids: [ChunkID]) throws { throw Self.serverSide }

    static let serverSide = TresorError(.invalidArgument, "this changes a served vault's catalog, which only the vault itself does",
                                        action: "run this command on the vault's machine with --vault DIR")
}

/// A served vault as the engine uses one: its ID, read-only objects and catalog, and backup sessions.
public struct RemoteVault: Sendable {
    public let connection: VaultConnection
    public let vaultID: String

    public init(url: String, token: String, trust: ServerTrust = .systemRoots) throws {
        self.connection = try VaultConnection(url: url, token: token, trust: trust)
        self.vaultID = try self.connection.getJSON(VaultSummary.self, "/v1/vault").vaultID
    }

    public var store: RemoteObjectStore { RemoteObjectStore(connection: self.connection) }
    public var catalog: RemoteCatalog { RemoteCatalog(connection: self.connection) }
    public var destination: RemoteBackupDestination { RemoteBackupDestination(connection: self.connection) }
    public var keyWraps: RemoteKeyWraps { RemoteKeyWraps(connection: self.connection) }
    public var maintenance: RemoteMaintenance { RemoteMaintenance(connection: self.connection) }
    public var policies: RemotePolicies { RemotePolicies(connection: self.connection) }
    public var protection: RemoteProtection { RemoteProtection(connection: self.connection) }
    public var jobs: RemoteJobs { RemoteJobs(connection: self.connection) }
}
