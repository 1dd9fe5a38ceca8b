#if canImport(FoundationEssentials)
import Foundation
#else
import Foundation
#endif
import Dispatch
import Synchronization
import TresorCore

/// Runs `body` on `workers` dedicated threads and waits for all of them.
///
/// The pipelines read disks and write objects with blocking calls and spend the rest of their time in
/// libcrypto and libzstd; on their own threads they neither block Swift's cooperative pool nor hop
/// between tasks per chunk. The first error wins, unless it only follows from another worker's;
/// `stop` tells the other workers to finish early.
enum WorkerPool {
    final class Stop: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { self.flag.load(ordering: .relaxed) }
        func set() { self.flag.store(true, ordering: .relaxed) }
    }

    static func run(workers: Int, _ body: @escaping @Sendable (_ worker: Int, _ stop: Stop) throws -> Void) throws {
        let group = DispatchGroup()
        let firstError = Mutex<(any Error)?>(nil)
        let stop = Stop()
        for worker in 0..<max(1, workers) {
            group.enter()
            let thread = Thread {
                do {
                    try body(worker, stop)
                } catch {
                    stop.set()
                    firstError.withLock { first in
                        if first.map({ Self.isConsequence($0) && !Self.isConsequence(error) }) ?? true { first = error }
                    }
                }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        if let error = firstError.withLock({ $0 }) { throw error }
    }

    /// A served vault ends a backup session when one upload fails (a full disk: 507); the other workers
    /// then find the session gone. The user must see the cause, whichever worker failed first.
    static func isConsequence(_ error: any Error) -> Bool { (error as? TresorError)?.code == .sessionNotFound }

    /// Worker count for the pipelines: two per core plus one. Each worker alternates CPU work with direct
    /// reads and writes that wait for the device, so more workers than cores keep every core busy.
    public static var defaultWorkers: Int { 2 * self.cores + 1 }

    /// The cores this process may run on.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Worker count for pipelines that mostly wait on direct reads of chunk objects (restore, verify):
    /// on this kind of virtual disk a read takes about as long as opening the chunk, so more reads in
    /// flight keep the cores busy (measured: 2.7 s with 5 workers, 2.3 s with 32, for 2 GiB). Bounded by
    /// memory: each worker holds four chunk-sized buffers (object, its decompression input, a delta's
    /// payload, the plaintext), and `batch` more when it reads that many objects at once from a served
    /// vault (BatchedChunkReader), with room for their delta bases (sized to the bases a run has needed;
    /// counted as one), within 128 MiB.
    public static func readingWorkers(chunkSize: Int, batch: Int = 1) -> Int {
        let buffers = 4 + (batch > 1 ? batch + 1 : 0)
        return max(self.defaultWorkers, min(16 * ProcessInfo.processInfo.activeProcessorCount, (128 << 20) / (buffers * max(chunkSize, 1))))
    }
}

/// Hands out item indices 0..<count to workers, each exactly once.
final class WorkQueue: Sendable {
    private let next = Atomic<Int>(0)
    let count: Int
    init(count: Int) { self.count = count }

    func take() -> Int? {
        let index = self.next.add(1, ordering: .relaxed).oldValue
        return index < self.count ? index : nil
    }

    /// Up to `count` consecutive items.
    func take(upTo count: Int) -> Range<Int>? {
        let start = self.next.add(count, ordering: .relaxed).oldValue
        return start < self.count ? start..<min(start + count, self.count) : nil
    }
}
