/// Several sealed chunk objects in one upload (docs/server.md, "Chunk batch"): a served vault then pays
/// its per-request costs (routing, token check, upload slot, audit line, the client's round trip) once per
/// batch instead of once per chunk. Little-endian:
///
///     "TRCB" ‖ version (1) ‖ 3 zero bytes ‖ entry count (u32)
///     then per entry: chunk ID (32) ‖ object length (u32) ‖ chunk object
///
/// The body ends exactly after the last entry.
public struct ChunkBatch: Sendable {
    public static let magic: [UInt8] = Array("TRCB".utf8)
    public static let version: UInt8 = 1
    public static let headerByteCount = 12
    public static let entryHeaderByteCount = ChunkID.byteCount + 4
    public static let maximumEntries = 64
    public static let maximumObject = ChunkObjectHeader.maximumObjectByteCount
    /// A batch always has room for one object of any size.
    public static let maximumBytes = headerByteCount + maximumEntries * entryHeaderByteCount + maximumObject

    /// One entry of a received batch: the chunk's ID and where its object lies in the body.
    public struct Entry: Sendable, Equatable {
        public let id: ChunkID
        public let range: Range<Int>

        public init(id: ChunkID, range: Range<Int>) {
            self.id = id
            self.range = range
        }
    }

    public private(set) var bytes: [UInt8]
    public private(set) var count = 0

    public init() {
        self.bytes = Self.magic + [Self.version, 0, 0, 0, 0, 0, 0, 0]
    }

    public var isEmpty: Bool { self.count == 0 }

    /// Whether an object of `length` bytes still fits under `limit` bytes of body (and the entry limit).
    public func fits(_ length: Int, limit: Int) -> Bool {
        self.count < Self.maximumEntries && self.bytes.count + Self.entryHeaderByteCount + length <= limit
    }

    public mutating func append(id: ChunkID, object: UnsafeRawBufferPointer) {
        precondition(self.count < Self.maximumEntries && object.count <= Self.maximumObject)
        self.bytes += id.bytes
        self.bytes.appendLittleEndian(UInt32(object.count))
        self.bytes.append(contentsOf: object)
        self.count += 1
        self.bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(self.count).littleEndian, toByteOffset: 8, as: UInt32.self) }
    }

    public mutating func removeAll() {
        self.bytes.removeSubrange(Self.headerByteCount...)
        self.count = 0
        self.bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self) }
    }

    /// The entries of a received body, checked whole before any is used: magic, version, entry count,
    /// every length inside the body and within limits, and nothing after the last entry.
    public static func entries(in body: UnsafeRawBufferPointer) throws -> [Entry] {
        guard body.count >= Self.headerByteCount else { throw Self.malformed("no TRCB header") }
        let count = try Self.entryCount(header: UnsafeRawBufferPointer(rebasing: body[0..<Self.headerByteCount]))
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var offset = Self.headerByteCount
        for index in 0..<count {
            guard body.count - offset >= Self.entryHeaderByteCount else { throw Self.malformed("entry \(index) is cut short") }
            let (id, length) = try Self.entry(header: UnsafeRawBufferPointer(rebasing: body[offset..<offset + Self.entryHeaderByteCount]),
                                              index: index)
            offset += Self.entryHeaderByteCount
            guard body.count - offset >= length else { throw Self.truncated(index, id: id, length: length) }
            entries.append(Entry(id: id, range: offset..<offset + length))
            offset += length
        }
        guard offset == body.count else { throw Self.malformed("\(body.count - offset) bytes after the last entry") }
        return entries
    }

    /// The entry count a batch's first `headerByteCount` bytes announce, once magic and version are checked.
    public static func entryCount(header: UnsafeRawBufferPointer) throws -> Int {
        guard header.count == Self.headerByteCount, Array(header[0..<4]) == Self.magic else { throw Self.malformed("no TRCB header") }
        guard header[4] == Self.version else {
            throw TresorError(.unsupportedFormat, "chunk batch version \(header[4]) is not supported (this vault reads version \(Self.version))")
        }
        let count = Int(UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        guard (1...Self.maximumEntries).contains(count) else { throw Self.malformed("\(count) entries (1 to \(Self.maximumEntries))") }
        return count
    }

    /// The chunk ID and object length of entry `index` from its `entryHeaderByteCount` bytes, the length
    /// checked against the limits.
    public static func entry(header: UnsafeRawBufferPointer, index: Int) throws -> (id: ChunkID, length: Int) {
        let id = ChunkID(bytes: UnsafeRawBufferPointer(rebasing: header[0..<ChunkID.byteCount]))
        let length = Int(UInt32(littleEndian: header.loadUnaligned(fromByteOffset: ChunkID.byteCount, as: UInt32.self)))
        guard length > 0, length <= Self.maximumObject else { throw Self.truncated(index, id: id, length: length) }
        return (id, length)
    }

    /// An entry whose object is out of limits or longer than what follows it.
    public static func truncated(_ index: Int, id: ChunkID, length: Int) -> TresorError {
        Self.malformed("entry \(index) (chunk \(id)) claims \(length) bytes")
    }

    public static func malformed(_ why: String) -> TresorError { TresorError(.requestInvalid, "malformed chunk batch: \(why)") }
}
