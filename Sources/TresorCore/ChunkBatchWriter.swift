/// The bytes a chunk batch is built in. A client sending batches builds each straight into its request
/// body (a NIO ByteBuffer, in TresorRemote), so that no batch is held twice; an array does for tests.
public protocol ChunkBatchBody {
    var batchByteCount: Int { get }
    mutating func appendBatchBytes(_ bytes: UnsafeRawBufferPointer)
    /// Overwrites the four bytes at `offset`, little-endian.
    mutating func setBatchUInt32(_ value: UInt32, at offset: Int)
    /// Drops every byte from `count` on.
    mutating func truncateBatch(to count: Int)
}

/// Builds a chunk batch (ChunkBatch's format) in `body`, entry by entry.
public struct ChunkBatchWriter<Body: ChunkBatchBody> {
    public private(set) var body: Body
    public private(set) var count = 0

    /// Starts an empty batch in `body`, dropping whatever it held.
    public init(body: Body) {
        self.body = body
        self.body.truncateBatch(to: 0)
        ChunkBatch.magic.withUnsafeBytes { self.body.appendBatchBytes($0) }
        [ChunkBatch.version, 0, 0, 0, 0, 0, 0, 0].withUnsafeBytes { self.body.appendBatchBytes($0) }
    }

    public var isEmpty: Bool { self.count == 0 }

    /// Whether an object of `length` bytes still fits under `limit` bytes of body (and the entry limit).
    public func fits(_ length: Int, limit: Int) -> Bool {
        self.count < ChunkBatch.maximumEntries && self.body.batchByteCount + ChunkBatch.entryHeaderByteCount + length <= limit
    }

    public mutating func append(id: ChunkID, object: UnsafeRawBufferPointer) {
        precondition(self.count < ChunkBatch.maximumEntries && object.count <= ChunkBatch.maximumObject)
        withUnsafeTemporaryAllocation(byteCount: ChunkBatch.entryHeaderByteCount, alignment: 8) { header in
            id.write(to: header)
            header.storeBytes(of: UInt32(object.count).littleEndian, toByteOffset: ChunkID.byteCount, as: UInt32.self)
            self.body.appendBatchBytes(UnsafeRawBufferPointer(header))
        }
        self.body.appendBatchBytes(object)
        self.count += 1
        self.body.setBatchUInt32(UInt32(self.count), at: ChunkBatch.countOffset)
    }

    /// Empties the batch, keeping the body's storage for the next one.
    public mutating func removeAll() {
        self.body.truncateBatch(to: ChunkBatch.headerByteCount)
        self.count = 0
        self.body.setBatchUInt32(0, at: ChunkBatch.countOffset)
    }
}

extension [UInt8]: ChunkBatchBody {
    public var batchByteCount: Int { self.count }

    public mutating func appendBatchBytes(_ bytes: UnsafeRawBufferPointer) {
        self.append(contentsOf: bytes)
    }

    public mutating func setBatchUInt32(_ value: UInt32, at offset: Int) {
        self.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
    }

    public mutating func truncateBatch(to count: Int) {
        self.removeSubrange(count...)
    }
}
