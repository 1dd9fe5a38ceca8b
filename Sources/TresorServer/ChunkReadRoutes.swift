import Hummingbird
import NIOCore
import TresorCore
import TresorEngine

/// Several chunk objects of one domain in one answer (ChunkReadBatch), for restores and verifies, and
/// many chunk objects' sizes in one answer, for verify's structure check: the same objects, under the
/// same rules, as `GET` and `HEAD /v1/objects/domains/D/chunks/...` one at a time.
struct ChunkReadRoutes {
    let state: ServerState

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.post("chunk-reads") { request, context in
            let body = try await Self.readingChunks(request, context, state, maximum: ChunkReadBatch.maximumEntries, limit: 64 << 10) { keys in
                try Self.read(keys, state)
            }
            state.metrics.served(bytes: body.readableBytes)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(byteBuffer: body))
        }
        // Sizes instead of objects, many per request: a verify's structure check, not a HEAD per chunk.
        api.post("chunk-sizes") { request, context in
            let sizes = try await Self.readingChunks(request, context, state, maximum: ChunkSizesResponse.maximumIDs, limit: 128 << 10) { keys in
                try keys.map { try state.vault.store.size(of: $0) }
            }
            return try HTTPCoding.json(ChunkSizesResponse(sizes: sizes))
        }
    }

    /// Runs `body` on a blocking thread with the keys of the 1 to `maximum` chunks a request names, once
    /// the caller may read them.
    private static func readingChunks<T: Sendable>(_ request: Request, _ context: VaultRequestContext, _ state: ServerState, maximum: Int,
                                                   limit: Int, _ body: @escaping @Sendable ([ObjectKey]) throws -> T) async throws -> T {
        let asked = try await HTTPCoding.decode(ChunkReadRequest.self, request, limit: limit)
        guard (1...maximum).contains(asked.ids.count) else {
            throw TresorError(.requestInvalid, "ask about 1 to \(maximum) chunks at once, not \(asked.ids.count)")
        }
        let keys = asked.ids.map { ObjectKey.chunk(domain: asked.domain, id: $0) }
        let caller = try context.requireCaller()
        return try await state.blocking {
            // Every key lies in the one domain, which is all the rule looks at for chunks.
            try AccessRules.requireObjectRead(caller, path: keys[0].path, vault: state.vault)
            return try body(keys)
        }
    }

    /// The objects read with direct I/O straight into their aligned places in the response. Padding is
    /// zeroed, so no byte of an earlier response's memory is sent.
    private static func read(_ keys: [ObjectKey], _ state: ServerState) throws -> ByteBuffer {
        let lengths = try keys.map { key in
            guard let size = try state.vault.store.size(of: key) else {
                throw TresorError(.notFound, "the vault holds no object \(key.path)")
            }
            return size
        }
        guard let layout = ChunkReadBatch.layout(lengths: lengths) else {
            throw TresorError(.requestTooLarge, "these \(keys.count) chunks hold more than one answer carries (\(ChunkReadBatch.maximumBytes) bytes)",
                              action: "ask for fewer at once")
        }
        return try AlignedByteBuffer.make(capacity: layout.total) { body in
            ChunkReadBatch.writeTable(lengths: lengths, into: body)
            for (index, key) in keys.enumerated() {
                let start = layout.offsets[index]
                let end = start + ChunkReadBatch.alignedLength(lengths[index])
                let read: Int
                do {
                    read = try state.vault.store.read(key, into: UnsafeMutableRawBufferPointer(rebasing: body[start..<end]))
                } catch let error as TresorError where error.code == .missingObject {
                    throw TresorError(.notFound, "the vault holds no object \(key.path)")
                }
                guard read == lengths[index] else {
                    throw TresorError(.corruptObject, "object \(key.path) changed size while it was read")
                }
                UnsafeMutableRawBufferPointer(rebasing: body[start + read..<end]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            return layout.total
        }
    }
}
