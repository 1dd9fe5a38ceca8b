/// Several sealed chunk objects in one upload (docs/server.md, "Chunk batch"): a served vault then pays
/// its per-request costs (routing, token check, upload slot, audit line, the client's round trip) once per
/// batch instead of once per chunk. Little-endian:
///
///     "TRCB" ‖ version (1) ‖ 3 zero bytes ‖ entry count (u32)
///     then per entry: chunk ID (32) ‖ object length (u32) ‖ chunk object
///
/// The body ends exactly after the last entry. `ChunkBatchWriter` builds one; `entries(in:)` and
/// `ChunkBatchPlacement` read one.
public enum ChunkBatch {
    public static let magic: [UInt8] = Array("TRCB".utf8)
    public static let version: UInt8 = 1
    public static let headerByteCount = 12
    /// Where the header keeps the entry count.
    static let countOffset = 8
    public static let entryHeaderByteCount = ChunkID.byteCount + 4
    public static let maximumEntries = 64
    public static let maximumObject = ChunkObjectHeader.maximumObjectByteCount
    /// The most object bytes a client gathers into one batch (`ChunkBatchWriter.fits`).
    public static let objectBytesPerBatch = 8 << 20
    /// The largest body a vault takes: a full batch, which always has room for one object of any size.
    public static let maximumBytes = headerByteCount + maximumEntries * entryHeaderByteCount + max(objectBytesPerBatch, maximumObject)

    /// One entry of a received batch: the chunk's ID and where its object lies in the body.
    public struct Entry: Sendable, Equatable {
        public let id: ChunkID
        public let range: Range<Int>

        public init(id: ChunkID, range: Range<Int>) {
            self.id = id
            self.range = range
        }
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
        let count = Int(UInt32(littleEndian: header.loadUnaligned(fromByteOffset: Self.countOffset, as: UInt32.self)))
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
