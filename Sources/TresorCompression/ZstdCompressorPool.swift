import Dispatch
import Foundation

/// The compressors a pipeline's workers share: one per core, however many workers there are.
///
/// A zstd context's match-finder table (1 MiB at the chunk default) carries over from chunk to chunk. With a
/// context per worker, and more workers than cores (they also wait on direct I/O), each chunk found its
/// worker's table evicted by the others and paid a cache miss per table line: compression took 15–50 % more
/// CPU in the backup than the same chunks compressed in a loop (docs/performance.md, run L). Handing out the
/// most recently returned context keeps at most one table per core in use, and still warm.
public final class ZstdCompressorPool: @unchecked Sendable {
    // @unchecked Sendable: `idle` is read and changed only while holding `lock`, and a compressor taken from
    // it is used by the taking thread alone until `withCompressor` puts it back, so no two threads ever use
    // one zstd context at once.
    private let lock = NSLock()
    private var idle: [ZstdCompressor]
    private let available: DispatchSemaphore

    public init(_ setting: ZstdSetting, count: Int) {
        let count = max(1, count)
        self.idle = (0..<count).map { _ in ZstdCompressor(setting) }
        self.available = DispatchSemaphore(value: count)
    }

    /// Runs `body` with a compressor no other thread is using, waiting for one if all are taken.
    public func withCompressor<Result>(_ body: (ZstdCompressor) throws -> Result) rethrows -> Result {
        self.available.wait()
        let compressor = self.lock.withLock { self.idle.removeLast() }
        defer {
            // Last in, first out: the next taker gets the context whose table is most likely still cached.
            self.lock.withLock { self.idle.append(compressor) }
            self.available.signal()
        }
        return try body(compressor)
    }
}
