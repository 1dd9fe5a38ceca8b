import HTTPTypes
import Hummingbird
import NIOCore
import TresorChunkStore
import TresorCore
import TresorEngine

/// The upload protocol (docs/server.md, "Backup sessions"): open a session, store wraps, ask which chunks
/// the vault lacks, upload those, upload index pages, commit the signed manifest.
struct SessionRoutes {
    let state: ServerState
    private static let writers: Set<Role> = [.admin, .backup, .agent]

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.post("sessions") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.writers, to: "start backups")
            let opening = try await HTTPCoding.decode(SessionRequest.self, request)
            try AccessRules.requireVM(caller, name: opening.vmName)
            try AccessRules.requireHost(caller, host: opening.host)
            return try await state.audited(context, action: "session.open", target: "vm \(opening.vmName) on \(opening.host)", durable: false) {
                let session = try await state.blocking { try state.service.openSession(opening) }
                state.metrics.openedSession()
                return try HTTPCoding.json(session, status: .created)
            }
        }
        api.get("sessions/:session/wraps/:key") { request, context in
            let session = try Self.authorize(state, context)
            guard let keyID = KeyID(hex: try context.parameters.require("key")) else {
                throw TresorError(.requestInvalid, "not a key ID (32 hex digits)")
            }
            let keks = try (request.uri.queryParameters["kek"].map(String.init) ?? "").split(separator: ",").map {
                guard let id = KeyID(hex: String($0)) else { throw TresorError(.requestInvalid, "'\($0)' is not a KEK ID") }
                return id
            }
            guard let wrap = try await state.blocking({ try state.service.wrap(session: session, keyID: keyID, kekIDs: keks) }) else {
                throw TresorError(.notFound, "no wrap of key \(keyID) for the KEKs named")
            }
            return try HTTPCoding.json(wrap)
        }
        api.post("sessions/:session/wraps") { request, context in
            let session = try Self.authorize(state, context)
            let wraps = try await HTTPCoding.decode([KeyWrapRecord].self, request)
            return try await state.audited(context, action: "wraps.store", target: "session \(session): \(wraps.count) wraps", durable: false) {
                try await state.blocking { try state.service.storeWraps(session: session, wraps) }
                return HTTPCoding.noContent()
            }
        }
        api.post("sessions/:session/lookup") { request, context in
            let session = try Self.authorize(state, context)
            let asked = try await HTTPCoding.decode(LookupRequest.self, request)
            guard asked.ids.count <= ServerLimits.maximumLookup else {
                throw TresorError(.requestTooLarge, "a lookup asks about at most \(ServerLimits.maximumLookup) IDs")
            }
            let keys = try await state.blocking { try state.service.lookup(session: session, asked.ids) }
            state.metrics.answeredLookup(asked: keys.count, present: keys.count { $0 != nil })
            return try HTTPCoding.json(LookupResponse(keys))
        }
        api.put("sessions/:session/chunks/:id") { request, context in
            let session = try Self.authorize(state, context)
            guard let id = ChunkID(hex: try context.parameters.require("id")) else {
                throw TresorError(.requestInvalid, "not a chunk ID (64 hex digits)")
            }
            return try await Self.storeChunks(request, session: session, state, context, single: id)
        }
        // Several chunk objects in one body (ChunkBatch): the whole framing is checked before any object
        // is stored, then each is stored and checked as a single upload is. An object refused part way
        // leaves those before it stored whole, as separate uploads would; the commit checks references.
        api.post("sessions/:session/chunks") { request, context in
            let session = try Self.authorize(state, context)
            return try await Self.storeChunks(request, session: session, state, context, single: nil)
        }
        // A chunk object the session may build a delta on: only for callers that may read chunk data
        // (admin); backup and agent tokens are refused, and their clients store changed chunks whole.
        api.get("sessions/:session/chunks/:id") { _, context in
            let session = try Self.authorize(state, context)
            try AccessRules.require(try context.requireCaller(), [.admin], to: "read chunk data")
            guard let id = ChunkID(hex: try context.parameters.require("id")) else {
                throw TresorError(.requestInvalid, "not a chunk ID (64 hex digits)")
            }
            let body = try await state.blocking {
                try AlignedByteBuffer.make(capacity: objectCapacity(maximumChunk: ChunkObjectHeader.maximumPlaintext)) { buffer in
                    guard let length = try state.service.readChunk(session: session, id: id, into: buffer) else {
                        throw TresorError(.notFound, "the session's domain holds no chunk \(id)")
                    }
                    return length
                }
            }
            state.metrics.served(bytes: body.readableBytes)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(byteBuffer: body))
        }
        api.post("sessions/:session/index-pages") { request, context in
            let session = try Self.authorize(state, context)
            let page = Array(try await Self.checkedOctets(request).readableBytesView)
            return try await state.audited(context, action: "index.store", target: "session \(session)", durable: false) {
                let added = try await Self.cleaningUpWhenFull(state, session) { try state.service.putIndexPage(session: session, page) }
                return try HTTPCoding.json(IndexPageStored(added: added))
            }
        }
        api.get("sessions/:session/index-pages/:sha") { _, context in
            let session = try Self.authorize(state, context)
            let hash = try context.parameters.require("sha")
            return HTTPCoding.bytes(try await state.blocking { try state.service.indexPage(session: session, sha256: hash) })
        }
        api.get("sessions/:session/manifests/:id") { _, context in
            let session = try Self.authorize(state, context)
            let id = try context.parameters.require("id")
            return HTTPCoding.bytes(try await state.blocking { try state.service.manifest(session: session, recoveryPointID: id) })
        }
        api.post("sessions/:session/commit") { request, context in
            let session = try Self.authorize(state, context)
            let manifest = Array(try await Self.checkedOctets(request).readableBytesView)
            return try await state.audited(context, action: "session.commit", target: "session \(session)", durable: true) {
                let record = try await Self.cleaningUpWhenFull(state, session) { try state.service.commit(session: session, manifest: manifest) }
                state.metrics.committed()
                return try HTTPCoding.json(record, status: .created)
            }
        }
        api.delete("sessions/:session") { _, context in
            let session = try Self.authorize(state, context)
            return try await state.audited(context, action: "session.abandon", target: "session \(session)", durable: true) {
                state.service.abandon(session: session)
                return HTTPCoding.noContent()
            }
        }
    }

    /// The session a call names, once the caller may write to its VM.
    private static func authorize(_ state: ServerState, _ context: VaultRequestContext) throws -> String {
        let caller = try context.requireCaller()
        try AccessRules.require(caller, Self.writers, to: "take part in backups")
        let session = try context.parameters.require("session")
        try AccessRules.requireVM(caller, name: try state.service.sessionVMName(session))
        try AccessRules.requireHost(caller, host: try state.service.sessionHost(session))
        return session
    }

    /// An octet-stream body whose CRC-32C matches the x-tresor-crc32c header: bytes damaged in transit are
    /// refused before anything is stored.
    private static func checkedOctets(_ request: Request) async throws -> ByteBuffer {
        try HTTPCoding.requireOctets(request)
        guard let expected = request.headers[.tresorCRC32C] else {
            throw TresorError(.requestInvalid, "uploads carry their CRC-32C in x-tresor-crc32c")
        }
        let body = try await HTTPCoding.body(request)
        let actual = body.withUnsafeReadableBytes { CRC32C.hex($0) }
        guard actual == expected.lowercased() else {
            throw TresorError(.requestInvalid, "the body's CRC-32C does not match x-tresor-crc32c (damaged in transit)",
                              action: "send it again")
        }
        return body
    }

    /// An upload of chunk objects, one (`PUT …/chunks/{id}`, `single`) or a batch: an upload slot, the body
    /// received, checksummed and (a batch) placed object by object with its whole framing checked before
    /// any is stored, each stored as `putChunk` checks it, and one audit line.
    private static func storeChunks(_ request: Request, session: String, _ state: ServerState, _ context: VaultRequestContext,
                                    single id: ChunkID?) async throws -> Response {
        try await state.uploads.withSlot {
            let limit = id == nil ? ServerLimits.maximumBatch : ServerLimits.maximumBody
            return try await state.receiver.receive(request, limit: limit, channel: context.channel, batch: id == nil) { received in
                let body = received.bytes
                let entries = id.map { [ChunkBatch.Entry(id: $0, range: 0..<received.length)] } ?? received.entries ?? []
                let target = entries.count == 1 ? "session \(session): chunk \(entries[0].id)" : "session \(session): \(entries.count) chunks"
                return try await state.audited(context, action: "chunk.store", target: target, durable: false) {
                    try await Self.cleaningUpWhenFull(state, session) {
                        try body.withUnsafeBytes { bytes in
                            for entry in entries {
                                try state.service.putChunk(session: session, id: entry.id, object: UnsafeRawBufferPointer(rebasing: bytes[entry.range]))
                            }
                        }
                    }
                    for entry in entries { state.metrics.storedChunk(bytes: entry.range.count) }
                    return HTTPCoding.noContent()
                }
            }
        }
    }

    /// A full store (or a quota reached) fails the call with 507 and ends the session, so nothing waits on space that will not
    /// come; recovery points already committed are untouched.
    private static func cleaningUpWhenFull<T: Sendable>(_ state: ServerState, _ session: String,
                                                       _ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await state.blocking(body)
        } catch let error as TresorError where error.code == .storageFull || error.code == .quotaExceeded {
            state.service.end(session: session, because: error)
            throw error
        }
    }
}
