import TresorCore

/// Random access to a disk or a partition of it: what the partition-table and file-system parsers read.
public protocol BlockSource: Sendable {
    var size: Int64 { get }
    /// Fills `buffer` from `offset`; the range lies inside `size` (callers check).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws
}

extension BlockSource {
    /// `count` bytes at `offset`, refused (as damage, since on-disk fields asked for it) past the end.
    public func bytes(at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= self.size, Int64(count) <= self.size - offset else {
            throw TresorError(.fileSystemDamaged, "a structure at byte \(offset) (\(count) bytes) lies past the end of the \(self.size)-byte disk or partition")
        }
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try self.read(into: $0, at: offset) }
        return out
    }
}

/// A window of another source: a partition.
public struct SliceSource: BlockSource {
    public let base: any BlockSource
    public let offset: Int64
    public let size: Int64

    public init(_ base: any BlockSource, offset: Int64, size: Int64) throws {
        guard offset >= 0, size >= 0, offset <= base.size, size <= base.size - offset else {
            throw TresorError(.fileSystemDamaged, "a partition of \(size) bytes at \(offset) passes the end of the \(base.size)-byte disk")
        }
        self.base = base
        self.offset = offset
        self.size = size
    }

    /// Reads past the partition's end are damage (a structure pointing outside it), never a read of the
    /// neighbouring partition.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        guard offset >= 0, offset <= self.size, Int64(buffer.count) <= self.size - offset else {
            throw TresorError(.fileSystemDamaged, "a read of \(buffer.count) bytes at \(offset) passes the end of the \(self.size)-byte partition")
        }
        try self.base.read(into: buffer, at: self.offset + offset)
    }
}

/// Checked little-endian fields of an on-disk structure: any field outside the bytes read is damage, never
/// a crash.
struct Fields {
    let bytes: [UInt8]
    let what: String

    init(_ bytes: [UInt8], _ what: String) {
        self.bytes = bytes
        self.what = what
    }

    private func check(_ offset: Int, _ width: Int) throws {
        guard offset >= 0, offset + width <= self.bytes.count else {
            throw TresorError(.fileSystemDamaged, "\(self.what) is too short for a field at byte \(offset)")
        }
    }

    func u8(_ offset: Int) throws -> UInt8 {
        try self.check(offset, 1)
        return self.bytes[offset]
    }

    func u16(_ offset: Int) throws -> UInt16 {
        try self.check(offset, 2)
        return self.bytes.littleEndian(UInt16.self, at: offset)
    }

    func u32(_ offset: Int) throws -> UInt32 {
        try self.check(offset, 4)
        return self.bytes.littleEndian(UInt32.self, at: offset)
    }

    func u64(_ offset: Int) throws -> UInt64 {
        try self.check(offset, 8)
        return self.bytes.littleEndian(UInt64.self, at: offset)
    }

    func slice(_ offset: Int, _ count: Int) throws -> [UInt8] {
        try self.check(offset, count)
        return Array(self.bytes[offset..<offset + count])
    }
}
