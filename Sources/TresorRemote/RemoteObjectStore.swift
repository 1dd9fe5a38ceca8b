import NIOCore
import NIOHTTP1
public import TresorCore

/// A served vault's objects as an `ObjectStore`, read-only: restore and verify read chunks, pages, wraps
/// and manifests this way and check them with their own keys. Writes go through backup sessions only.
public final class RemoteObjectStore: ObjectStore {
    private let connection: VaultConnection

    public init(connection: VaultConnection) {
        self.connection = connection
    }

    public func get(_ key: ObjectKey) throws -> [UInt8] {
        Array(try self.fetch(key).readableBytesView)
    }

    /// The object's bytes arrive straight into `buffer` (BodyIntoBuffer).
    public func read(_ key: ObjectKey, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let reply = try self.connection.send(.GET, "/v1/objects/\(key.path)", allowNotFound: true, into: buffer)
        guard reply.status != 404 else {
            throw TresorError(.missingObject, "object \(key.path) is missing from the vault")
        }
        return reply.received
    }

    /// About 4 MiB of objects per request (ChunkReadBatch): a served vault's cost is mostly per request.
    public func chunkReadBatch(chunkSize: Int) -> Int { ChunkReadBatch.entries(chunkSize: chunkSize) }

    public func readChunks(domain: DomainID, ids: [ChunkID], into buffer: UnsafeMutableRawBufferPointer) throws -> [Range<Int>] {
        let request = ByteBuffer(bytes: try JSON.encode(ChunkReadRequest(domain: domain, ids: ids)))
        let reply = try self.connection.send(.POST, "/v1/chunk-reads", body: request, contentType: "application/json",
                                             allowNotFound: true, into: buffer)
        guard reply.status != 404 else {
            // The vault's message names the chunk.
            let envelope = try? JSON.decode(ErrorEnvelope.self, from: Array(reply.body.readableBytesView), what: "error")
            throw TresorError(.missingObject, envelope?.error.message ?? "a chunk of domain \(domain) is missing from the vault")
        }
        return try ChunkReadBatch.ranges(in: UnsafeRawBufferPointer(rebasing: buffer[0..<reply.received]), count: ids.count)
    }

    /// Up to `ChunkSizesResponse.maximumIDs` sizes per request, instead of a HEAD per chunk.
    public func chunkSizes(domain: DomainID, ids: [ChunkID]) throws -> [Int?] {
        var sizes: [Int?] = []
        sizes.reserveCapacity(ids.count)
        for start in stride(from: 0, to: ids.count, by: ChunkSizesResponse.maximumIDs) {
            let slice = Array(ids[start..<min(start + ChunkSizesResponse.maximumIDs, ids.count)])
            let answer = try self.connection.postJSON(ChunkSizesResponse.self, "/v1/chunk-sizes", ChunkReadRequest(domain: domain, ids: slice))
            guard answer.sizes.count == slice.count else {
                throw TresorError(.serverError, "the vault answered \(answer.sizes.count) sizes for \(slice.count) chunks")
            }
            sizes += answer.sizes
        }
        return sizes
    }

    public func readPrefix(_ key: ObjectKey, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let body = try self.fetch(key)
        let count = min(body.readableBytes, buffer.count)
        body.withUnsafeReadableBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        return count
    }

    public func size(of key: ObjectKey) throws -> Int? {
        let reply = try self.connection.send(.HEAD, "/v1/objects/\(key.path)", allowNotFound: true)
        guard reply.status != 404 else { return nil }
        guard let size = reply.headers.first(name: "x-tresor-size").flatMap(Int.init) else {
            throw TresorError(.serverError, "the vault did not say how large \(key.path) is")
        }
        return size
    }

    public func list(folder: String) throws -> [ObjectKey] {
        let listing = try self.connection.getJSON(ObjectListing.self, "/v1/listing/\(folder)")
        return try listing.paths.map {
            guard let key = ObjectKey(listedPath: $0), $0.hasPrefix(folder + "/") else {
                throw TresorError(.corruptObject, "the vault listed '\($0)' under \(folder)")
            }
            return key
        }
    }

    private func fetch(_ key: ObjectKey) throws -> ByteBuffer {
        let reply = try self.connection.send(.GET, "/v1/objects/\(key.path)", allowNotFound: true)
        guard reply.status != 404 else {
            throw TresorError(.missingObject, "object \(key.path) is missing from the vault")
        }
        return reply.body
    }

    public func put(_ key: ObjectKey, bytes: UnsafeRawBufferPointer) throws { throw Self.readOnly }
    public func putDurably(_ key: ObjectKey, bytes: [UInt8]) throws { throw Self.readOnly }
    public func delete(_ key: ObjectKey) throws { throw Self.readOnly }
    public func synchronize() throws {}

    static let readOnly = TresorError(.invalidArgument, "a served vault's objects change through backup sessions only",
                                      action: "run this command on the vault's machine with --vault DIR")
}
