internal import CLibcrypto

/// Poly1305 tags of a chunk's blocks under one-time keys expanded from a 32-byte seed by AES-256-CTR
/// (docs/formats.md, "Change cache"; Keys/README.md, "Change cache"). The change cache keeps one per
/// 4 KiB block, so a backup learns which blocks of a changed chunk changed without reading the old
/// version. One per worker: it reuses its Poly1305 context. Not `Sendable` on purpose.
public final class BlockTagger {
    public static let tagByteCount = 8
    /// The most blocks one call tags (a 4 MiB chunk in 4 KiB blocks).
    public static let maximumBlocks = 1024
    private let context: OpaquePointer

    public init() {
        guard let context = CLibcrypto_poly1305_new() else { fatalError("Poly1305 is not available in libcrypto") }
        self.context = context
    }

    deinit { CLibcrypto_poly1305_free(self.context) }

    /// Writes the 8-byte tag of each `blockSize` block of `data` (the last may be short) to `tags`, in order.
    public func tag(_ data: UnsafeRawBufferPointer, blockSize: Int, seed: UnsafeRawBufferPointer, into tags: UnsafeMutableRawBufferPointer) {
        let blocks = (data.count + blockSize - 1) / blockSize
        precondition(seed.count == 32 && blocks <= Self.maximumBlocks && tags.count >= blocks * Self.tagByteCount)
        let ok = CLibcrypto_block_tags(self.context, seed.baseAddress, data.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                       data.count, blockSize, tags.baseAddress)
        precondition(ok == 1, "block tags failed inside libcrypto")
    }

    /// The same under a seed that `deriveSeed` writes into a scratch buffer, wiped before returning.
    public func tag(_ data: UnsafeRawBufferPointer, blockSize: Int, seedFrom deriveSeed: (UnsafeMutableRawBufferPointer) -> Void,
                    into tags: UnsafeMutableRawBufferPointer) {
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { seed in
            deriveSeed(seed)
            self.tag(data, blockSize: blockSize, seed: UnsafeRawBufferPointer(seed), into: tags)
            CLibcrypto_cleanse(seed.baseAddress, seed.count)
        }
    }
}
