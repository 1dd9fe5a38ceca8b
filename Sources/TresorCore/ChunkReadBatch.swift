/// Several chunk objects of one domain in one response (docs/server.md, "Chunk read batch"): a restore
/// from a served vault then pays the per-request costs (routing, token check, thread hand-offs on both
/// sides; up to 0.6 ms of server CPU each on the reference machine) once per batch instead of once per
/// chunk. Little-endian:
///
///     "TRCR" ‖ version (1) ‖ 3 zero bytes ‖ entry count (u32) ‖ per entry: object length (u32)
///     then zero bytes up to the next multiple of 4096, then the objects in the order asked, each
///     starting at a multiple of 4096 from the body's start, zero bytes between them
///
/// The body ends right after the last object. The alignment lets the server read every object with
/// direct I/O straight into the response. Which object is which is not trusted to the framing: the
/// client checks each object's header names the chunk it asked for, as for a single read.
public enum ChunkReadBatch {
    public static let magic: [UInt8] = Array("TRCR".utf8)
    public static let version: UInt8 = 1
    public static let alignment = 4096
    public static let maximumEntries = 16
    /// What one response may hold, table and padding included: one of the largest chunk objects and a
    /// page per entry, so an answer costs the server no more memory than a single object's GET, and a
    /// reader's batch (`entries(chunkSize:)`, about 4 MiB of objects) always fits.
    public static let maximumBytes = alignedLength(ChunkObjectHeader.maximumObjectByteCount) + (maximumEntries + 1) * alignment

    /// How many chunk objects a reader asks for at once at this chunk size: about 4 MiB of objects.
    public static func entries(chunkSize: Int) -> Int {
        max(1, min(Self.maximumEntries, (4 << 20) / max(1, chunkSize)))
    }

    /// The bytes a reader's buffer needs for a batch of `count` objects of a chunk of `chunkSize` bytes.
    public static func bufferBytes(count: Int, chunkSize: Int) -> Int {
        Self.alignment + count * Self.alignedLength(ChunkObjectHeader.deltaByteCount + chunkSize + ChunkObjectHeader.tagByteCount)
    }

    /// Where each object of these lengths starts, and the body's length; nil when they do not fit in
    /// `maximumBytes`.
    public static func layout(lengths: [Int]) -> (offsets: [Int], total: Int)? {
        var offsets: [Int] = []
        offsets.reserveCapacity(lengths.count)
        var offset = Self.alignedLength(Self.tableByteCount(lengths.count))
        for (index, length) in lengths.enumerated() {
            offsets.append(offset)
            offset += index == lengths.count - 1 ? length : Self.alignedLength(length)
        }
        return offset <= Self.maximumBytes ? (offsets, offset) : nil
    }

    /// Writes the header and length table into the start of a body laid out by `layout`.
    public static func writeTable(lengths: [Int], into body: UnsafeMutableRawBufferPointer) {
        let table = Self.tableByteCount(lengths.count)
        body.copyBytes(from: Self.magic)
        body[4] = Self.version
        body[5] = 0
        body[6] = 0
        body[7] = 0
        body.storeBytes(of: UInt32(lengths.count).littleEndian, toByteOffset: 8, as: UInt32.self)
        for (index, length) in lengths.enumerated() {
            body.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 12 + 4 * index, as: UInt32.self)
        }
        UnsafeMutableRawBufferPointer(rebasing: body[table..<Self.alignedLength(table)]).initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// Each object's range in a received body of `count` objects, once the framing is checked whole:
    /// magic, version, count, every length within limits and the body ending after the last object.
    public static func ranges(in body: UnsafeRawBufferPointer, count: Int) throws -> [Range<Int>] {
        guard body.count >= 12, Array(body[0..<4]) == Self.magic else { throw Self.malformed("no TRCR header") }
        guard body[4] == Self.version else {
            throw TresorError(.unsupportedFormat, "chunk read batch version \(body[4]) is not supported (this client reads version \(Self.version))")
        }
        let announced = Int(UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        guard announced == count, body.count >= Self.tableByteCount(count) else {
            throw Self.malformed("\(announced) entries where \(count) were asked for")
        }
        let lengths = (0..<count).map { Int(UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 12 + 4 * $0, as: UInt32.self))) }
        guard lengths.allSatisfy({ (1...ChunkObjectHeader.maximumObjectByteCount).contains($0) }),
              let (offsets, total) = Self.layout(lengths: lengths), total == body.count
        else { throw Self.malformed("its lengths do not add up to the \(body.count) bytes received") }
        return zip(offsets, lengths).map { $0..<$0 + $1 }
    }

    public static func alignedLength(_ length: Int) -> Int { (length + Self.alignment - 1) & ~(Self.alignment - 1) }

    static func tableByteCount(_ count: Int) -> Int { 12 + 4 * count }

    static func malformed(_ why: String) -> TresorError {
        TresorError(.corruptObject, "the vault sent a malformed chunk read batch: \(why)")
    }
}
