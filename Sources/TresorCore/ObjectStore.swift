/// The chunk store as the engine sees it: named, immutable objects (docs/formats.md).
///
/// Calls block; the engine makes them from its own worker threads. `put` is atomic (an object is
/// either absent or complete) but may not be durable until `synchronize()` returns, so a backup writes
/// thousands of objects and pays for durability once, before its manifest commits.
public protocol ObjectStore: Sendable {
    /// Stores `bytes` under `key`, replacing any object of that name atomically.
    func put(_ key: ObjectKey, bytes: UnsafeRawBufferPointer) throws
    /// Stores `bytes` and makes them durable before returning (manifests: the commit point).
    func putDurably(_ key: ObjectKey, bytes: [UInt8]) throws
    /// The whole object; `.missingObject` when absent.
    func get(_ key: ObjectKey) throws -> [UInt8]
    /// Reads the object into `buffer` and returns its length; `.missingObject` when absent,
    /// `.corruptObject` when it is larger than the buffer.
    func read(_ key: ObjectKey, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Reads at most `buffer.count` bytes from the object's start and returns how many were read
    /// (headers, without reading whole chunks).
    func readPrefix(_ key: ObjectKey, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// The object's size, or nil when it does not exist.
    func size(of key: ObjectKey) throws -> Int?
    /// Every object path below `folder`, recursively.
    func list(folder: String) throws -> [ObjectKey]
    func delete(_ key: ObjectKey) throws
    /// Makes every earlier `put` and `delete` durable.
    func synchronize() throws
    /// How many chunk objects one `readChunks` call should ask for at this chunk size; 1 when reading
    /// them one by one costs no more (a directory store).
    func chunkReadBatch(chunkSize: Int) -> Int
    /// Reads chunk objects of one domain into `buffer` (at least `ChunkReadBatch.bufferBytes` for them)
    /// and returns where each lies, in the order asked; `.missingObject` when one is absent.
    func readChunks(domain: DomainID, ids: [ChunkID], into buffer: UnsafeMutableRawBufferPointer) throws -> [Range<Int>]
    /// The sizes of chunk objects of one domain, nil for each one absent (any number of IDs).
    func chunkSizes(domain: DomainID, ids: [ChunkID]) throws -> [Int?]
}

extension ObjectStore {
    public func chunkReadBatch(chunkSize: Int) -> Int { 1 }

    public func chunkSizes(domain: DomainID, ids: [ChunkID]) throws -> [Int?] {
        try ids.map { try self.size(of: .chunk(domain: domain, id: $0)) }
    }

    /// One read per object, each at an aligned offset of `buffer` as direct I/O wants it.
    public func readChunks(domain: DomainID, ids: [ChunkID], into buffer: UnsafeMutableRawBufferPointer) throws -> [Range<Int>] {
        var offset = 0
        return try ids.map { id in
            let start = offset
            let length = try self.read(.chunk(domain: domain, id: id), into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
            offset = ChunkReadBatch.alignedLength(start + length)
            return start..<start + length
        }
    }

    public func put(_ key: ObjectKey, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try self.put(key, bytes: $0) }
    }
}
