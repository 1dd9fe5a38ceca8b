import Hummingbird
import NIOPosix
import TresorChunkStore
import TresorCore
import TresorEngine
import TresorCatalog

/// Everything a request handler reaches: the vault behind its service, the tokens, the audit log.
final class ServerState: Sendable {
    let directory: VaultDirectory
    let service: VaultService
    /// Jobs and agents' reports (docs/jobs.md).
    let jobs: JobQueue
    let tokens: SQLiteTokenStore
    let audit: AuditLog
    /// Threads for the store's and catalog's blocking calls, so they never hold Swift's cooperative pool.
    let pool: NIOThreadPool
    let metrics = ServerMetrics()
    /// At most 4 chunk uploads received at once (and never more than threads to store them): more would
    /// only hold memory while they wait, and a server's memory must not grow with its clients. Requests
    /// past the limit wait before their body is read. Each slot's buffer holds up to an 8 MiB batch; with 8
    /// slots (and 2 MiB batches), 2 clients rarely filled them all and 20 always did, which alone made the
    /// server 7–9 MiB larger with 20 clients. Receiving and storing is CPU-bound, so 4 at once are as fast
    /// (docs/server.md, Figures, 2026-11-23).
    let uploads: UploadSlots
    /// Page-aligned buffers for uploads received, so they go to the store with direct I/O; as many as were
    /// in use at once. Sized for the largest body laid out for direct I/O, which holds any single chunk
    /// object too. (Objects served are read into their response's own buffer: AlignedByteBuffer.)
    let buffers = AlignedBufferPool(bufferSize: ChunkBatchPlacement.capacity(forBody: ServerLimits.maximumBatch))
    var receiver: UploadReceiver { UploadReceiver(buffers: self.buffers) }

    var vault: Vault { self.service.vault }

    static let uploadSlots = 4

    init(directory: VaultDirectory, service: VaultService, jobs: JobQueue, tokens: SQLiteTokenStore, audit: AuditLog, pool: NIOThreadPool,
         blockingThreads: Int) {
        self.directory = directory
        self.service = service
        self.jobs = jobs
        self.tokens = tokens
        self.audit = audit
        self.pool = pool
        self.uploads = UploadSlots(min(blockingThreads, Self.uploadSlots))
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await self.pool.runIfActive(body)
    }

    /// Records a mutating call. An audit log that cannot be written fails the call: nothing changes unseen.
    func record(_ context: VaultRequestContext, action: String, target: String, result: String, durable: Bool) throws {
        let caller = context.caller
        try self.audit.append(AuditEntry(atMillis: VaultClock.nowMillis, actor: caller?.id ?? "anonymous", role: caller?.role.rawValue ?? "-",
                                         action: action, target: target, result: result, requestID: context.id),
                              durable: durable)
    }

    /// A collection, unless a reader on the vault's machine holds the directory (it is then skipped).
    func collectGarbage() throws -> GarbageReport {
        try self.service.collectGarbage(now: VaultClock.nowMillis, readersLock: { try self.directory.readersLock(exclusive: true) })
    }

    /// Runs a mutating call and writes its audit entry with the outcome.
    func audited(_ context: VaultRequestContext, action: String, target: String, durable: Bool,
                 _ body: () async throws -> Response) async throws -> Response {
        do {
            let response = try await body()
            try self.record(context, action: action, target: target, result: "ok", durable: durable)
            return response
        } catch let error as TresorError {
            // A refusal is recorded once, by the token middleware, wherever the route checked the rights.
            if error.code != .forbidden {
                try self.record(context, action: action, target: target, result: error.code.rawValue, durable: durable)
            }
            throw error
        }
    }
}
