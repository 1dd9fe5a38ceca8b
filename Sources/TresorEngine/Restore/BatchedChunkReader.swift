import TresorCore

/// One restore or verify worker's reads from a vault that answers several chunks per request (a served
/// vault, `ObjectStore.chunkReadBatch` > 1): a run of chunks of one domain in one request, then the bases
/// of those that are deltas in a second, so that a delta costs no request of its own. What arrives is
/// checked by the ChunkOpener as if each object had been read alone.
final class BatchedChunkReader {
    private let store: any ObjectStore
    /// The domain of the last fetch.
    private var domain: DomainID?
    private let chunkSize: Int
    private let objects: UnsafeMutableRawBufferPointer
    /// Sized for the most bases one fetch has needed so far: most runs of chunks hold no delta, or one.
    private var bases: UnsafeMutableRawBufferPointer?
    private var fetched: [ChunkID: UnsafeRawBufferPointer] = [:]
    private var fetchedBases: [ChunkID: UnsafeRawBufferPointer] = [:]

    init(store: any ObjectStore, batch: Int, chunkSize: Int) {
        self.store = store
        self.chunkSize = chunkSize
        self.objects = .allocate(byteCount: ChunkReadBatch.bufferBytes(count: batch, chunkSize: chunkSize), alignment: POSIX.directIOAlignment)
    }

    deinit {
        self.objects.deallocate()
        self.bases?.deallocate()
    }

    /// Fetches these chunks of `domain` (at most the batch, none zero) and the bases of those that are deltas.
    func fetch(_ ids: [ChunkID], domain: DomainID) throws {
        self.domain = domain
        self.fetched = [:]
        self.fetchedBases = [:]
        var unique: [ChunkID] = []
        for id in ids where !unique.contains(id) { unique.append(id) }
        self.fetched = try self.read(unique, domain: domain, into: self.objects)
        var baseIDs: [ChunkID] = []
        for object in self.fetched.values {
            // A header that does not parse is reported by the opener, with the chunk's name.
            guard let base = (try? ChunkObjectHeader.decode(object, objectLength: object.count, name: ""))?.base,
                  self.fetched[base] == nil, !baseIDs.contains(base) else { continue }
            baseIDs.append(base)
        }
        if !baseIDs.isEmpty {
            self.fetchedBases = try self.read(baseIDs, domain: domain, into: self.basesBuffer(count: baseIDs.count))
        }
    }

    private func basesBuffer(count: Int) -> UnsafeMutableRawBufferPointer {
        let bytes = ChunkReadBatch.bufferBytes(count: count, chunkSize: self.chunkSize)
        if let bases = self.bases, bases.count >= bytes { return bases }
        self.bases?.deallocate()
        let bases = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: POSIX.directIOAlignment)
        self.bases = bases
        return bases
    }

    /// The object of a chunk the last `fetch` asked for.
    func object(_ id: ChunkID) -> UnsafeRawBufferPointer? { self.fetched[id] }

    /// A delta's base (the opener's `read`): from the last fetch when it came with it, else read alone.
    func readBase(_ id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let object = self.fetchedBases[id] ?? self.fetched[id] else {
            guard let domain = self.domain else { throw TresorError(.missingObject, "base \(id) was asked for before any chunk") }
            return try self.store.read(.chunk(domain: domain, id: id), into: buffer)
        }
        guard object.count <= buffer.count else {
            throw TresorError(.corruptObject, "base \(id) is larger than any chunk object of this recovery point")
        }
        buffer.copyMemory(from: object)
        return object.count
    }

    private func read(_ ids: [ChunkID], domain: DomainID, into buffer: UnsafeMutableRawBufferPointer) throws -> [ChunkID: UnsafeRawBufferPointer] {
        let ranges = try self.store.readChunks(domain: domain, ids: ids, into: buffer)
        return Dictionary(zip(ids, ranges.map { UnsafeRawBufferPointer(rebasing: buffer[$0]) }), uniquingKeysWith: { first, _ in first })
    }
}
