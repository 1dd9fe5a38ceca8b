/// Places a chunk batch's objects at page-aligned offsets of a buffer as the body arrives. A vault server
/// receiving a batch this way has the store write each object with direct I/O straight from there; packed
/// as they come over the wire, the objects would sit at any address, and the store would first copy each
/// into an aligned buffer of its own (DirectoryObjectStore.put): a copy of every uploaded byte.
///
/// The framing is checked as it arrives, by ChunkBatch's rules. The first fault is kept and thrown by
/// `finish`, after the body is in, so that a body damaged in transit is reported as that.
public struct ChunkBatchPlacement: Sendable {
    public static let alignment = POSIX.directIOAlignment

    /// The buffer a batch body of `length` bytes needs: its length plus up to one alignment per entry.
    public static func capacity(forBody length: Int) -> Int { length + ChunkBatch.maximumEntries * Self.alignment }

    private var header: [UInt8] = []
    private var entryHeader: [UInt8] = []
    private var expected = 0
    /// Where the current object's next byte goes, and where it ends.
    private var next = 0
    private var objectEnd = 0
    private var trailing = 0
    private var fault: TresorError?
    public private(set) var entries: [ChunkBatch.Entry] = []

    public init() {
        self.header.reserveCapacity(ChunkBatch.headerByteCount)
        self.entryHeader.reserveCapacity(ChunkBatch.entryHeaderByteCount)
    }

    /// Takes the body's next `part`, copying object bytes to their place in `buffer`.
    public mutating func place(_ part: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) {
        var offset = 0
        while offset < part.count && self.fault == nil {
            let rest = part.count - offset
            if self.header.count < ChunkBatch.headerByteCount {
                let taken = min(ChunkBatch.headerByteCount - self.header.count, rest)
                self.header.append(contentsOf: part[offset..<offset + taken])
                offset += taken
                if self.header.count == ChunkBatch.headerByteCount {
                    do { self.expected = try self.header.withUnsafeBytes { try ChunkBatch.entryCount(header: $0) } } catch {
                        self.fault = Self.fault(error)
                    }
                }
            } else if self.next < self.objectEnd {
                let taken = min(self.objectEnd - self.next, rest)
                UnsafeMutableRawBufferPointer(rebasing: buffer[self.next..<self.next + taken])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: part[offset..<offset + taken]))
                self.next += taken
                offset += taken
            } else if self.entries.count == self.expected {
                self.trailing += rest
                offset = part.count
            } else {
                let taken = min(ChunkBatch.entryHeaderByteCount - self.entryHeader.count, rest)
                self.entryHeader.append(contentsOf: part[offset..<offset + taken])
                offset += taken
                if self.entryHeader.count == ChunkBatch.entryHeaderByteCount {
                    do { try self.startObject(in: buffer) } catch { self.fault = Self.fault(error) }
                }
            }
        }
    }

    private mutating func startObject(in buffer: UnsafeMutableRawBufferPointer) throws {
        let index = self.entries.count
        let (id, length) = try self.entryHeader.withUnsafeBytes { try ChunkBatch.entry(header: $0, index: index) }
        let start = (self.objectEnd + Self.alignment - 1) & ~(Self.alignment - 1)
        // Cannot happen with a buffer from `capacity(forBody:)` and a body within its length; checked all the same.
        guard start + length <= buffer.count else { throw ChunkBatch.truncated(index, id: id, length: length) }
        self.entries.append(ChunkBatch.Entry(id: id, range: start..<start + length))
        self.next = start
        self.objectEnd = start + length
        self.entryHeader.removeAll(keepingCapacity: true)
    }

    private static func fault(_ error: any Error) -> TresorError {
        error as? TresorError ?? ChunkBatch.malformed("\(error)")
    }

    /// The placed entries once the whole body is in, or the first fault of its framing.
    public func finish() throws -> [ChunkBatch.Entry] {
        if let fault = self.fault { throw fault }
        guard self.header.count == ChunkBatch.headerByteCount else { throw ChunkBatch.malformed("no TRCB header") }
        if self.next < self.objectEnd, let last = self.entries.last {
            throw ChunkBatch.truncated(self.entries.count - 1, id: last.id, length: last.range.count)
        }
        guard self.entries.count == self.expected else { throw ChunkBatch.malformed("entry \(self.entries.count) is cut short") }
        guard self.trailing == 0 else { throw ChunkBatch.malformed("\(self.trailing) bytes after the last entry") }
        return self.entries
    }
}
