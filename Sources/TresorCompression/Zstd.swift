internal import CZstd

/// A zstd compressor that one pipeline worker reuses for every chunk it handles (contexts are costly to
/// create). Not `Sendable` on purpose: the compiler keeps it on its task.
public final class ZstdCompressor {
    private let context: OpaquePointer
    public let level: Int32

    public init(level: Int32) {
        guard let context = ZSTD_createCCtx() else { fatalError("zstd context allocation failed") }
        self.context = context
        self.level = level
        precondition(ZSTD_isError(CZstd_setLevel(context, level)) == 0, "invalid zstd level \(level)")
    }

    deinit { ZSTD_freeCCtx(self.context) }

    /// The largest output `compress` may write for `count` input bytes.
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `input` into `output` and returns the number of bytes written, or `nil` when the result
    /// would not be smaller than `maximumOutput` (callers then store the chunk raw).
    public func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                         maximumOutput: Int) -> Int? {
        let limit = min(maximumOutput, output.count)
        let written = ZSTD_compress2(self.context, output.baseAddress, limit, input.baseAddress, input.count)
        // Running out of room is zstd's "dstSize_tooSmall": the data does not shrink enough.
        if ZSTD_isError(written) != 0 { return nil }
        return written
    }
}

/// A reusable zstd decompressor; like the compressor, one per worker.
public final class ZstdDecompressor {
    private let context: OpaquePointer

    public init() {
        guard let context = ZSTD_createDCtx() else { fatalError("zstd context allocation failed") }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(self.context) }

    /// Decompresses a frame that must expand to exactly `output.count` bytes.
    public func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        let written = ZSTD_decompressDCtx(self.context, output.baseAddress, output.count, input.baseAddress, input.count)
        if ZSTD_isError(written) != 0 {
            throw CompressionError(String(cString: ZSTD_getErrorName(written)))
        }
        guard written == output.count else {
            throw CompressionError("frame expands to \(written) bytes, expected \(output.count)")
        }
    }
}
