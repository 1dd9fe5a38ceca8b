import Glibc
import TresorCore

/// A changed chunk told as the 4 KiB blocks in which it differs from a base chunk: the previous version
/// of the same disk region. An incremental backup after scattered small writes then stores the written
/// blocks instead of whole chunks (docs/formats.md, "Delta payload"):
///
/// ```
/// bitmap   ⌈blocks/8⌉ bytes: bit i (byte i/8, least significant bit first) set = block i differs;
///          bits past the last block are 0
/// blocks   the differing blocks, in order (the chunk's last block may be short)
/// ```
/// The chunk, base and result have the same length, which the object header gives.
enum ChunkDelta {
    static let blockSize = 4096

    static func bitmapByteCount(chunkLength: Int) -> Int { ((chunkLength + blockSize - 1) / blockSize + 7) / 8 }

    /// Writes the delta of `chunk` over `base` into `out` and returns its length, or nil when it would
    /// exceed `limit` bytes (the chunk is then stored whole).
    static func encode(_ chunk: UnsafeRawBufferPointer, over base: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                       limit: Int) -> Int? {
        precondition(chunk.count == base.count && out.count >= limit)
        let bitmapBytes = bitmapByteCount(chunkLength: chunk.count)
        guard bitmapBytes <= limit else { return nil }
        for i in 0..<bitmapBytes { out[i] = 0 }
        var written = bitmapBytes
        var block = 0
        var start = 0
        while start < chunk.count {
            let length = min(blockSize, chunk.count - start)
            if memcmp(chunk.baseAddress! + start, base.baseAddress! + start, length) != 0 {
                guard written + length <= limit else { return nil }
                out[block / 8] |= UInt8(1) << UInt8(block % 8)
                UnsafeMutableRawBufferPointer(rebasing: out[written..<written + length])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[start..<start + length]))
                written += length
            }
            block += 1
            start += length
        }
        return written
    }

    /// Writes the delta of `chunk` over a base it differs from only in the blocks `changed` marks (a
    /// superset is fine: an unchanged block then travels too), without the base; nil beyond `limit` bytes.
    static func encode(_ chunk: UnsafeRawBufferPointer, changed: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                       limit: Int) -> Int? {
        let bitmapBytes = bitmapByteCount(chunkLength: chunk.count)
        precondition(changed.count >= bitmapBytes && out.count >= limit)
        guard bitmapBytes <= limit else { return nil }
        let blocks = (chunk.count + blockSize - 1) / blockSize
        for i in 0..<bitmapBytes { out[i] = 0 }
        var written = bitmapBytes
        for block in 0..<blocks where changed[block / 8] & (UInt8(1) << UInt8(block % 8)) != 0 {
            let start = block * blockSize
            let length = min(blockSize, chunk.count - start)
            guard written + length <= limit else { return nil }
            out[block / 8] |= UInt8(1) << UInt8(block % 8)
            UnsafeMutableRawBufferPointer(rebasing: out[written..<written + length])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[start..<start + length]))
            written += length
        }
        return written
    }

    /// Rebuilds the chunk in place: `chunk` holds the base's plaintext and receives the delta's blocks.
    /// A delta whose bitmap and length disagree is refused; the caller still checks the result's keyed ID.
    static func apply(_ delta: UnsafeRawBufferPointer, onto chunk: UnsafeMutableRawBufferPointer, name: String) throws {
        let bitmapBytes = bitmapByteCount(chunkLength: chunk.count)
        let blocks = (chunk.count + blockSize - 1) / blockSize
        func damaged(_ why: String) -> TresorError { TresorError(.integrity, "delta chunk \(name) \(why)") }
        guard delta.count >= bitmapBytes else { throw damaged("is shorter than its bitmap") }
        if blocks % 8 != 0, delta[bitmapBytes - 1] >> UInt8(blocks % 8) != 0 { throw damaged("marks blocks past its end") }
        var needed = bitmapBytes
        for block in 0..<blocks where delta[block / 8] & (UInt8(1) << UInt8(block % 8)) != 0 {
            needed += min(blockSize, chunk.count - block * blockSize)
        }
        // Checked before the first write, so a refused delta leaves the base as it was.
        guard needed == delta.count else { throw damaged("holds \(delta.count) bytes where its bitmap marks \(needed)") }
        var read = bitmapBytes
        for block in 0..<blocks where delta[block / 8] & (UInt8(1) << UInt8(block % 8)) != 0 {
            let start = block * blockSize
            let length = min(blockSize, chunk.count - start)
            UnsafeMutableRawBufferPointer(rebasing: chunk[start..<start + length])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: delta[read..<read + length]))
            read += length
        }
    }
}
