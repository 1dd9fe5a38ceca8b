internal import CZstd

/// How chunks are compressed: a zstd level, optionally with a larger match-finder table than the level's.
public struct ZstdSetting: Sendable, Equatable, CustomStringConvertible {
    public var level: Int32
    /// log2 of the hash table's entries; nil keeps the level's own.
    public var hashLog: Int32?

    public init(level: Int32, hashLog: Int32? = nil) {
        self.level = level
        self.hashLog = hashLog
    }

    /// Level 2 with level 3's 2^18-entry hash table. On the benchmark's mixed image it stores within 0.1 %
    /// of level 3 (level 2 alone: +0.2 %) and compresses about a quarter faster, and compression is the
    /// initial backup's bound (docs/performance.md).
    public static let chunkDefault = ZstdSetting(level: 2, hashLog: 18)

    public var description: String { self.hashLog.map { "zstd -\(self.level), hash log \($0)" } ?? "zstd -\(self.level)" }
}

/// A zstd compressor that one pipeline worker reuses for every chunk it handles (contexts are costly to
/// create). Not `Sendable` on purpose: the compiler keeps it on its task.
public final class ZstdCompressor {
    private let context: OpaquePointer
    public let setting: ZstdSetting

    public convenience init(level: Int32) {
        self.init(ZstdSetting(level: level))
    }

    public init(_ setting: ZstdSetting) {
        guard let context = ZSTD_createCCtx() else { fatalError("zstd context allocation failed") }
        self.context = context
        self.setting = setting
        precondition(ZSTD_isError(CZstd_setLevel(context, setting.level)) == 0, "invalid zstd level \(setting.level)")
        if let hashLog = setting.hashLog {
            precondition(ZSTD_isError(CZstd_setHashLog(context, hashLog)) == 0, "invalid zstd hash log \(hashLog)")
        }
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

    /// Decompresses a frame of at most `output.count` bytes and returns how many it expanded to.
    public func decompress(_ input: UnsafeRawBufferPointer, intoAtMost output: UnsafeMutableRawBufferPointer) throws -> Int {
        let written = ZSTD_decompressDCtx(self.context, output.baseAddress, output.count, input.baseAddress, input.count)
        if ZSTD_isError(written) != 0 {
            throw CompressionError(String(cString: ZSTD_getErrorName(written)))
        }
        return written
    }
}
