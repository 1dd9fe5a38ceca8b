/// Whether a buffer is all zero bytes. Word-wise with an early exit: data chunks usually differ from
/// zero in their first bytes, and zero chunks are scanned at memory speed.
@inline(__always)
func isAllZero(_ buffer: UnsafeRawBufferPointer) -> Bool {
    let count = buffer.count
    guard let base = buffer.baseAddress else { return true }
    var offset = 0
    // Cheap first look: most data chunks fail here.
    if count >= 64 {
        var first: UInt64 = 0
        for i in 0..<8 { first |= base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
        if first != 0 { return false }
    }
    while offset + 256 <= count {
        var acc: UInt64 = 0
        for i in stride(from: 0, to: 256, by: 8) { acc |= base.loadUnaligned(fromByteOffset: offset + i, as: UInt64.self) }
        if acc != 0 { return false }
        offset += 256
    }
    while offset < count {
        if base.load(fromByteOffset: offset, as: UInt8.self) != 0 { return false }
        offset += 1
    }
    return true
}
