import NIOCore
import Synchronization
import NIOHTTP1
public import TresorCore

/// A backup's session with a vault server: the calls of `BackupDestination`, one HTTP request each
/// (docs/server.md, "Backup sessions"). Lookups go in batches of IDs, and each worker's new chunk objects
/// in chunk batches of up to 8 MiB (`BatchingChunkUploader`); `putChunk` sends one object alone.
public final class RemoteBackupDestination: BackupDestination {
    private let connection: VaultConnection
    private let chunkReadsRefused = Atomic<Bool>(false)

    public init(connection: VaultConnection) {
        self.connection = connection
    }

    /// Each question crosses the network: a worker asks about this many chunks at once.
    public var lookupBatchSize: Int { 8 }

    public func openSession(_ request: SessionRequest) throws -> BackupSession {
        try self.connection.postJSON(BackupSession.self, "/v1/sessions", request)
    }

    public func wrap(session: String, keyID: KeyID, kekIDs: [KeyID]) throws -> KeyWrapRecord? {
        let keks = kekIDs.map(\.hex).joined(separator: ",")
        let reply = try self.connection.send(.GET, "/v1/sessions/\(session)/wraps/\(keyID.hex)?kek=\(keks)", allowNotFound: true)
        return reply.status == 404 ? nil : try VaultConnection.decode(KeyWrapRecord.self, reply)
    }

    public func storeWraps(session: String, _ records: [KeyWrapRecord]) throws {
        _ = try self.connection.send(.POST, "/v1/sessions/\(session)/wraps", body: ByteBuffer(bytes: try JSON.encode(records)),
                                     contentType: "application/json")
    }

    public func lookup(session: String, _ ids: [ChunkID]) throws -> [StoredChunkKeys?] {
        try self.connection.postJSON(LookupResponse.self, "/v1/sessions/\(session)/lookup", LookupRequest(ids: ids)).answers(asked: ids.count)
    }

    public func putChunk(session: String, id: ChunkID, object: UnsafeRawBufferPointer) throws {
        _ = try self.connection.send(.PUT, "/v1/sessions/\(session)/chunks/\(id.hex)", body: ByteBuffer(bytes: object),
                                     contentType: "application/octet-stream", checksum: true)
    }

    /// Several chunks per request: each request costs both sides far more than its bytes do (docs/server.md,
    /// "Figures"). Each worker gathers up to `ChunkBatch.objectBytesPerBatch` into its request body.
    public func chunkUploader(session: String) -> any ChunkUploader {
        BatchingChunkUploader(connection: self.connection, session: session)
    }

    /// Chunk objects to build deltas on, for tokens that may read chunk data (admin); a backup or agent
    /// token is refused once, and the backup then stores changed chunks whole without asking again.
    public func readChunk(session: String, id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        if self.chunkReadsRefused.load(ordering: .relaxed) { return nil }
        let reply: VaultConnection.Reply
        do {
            // Straight into the buffer (BodyIntoBuffer), as restores read objects.
            reply = try self.connection.send(.GET, "/v1/sessions/\(session)/chunks/\(id.hex)", allowNotFound: true, into: buffer)
        } catch let error as TresorError where error.code == .forbidden {
            self.chunkReadsRefused.store(true, ordering: .relaxed)
            return nil
        }
        return reply.status == 404 ? nil : reply.received
    }

    public func putIndexPage(session: String, _ page: [UInt8]) throws -> Bool {
        let reply = try self.connection.send(.POST, "/v1/sessions/\(session)/index-pages", body: ByteBuffer(bytes: page),
                                             contentType: "application/octet-stream", checksum: true)
        return try VaultConnection.decode(IndexPageStored.self, reply).added
    }

    public func indexPage(session: String, sha256: String) throws -> [UInt8] {
        Array(try self.connection.send(.GET, "/v1/sessions/\(session)/index-pages/\(VaultConnection.escape(sha256))").body.readableBytesView)
    }

    public func manifest(session: String, recoveryPointID: String) throws -> [UInt8] {
        Array(try self.connection.send(.GET, "/v1/sessions/\(session)/manifests/\(VaultConnection.escape(recoveryPointID))").body.readableBytesView)
    }

    public func commit(session: String, manifest: [UInt8]) throws -> RecoveryPointRecord {
        try VaultConnection.decode(RecoveryPointRecord.self, try self.connection.send(
            .POST, "/v1/sessions/\(session)/commit", body: ByteBuffer(bytes: manifest), contentType: "application/octet-stream",
            checksum: true))
    }

    public func abandon(session: String) {
        _ = try? self.connection.send(.DELETE, "/v1/sessions/\(session)", allowNotFound: true)
    }
}
