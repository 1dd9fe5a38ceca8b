import NIOCore
import TresorCore

/// A response body whose bytes start at a page-aligned address inside a ByteBuffer, so the store reads an
/// object into it with direct I/O and NIO sends it from there: no pooled buffer to read into and copy out
/// of. The ByteBuffer is allocated with one alignment of slack and its reader index moved to the aligned
/// start.
enum AlignedByteBuffer {
    /// `fill` gets an aligned region of at least `capacity` bytes rounded up to the alignment and returns
    /// how many bytes it wrote there.
    static func make(capacity: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> ByteBuffer {
        let alignment = POSIX.directIOAlignment
        let rounded = max((capacity + alignment - 1) & ~(alignment - 1), alignment)
        var buffer = ByteBufferAllocator().buffer(capacity: rounded + alignment)
        var start = 0
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: rounded + alignment) { raw in
            start = (alignment - Int(UInt(bitPattern: raw.baseAddress) % UInt(alignment))) % alignment
            let written = try fill(UnsafeMutableRawBufferPointer(rebasing: raw[start..<start + rounded]))
            return start + written
        }
        buffer.moveReaderIndex(forwardBy: start)
        return buffer
    }
}
